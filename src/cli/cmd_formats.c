/* capmetric formats: the families, their keys and defaults, aliases. */
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

/* ---- formats ---------------------------------------------------------------- */

int cmd_formats(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 0);
    cm_registry *reg = NULL;
    if (rc || (rc = load_registry(&o, &reg))) {
        opts_fini(&o);
        return rc;
    }
    size_t ng;
    const cm_param *g = cm_registry_generic_params(&ng);
    if (o.json) {
        char *s = NULL;
        cm_diag d;
        cm_status st = cm_report_formats_json(reg, &s, &d);
        if (st)
            rc = report(st, &d, "formats", NULL);
        else
            printf("%s\n", s);
        free(s);
    } else {
        for (size_t i = 0; i < cm_registry_count(reg); i++) {
            const char *origin;
            const cm_format *f = cm_registry_get(reg, i, &origin);
            if (strcmp(origin, "built-in"))
                printf("%s — %s  [from %s]\n", f->name, f->summary, origin);
            else
                printf("%s — %s\n", f->name, f->summary);
            size_t tot = f->n_params + ((f->flags & CM_FORMAT_SCALAR) ? ng : 0);
            for (size_t k = 0; k < tot; k++) {
                const cm_param *p = k < f->n_params ? &f->params[k] : &g[k - f->n_params];
                char range[96] = "";
                if (p->type == CM_PARAM_INT || p->type == CM_PARAM_LIST)
                    snprintf(range, sizeof range, " %.0f..%.0f%s", p->min, p->max,
                             p->type == CM_PARAM_LIST ? " items" : "");
                else if (p->type == CM_PARAM_ENUM)
                    snprintf(range, sizeof range, " %s", p->choices);
                else if (p->type == CM_PARAM_REAL)
                    snprintf(range, sizeof range, " %s%s%g..%g", p->choices ? p->choices : "",
                             p->choices ? "|" : "", p->min, p->max);
                printf("    %-11s %-6s%-28s default %-8s %s\n", p->key, cm_param_type_name(p->type), range,
                       p->def ? p->def : "-", p->doc);
            }
            int any = 0;
            for (size_t a = 0; a < cm_registry_alias_count(reg); a++) {
                const cm_format *owner;
                const cm_alias *al = cm_registry_alias_get(reg, a, &owner);
                if (owner != f)
                    continue;
                printf("%s%s = %s", any ? ", " : "    aliases: ", al->name, al->spec);
                any = 1;
            }
            printf("%s\n", any ? "\n" : "");
        }
    }
    cm_registry_free(reg);
    opts_fini(&o);
    return rc;
}
