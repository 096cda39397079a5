/* The CSV reader of run tables: any bytes are read or refused with a status. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    cm_csv *t = NULL;
    cm_diag d;
    cm_status st = cm_csv_read(path, &t, &d);
    if (st == CM_OK) {
        for (size_t r = 0; r < t->nrow; r++)
            for (size_t c = 0; c < t->ncol; c++)
                if (!cm_csv_at(t, r, c))
                    abort();
        cm_csv_col(t, "loss");
    } else if (t || !d.msg[0]) {
        abort();
    }
    cm_csv_free(t);
    close(fd);
    return 0;
}
