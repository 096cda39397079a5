/* capmetric laws: the capacity laws, their inputs and sources. */
#include <capmetric/capmetric.h>
#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

int cmd_laws(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 0);
    if (rc)
        goto out;
    if (o.json) {
        char *s = NULL;
        cm_diag d;
        cm_status st = cm_report_laws_json(&s, &d);
        if (st)
            rc = report(st, &d, "laws", NULL);
        else
            printf("%s\n", s);
        free(s);
        goto out;
    }
    for (size_t i = 0; i < cm_law_count(); i++) {
        const cm_law *l = cm_law_get(i);
        printf("%s\n  form:   %s\n  needs:  %s\n  source: %s\n", cm_law_name(l), cm_law_form(l),
               cm_law_inputs(l), cm_law_source(l));
        double nl, nh, dl, dh;
        if (!cm_law_range(l, &nl, &nh, &dl, &dh))
            printf("  runs:   N %.3g-%.3g, D %.3g-%.3g\n", nl, nh, dl, dh);
        else
            printf("  runs:   not recorded\n");
    }
    printf("\nfile:PATH.json  a law saved by 'capmetric fit --save PATH.json'\n");
out:
    opts_fini(&o);
    return rc;
}
