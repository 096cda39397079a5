/* capmetric validate: published capacities vs this tool's predictions. */
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
#include "runs_int.h"
#include "validate_int.h"

/* ---- the command --------------------------------------------------------------------- */

static int is_dir(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

/* --anchors: a readable JSON file (checked before the work, not after it) */
static int check_anchors(const char *path)
{
    size_t len = 0;
    char *text = cm_file_read(path, &len);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    int e = errno;
    free(text);
    if (!doc) {
        fprintf(stderr, "%s: error: --anchors '%s': %s (the capacity tables, data/capacity.json)\n",
                prog, path, len || !e ? "not valid JSON" : strerror(e));
        return EXIT_USAGE;
    }
    cJSON_Delete(doc);
    return 0;
}

/* -o DIR: an existing writable folder, or one whose parent can hold it */
static int check_outdir(const char *dir)
{
    struct stat sb;
    if (!stat(dir, &sb)) {
        if (S_ISDIR(sb.st_mode) && !access(dir, W_OK))
            return 0;
        fprintf(stderr, "%s: error: the report folder '%s' %s\n", prog, dir,
                S_ISDIR(sb.st_mode) ? "is not writable" : "is a file, not a folder");
        return EXIT_USAGE;
    }
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    while (slash && slash > parent && slash[1] == '\0') { /* "a/b/" */
        *slash = '\0';
        slash = strrchr(parent, '/');
    }
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    /* the nearest existing ancestor must be a writable folder */
    while (stat(parent, &sb)) {
        char *s = strrchr(parent, '/');
        if (!s) {
            snprintf(parent, sizeof parent, ".");
            continue;
        }
        if (s == parent)
            parent[1] = '\0';
        else
            *s = '\0';
    }
    /* can a folder be made there? (a test folder, removed at once: access() says yes to
     * root even where nothing can be created) */
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.capmetric-XXXXXX", parent);
    int made = S_ISDIR(sb.st_mode) && mkdtemp(probe) != NULL;
    if (made)
        rmdir(probe);
    if (!made) {
        fprintf(stderr, "%s: error: cannot create the report folder '%s' ('%s' is not a writable "
                        "folder)\n",
                prog, dir, parent);
        return EXIT_USAGE;
    }
    return 0;
}

/* The report: JSON (with the verdict, the evidence and the reproduction count),
 * markdown opening with the verdict, and the plots; all or nothing written. */
static int write_report(vctx *v, const char *outdir, int json)
{
    /* "sections": the old name of results, kept for one version */
    cJSON_AddItemToObject(v->r.root, "sections", cJSON_Duplicate(v->r.secs, 1));
    cJSON_AddNumberToObject(v->r.root, "checks", (double)v->r.checks);
    cJSON_AddNumberToObject(v->r.root, "failed", (double)v->r.failed);
    cJSON *repro = cJSON_AddObjectToObject(v->r.root, "reproduction");
    cJSON_AddNumberToObject(repro, "checks", (double)v->r.checks);
    cJSON_AddNumberToObject(repro, "failed", (double)v->r.failed);
    if (!v->r.evid)
        v->r.evid = cJSON_CreateArray();
    char *evmd = NULL, *verdict = verdict_text(&v->r, &evmd);
    cJSON_AddItemToObject(v->r.root, "evidence", v->r.evid);
    cJSON_AddStringToObject(v->r.root, "verdict", verdict ? verdict : "");
    v->r.evid = NULL; /* owned by root now */
    fprintf(v->r.md, "\n**Reproduction: %zu checks, %zu failed.**\n", v->r.checks, v->r.failed);
    char *js = cJSON_Print(v->r.root);
    if (fflush(v->r.md) || !js || !v->r.md_text || !verdict || !evmd) {
        free(js), free(verdict), free(evmd);
        return EXIT_RUNTIME;
    }
    char *md = NULL;
    size_t mdl = 0;
    FILE *mf = open_memstream(&md, &mdl);
    if (mf) {
        fprintf(mf, "# capmetric validate\n\ncapmetric %s; data %s.\n\n## Verdict\n\n%s\n\n"
                    "## Evidence\n\nClaims the data could refute, each against a baseline "
                    "that uses no format metric (a failed claim is a finding: it does not make "
                    "`validate` fail; a failed reproduction does).\n\n%s\n",
                cm_version(), v->dir, verdict, evmd);
        for (size_t k = 0; k < v->r.nplot; k++)
            fprintf(mf, "![%s](%s)\n\n", v->r.plot_name[k], v->r.plot_name[k]);
        fputs(v->r.md_text, mf);
        fclose(mf);
    }
    if (!v->r.quiet)
        printf("\nverdict: %s\n", verdict);
    free(verdict), free(evmd);
    if (!md) {
        free(js);
        return EXIT_RUNTIME;
    }
    if (cli_mkdirs(outdir) || access(outdir, W_OK)) {
        fprintf(stderr, "%s: error: cannot create or write the report folder '%s': %s\n", prog,
                outdir, strerror(errno));
        free(js);
        return EXIT_USAGE;
    }
    char pj[4200], pm[4200];
    snprintf(pj, sizeof pj, "%s/report.json", outdir);
    snprintf(pm, sizeof pm, "%s/report.md", outdir);
    int rc = write_atomic(pj, js);
    if (!rc && (rc = write_atomic(pm, md)))
        remove(pj);
    free(md);
    for (size_t k = 0; !rc && k < v->r.nplot; k++) {
        char pp[4200];
        snprintf(pp, sizeof pp, "%s/%s", outdir, v->r.plot_name[k]);
        if ((rc = write_atomic(pp, v->r.plot_svg[k]))) { /* nothing half-written */
            remove(pj), remove(pm);
            for (size_t q = 0; q < k; q++) {
                snprintf(pp, sizeof pp, "%s/%s", outdir, v->r.plot_name[q]);
                remove(pp);
            }
        }
    }
    if (!rc && json)
        printf("%s\n", js);
    free(js);
    return rc;
}

int cmd_validate(int argc, char **argv)
{
    optdef defs[] = {{"--data", 1, 0, 0, {0}}, {"-o", 1, 0, 0, {0}}, {"--anchors", 1, 0, 0, {0}}};
    size_t nd = sizeof defs / sizeof *defs;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    opts o;
    memset(&o, 0, sizeof o);
    vctx v;
    memset(&v, 0, sizeof v);
    char *anchors = NULL;
    int rc = rest ? pull_opts(argc, argv, defs, nd, rest, &nrest) : EXIT_RUNTIME;
    if (rc || (rc = parse_opts(nrest, rest, &o, 0)) || (rc = load_registry(&o, &v.reg)))
        goto out;
    v.dir = opt_get(defs, nd, "--data");
    if (!v.dir)
        v.dir = runs_dir();
    if (!is_dir(v.dir)) {
        fprintf(stderr,
                "%s: error: no run data in '%s' (give --data DIR: the folder with "
                "quest_runs.csv, quartet_runs.csv, quartet2_runs.csv and their spec maps)\n",
                prog, v.dir);
        rc = EXIT_USAGE;
        goto out;
    }
    const char *a = opt_get(defs, nd, "--anchors");
    if (a)
        anchors = strdup(a);
    else {
        anchors = path_in(&v, "../capacity.json");
    }
    const char *outdir = opt_get(defs, nd, "-o");
    if (!outdir)
        outdir = "results/validation";
    /* bad inputs are refused before the minutes of work, and nothing is created until the
     * report is written */
    if ((rc = check_anchors(anchors)) || (rc = check_outdir(outdir)))
        goto out;
    v.ev = o.ev;
    if (!o.samples_given)
        v.ev.samples = 1u << 22; /* Monte-Carlo cells: SE ~1e-4 relative, far below the
                                    tables' two decimals */
    if ((rc = load_quartet2(&v)))
        goto out;
    v.threads = o.ev.threads;
    v.r.root = cJSON_CreateObject();
    v.r.md = open_memstream(&v.r.md_text, &v.r.md_len);
    if (!v.r.md) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    v.r.quiet = o.quiet || o.json;
    cJSON_AddStringToObject(v.r.root, "tool", "capmetric");
    cJSON_AddStringToObject(v.r.root, "version", cm_version());
    cJSON_AddStringToObject(v.r.root, "data", v.dir);
    v.r.secs = cJSON_AddArrayToObject(v.r.root, "results");
    cJSON *extra = cJSON_AddObjectToObject(v.r.root, "fits");
    if (!v.r.quiet)
        printf("capmetric %s validate: data %s\n", cm_version(), v.dir);
    if ((rc = sec_quest_mse(&v)) || (rc = sec_quest(&v, extra)) ||
        (rc = sec_quartet(&v, extra)) || (rc = sec_unified(&v, extra)) ||
        (rc = sec_quartet2(&v, extra)) || (rc = sec_capacity(&v, anchors, extra)))
        goto out;
    if ((rc = write_report(&v, outdir, o.json)))
        goto out;
    if (!v.r.quiet)
        printf("\nreproduction: %zu checks, %zu failed; evidence: %zu claims hold, %zu fail; "
               "report in %s/report.md and report.json\n",
               v.r.checks, v.r.failed, v.r.evid_pass, v.r.evid_fail, outdir);
    if (v.r.failed)
        rc = EXIT_RUNTIME;
out:
    q2_free(&v.q2);
    cJSON_Delete(v.r.evid);
    for (size_t k = 0; k < v.r.nplot; k++)
        free(v.r.plot_name[k]), free(v.r.plot_svg[k]);
    free(v.r.plot_name), free(v.r.plot_svg);
    cJSON_Delete(v.r.root);
    if (v.r.md)
        fclose(v.r.md);
    free(v.r.md_text);
    free(anchors);
    cm_registry_free(v.reg);
    opts_fini(&o);
    free(rest);
    return rc;
}
