/* Grid files: any bytes are loaded and expanded, or refused with a message
 * (exit code 2); never a crash, a hang or an unbounded allocation. */
#include "fuzz_common.h"

#include <fcntl.h>

#include "../../src/cli/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    /* refusals are printed: silence them while the loader runs (the fuzzer's
     * own reports, and a crash's, still reach stderr through the saved fd) */
    static int devnull = -1;
    if (devnull < 0)
        devnull = open("/dev/null", O_WRONLY);
    fflush(stderr);
    int saved = dup(2);
    dup2(devnull, 2);
    opts o;
    memset(&o, 0, sizeof o);
    cm_eval_opts_default(&o.ev);
    grid g;
    int rc = grid_load("fuzz.json", text, &o, &g);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    if (rc != 0 && rc != 2 && rc != 1)
        abort();
    if (rc == 0 && (g.n == 0 || g.n > g.max_points))
        abort();
    grid_free(&g);
    free(text);
    return 0;
}
