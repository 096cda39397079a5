/* capmetric grid: sweep a grid file over all cores (and MPI ranks), resumable. */
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
#ifdef CM_HAVE_MPI
#include <mpi.h>
#endif

#include "commands.h"
#include "sweep.h"
#include "grid_report.h"

#ifdef CM_HAVE_MPI

#endif

/* ---- running ---------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* the results a previous run of this grid saved: progress.jsonl lines */
/* The first line of progress.jsonl: what the results after it were computed
 * with. --resume continues only a run with the same grid and options. */
static cJSON *run_header(const grid *g, const opts *o)
{
    cJSON *h = cJSON_CreateObject();
    char hash[32], shard[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)g->hash);
    snprintf(shard, sizeof shard, "%d/%d", o->shard_i, o->shard_n);
    cJSON_AddNumberToObject(h, "capmetric_progress", 1);
    cJSON_AddStringToObject(h, "grid_hash", hash);
    cJSON_AddNumberToObject(h, "seed", (double)g->ev.seed);
    cJSON_AddNumberToObject(h, "samples", (double)g->ev.samples);
    cJSON_AddNumberToObject(h, "stream_version", CM_MC_STREAM_VERSION);
    cJSON_AddStringToObject(h, "method", cm_method_name(g->ev.method));
    cJSON_AddStringToObject(h, "law", cm_law_name(cm_eval_law(&g->ev)));
    char dn[40];
    cJSON_AddStringToObject(h, "dist", cm_dist_name(&g->ev.dist, dn, sizeof dn));
    cJSON_AddNumberToObject(h, "sigma", cm_dist_sigma(&g->ev.dist));
    cJSON_AddStringToObject(h, "shard", o->shard_n ? shard : "none");
    return h;
}

/* 0, or the exit code after saying which option differs from the unfinished run */
static int same_run(const char *path, const cJSON *was, const cJSON *now)
{
    static const char *const keys[] = {"grid_hash", "seed", "samples", "stream_version",
                                       "method", "law", "dist", "sigma", "shard"};
    static const char *const said[] = {"the grid (its points)", "--seed", "--samples",
                                       "Monte-Carlo stream version (an older capmetric)",
                                       "--method", "--law", "--dist", "--sigma", "--shard"};
    if (!cJSON_IsObject(was) || !cJSON_GetObjectItemCaseSensitive(was, "capmetric_progress")) {
        fprintf(stderr, "%s: error: --resume: %s does not start with a run header (written by "
                        "an older capmetric, or not a progress file): start afresh with --force\n",
                prog, path);
        return EXIT_USAGE;
    }
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        char *a = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(was, keys[k]));
        char *b = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(now, keys[k]));
        int same = a && b && !strcmp(a, b);
        if (!same)
            fprintf(stderr, "%s: error: --resume: the unfinished run in %s has %s %s, this one "
                            "%s: give the same options to continue it, or --force to start "
                            "afresh\n",
                    prog, path, said[k], a ? a : "(none)", b ? b : "(none)");
        cJSON_free(a);
        cJSON_free(b);
        if (!same)
            return EXIT_USAGE;
    }
    return 0;
}

/* --resume: the finished points of progress.jsonl, after its header matched */
static int read_progress(const char *path, const grid *g, const cJSON *head, entry *e, char *done,
                         size_t *n_out)
{
    size_t len = 0, n = 0;
    *n_out = 0;
    char *text = cm_file_read(path, &len);
    if (!text)
        return 0; /* nothing to resume: the run starts afresh */
    char *save = NULL;
    int first = 1, rc = 0;
    for (char *line = strtok_r(text, "\n", &save); line && !rc;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line); /* a line cut short by a kill does not parse: skipped */
        if (first) {
            first = 0;
            rc = same_run(path, o, head);
            cJSON_Delete(o);
            continue;
        }
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(o, "index");
        if (!cJSON_IsNumber(ix) || ix->valuedouble < 0 || ix->valuedouble >= (double)g->n ||
            ix->valuedouble != floor(ix->valuedouble) ||
            strcmp(str_of(o, "spec"), g->pt[(size_t)ix->valuedouble].canon) ||
            done[(size_t)ix->valuedouble]) {
            cJSON_Delete(o);
            continue;
        }
        done[(size_t)ix->valuedouble] = 1;
        e[n].index = (long)ix->valuedouble;
        e[n++].obj = o;
    }
    free(text);
    *n_out = n;
    return rc;
}

typedef struct work {
    grid *g;
    const cm_registry *reg;
    const opts *o;
    cm_eval_opts ev;
    char *done;
    entry *e;
    size_t *ne, next, todo, finished;
    FILE *prog_f;
    int tty;
    long abort_n;
    double t0, samples_done;
    /* the ETA: measured seconds and counts of finished points by cost class,
     * and the points left in each (the longest are scheduled first, so an
     * average over the finished ones would say too much, then too little) */
    double cls_sec[4];
    size_t cls_done[4], cls_left[4];
    pthread_mutex_t lock;
    cm_status status;
    cm_diag diag;
    const char *bad_spec;
} work;

/* seconds left: the elapsed time scaled by the work left over the work done,
 * each point's work the mean measured time of its class */
static double grid_eta(const work *w, double el)
{
    /* a class not yet measured: the measured ones' time per unit of a prior
     * weight (a vector quantizer ~40 plain points, a block format ~4) */
    static const double prior[4] = {0, 1, 4, 40};
    double all = 0, units = 0, done = 0, left = 0;
    for (int c = 1; c <= 3; c++) {
        all += w->cls_sec[c];
        units += (double)w->cls_done[c] * prior[c];
    }
    for (int c = 1; c <= 3; c++) {
        double m = w->cls_done[c] ? w->cls_sec[c] / (double)w->cls_done[c]
                                  : (units > 0 ? all / units * prior[c] : 0);
        done += w->cls_sec[c];
        left += (double)w->cls_left[c] * m;
    }
    return done > 0 ? el * left / done : 0;
}

/* the points this run will do, by cost class (for the ETA) */
static void count_classes(work *w, const char *done)
{
    const grid *g = w->g;
    const opts *o = w->o;
    for (size_t i = 0; i < g->n; i++)
        w->cls_left[grid_cost_class(g->pt[i].spec)] +=
            !done[i] && (!o->shard_n || (int)(i % (size_t)o->shard_n) == o->shard_i - 1);
}

/* evaluate pending points until none is left (or a failure / interruption) */
static void *grid_worker(void *arg)
{
    work *w = arg;
    grid *g = w->g;
    const opts *o = w->o;
    for (;;) {
        size_t i = 0;
        pthread_mutex_lock(&w->lock);
        while (w->next < g->n && (w->done[g->order[w->next]] ||
                                  (o->shard_n && (int)(g->order[w->next] % (size_t)o->shard_n) !=
                                                     o->shard_i - 1)))
            w->next++;
        int stop = w->next >= g->n || w->status || interrupted;
        if (!stop)
            i = g->order[w->next++];
        pthread_mutex_unlock(&w->lock);
        if (stop)
            return NULL;
        cm_pipeline *p = g->pt[i].p;
        cm_diag d;
        cm_diag_clear(&d);
        cm_result r;
        cm_mc_run *run = NULL;
        size_t mci = SIZE_MAX;
        cm_status s = cm_eval(&p, 1, &w->ev, &r, &run, &mci, &d);
        char *one = NULL;
        if (!s)
            s = cm_report_json(&r, 1, &w->ev, &one, &d);
        double *sums = NULL;
        uint64_t nb = 0, bs = 0;
        if (!s && run && mci != SIZE_MAX) { /* per-batch sums: paired differences later */
            nb = cm_mc_batches(run);
            bs = cm_mc_batch_used(run, mci); /* the values this point quantized per batch */
            sums = malloc(nb * sizeof *sums);
            if (sums)
                cm_mc_batch_sums(run, mci, sums);
        }
        cm_mc_run_free(run);
        if (s) {
            free(one);
            free(sums);
            pthread_mutex_lock(&w->lock);
            if (!w->status) {
                w->status = s;
                w->diag = d;
                w->bad_spec = g->pt[i].spec;
            }
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        cJSON *doc = cJSON_Parse(one);
        free(one);
        cJSON *obj = cJSON_DetachItemFromArray(cJSON_GetObjectItemCaseSensitive(doc, "results"), 0);
        cJSON_Delete(doc);
        cJSON_AddNumberToObject(obj, "index", (double)i);
        cJSON_AddStringToObject(obj, "sweep", g->pt[i].sweep);
        if (g->pt[i].keys)
            cJSON_AddItemToObject(obj, "keys", cJSON_Duplicate(g->pt[i].keys, 1));
        if (sums) {
            cJSON_AddNumberToObject(obj, "batch_size", (double)bs);
            cJSON_AddItemToObject(obj, "batch_sse", cJSON_CreateDoubleArray(sums, (int)nb));
            free(sums);
        }
        char *line = cJSON_PrintUnformatted(obj);
        pthread_mutex_lock(&w->lock);
        if (w->prog_f) {
            fprintf(w->prog_f, "%s\n", line);
            fflush(w->prog_f);
            fsync(fileno(w->prog_f));
        }
        w->e[*w->ne].index = (long)i;
        w->e[(*w->ne)++].obj = obj;
        w->finished++;
        w->samples_done += (double)r.samples;
        int c = grid_cost_class(g->pt[i].spec);
        w->cls_sec[c] += r.seconds;
        w->cls_done[c]++;
        w->cls_left[c] -= w->cls_left[c] > 0;
        if (w->tty) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double el = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - w->t0;
            double eta = grid_eta(w, el);
            int bar = (int)(30.0 * (double)w->finished / (double)w->todo);
            fprintf(stderr, "%s[%-30.*s] %zu/%zu points, %.1f M samples/s, ETA %.0f s  %s",
                    isatty(2) ? "\r" : "", bar,
                    "##############################", w->finished, w->todo,
                    w->samples_done / el / 1e6, eta, isatty(2) ? "" : "\n");
        }
        if (w->abort_n >= 0 && (long)w->finished >= w->abort_n)
            abort(); /* test hook: a hard kill with this many points saved */
        pthread_mutex_unlock(&w->lock);
        cJSON_free(line);
    }
}

#ifdef CM_HAVE_MPI

/* rank 0 receives every rank's entries (as one JSON array each) */
static int mpi_gather(entry **e, size_t *ne, size_t cap, int rank, int size)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < *ne; i++)
        cJSON_AddItemReferenceToArray(arr, (*e)[i].obj);
    char *text = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    int len = text ? (int)strlen(text) + 1 : 0;
    int *lens = rank == 0 ? calloc((size_t)size, sizeof *lens) : NULL;
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int *displ = NULL;
    char *all = NULL;
    if (rank == 0) {
        displ = calloc((size_t)size, sizeof *displ);
        long tot = 0;
        for (int r = 0; r < size; r++) {
            displ[r] = (int)tot;
            tot += lens[r];
        }
        all = malloc((size_t)tot + 1);
    }
    MPI_Gatherv(text, len, MPI_CHAR, all, lens, displ, MPI_CHAR, 0, MPI_COMM_WORLD);
    cJSON_free(text);
    int rc = 0;
    if (rank == 0) {
        for (int r = 1; r < size && !rc; r++) {
            cJSON *a = cJSON_Parse(all + displ[r]);
            cJSON *o;
            cJSON_ArrayForEach(o, a)
            {
                if (*ne == cap) {
                    rc = EXIT_RUNTIME;
                    break;
                }
                (*e)[*ne].index = (long)num_of(o, "index");
                (*e)[(*ne)++].obj = cJSON_Duplicate(o, 1);
            }
            cJSON_Delete(a);
        }
    }
    free(lens);
    free(displ);
    free(all);
    return rc;
}

#endif

/* The grid's results, ranked by rho per bit, on screen. */
static void print_ranked(const entry *e, size_t ne)
{
    /* the ranked table on screen */
    cm_result *rs = calloc(ne ? ne : 1, sizeof *rs);
    for (size_t i = 0; rs && i < ne; i++) {
        rs[i].input = str_of(e[i].obj, "input");
        rs[i].spec = str_of(e[i].obj, "spec");
        rs[i].bits = num_of(e[i].obj, "bits");
        rs[i].method = strcmp(str_of(e[i].obj, "method"), "exact") ? CM_METHOD_MC : CM_METHOD_EXACT;
        rs[i].gmse = num_of(e[i].obj, "gmse");
        rs[i].gmse_se = num_of(e[i].obj, "gmse_se");
        rs[i].misalignment = num_of(e[i].obj, "misalignment");
        rs[i].misalignment_se = num_of(e[i].obj, "misalignment_se");
        rs[i].scale = num_of(e[i].obj, "scale");
        rs[i].eff_bits = num_of(e[i].obj, "eff_bits");
        rs[i].rho = num_of(e[i].obj, "rho");
        rs[i].rho_per_bit = num_of(e[i].obj, "rho_per_bit");
        rs[i].gap_db = num_of(e[i].obj, "gap_db");
        rs[i].rho_product = NAN;
        rs[i].seconds = num_of(e[i].obj, "seconds");
    }
    for (size_t i = 1; rs && i < ne; i++) /* by rho per bit */
        for (size_t j = i; j > 0 && rs[j].rho_per_bit > rs[j - 1].rho_per_bit; j--) {
            cm_result t = rs[j];
            rs[j] = rs[j - 1];
            rs[j - 1] = t;
        }
    if (rs)
        print_results(rs, ne);
    free(rs);
}

/* Run grid_worker on T threads (this one included) until the points are done. */
static void run_workers(work *w, unsigned T)
{
    pthread_mutex_init(&w->lock, NULL);
    cm_diag_clear(&w->diag);
    pthread_t *th = T > 1 ? calloc(T - 1, sizeof *th) : NULL;
    unsigned started_th = 0;
    for (; th && started_th + 1 < T; started_th++)
        if (pthread_create(&th[started_th], NULL, grid_worker, w))
            break;
    grid_worker(w);
    for (unsigned k = 0; k < started_th; k++)
        pthread_join(th[k], NULL);
    free(th);
    pthread_mutex_destroy(&w->lock);
}

/* Refuse an output folder that holds finished results (without --force or
 * --resume) or cannot be written; rank 0 only. */
static int check_out_dir(const opts *o, int rank, const char *dir, char *path, size_t cap,
                         int *lock_fd)
{
    int rc = 0;
    snprintf(path, cap, "%s/results.json", dir);
    struct stat sb;
    if (rank == 0 && (cli_mkdirs(dir) || access(dir, W_OK))) {
        fprintf(stderr, "%s: error: cannot write to the output directory '%s': %s\n", prog, dir,
                strerror(errno));
        return EXIT_USAGE;
    }
    if (rank == 0 && (rc = cli_lock_dir(dir, lock_fd)))
        return rc;
    if (rank == 0 && !stat(path, &sb) && !o->force && !o->resume) {
        fprintf(stderr, "%s: error: '%s' already holds results (--force overwrites them, --resume "
                        "continues an unfinished run)\n",
                prog, dir);
        rc = EXIT_USAGE;
        return rc;
    }
    return 0;
}

#ifdef CM_HAVE_MPI
/* Join the MPI world: rank r takes the points i with i mod size = r. */
static int mpi_setup(opts *o, int *rank, int *size, int rc)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited)
        MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    if (*size > 1 && !rc) {
        if (o->shard_n || o->resume) {
            if (*rank == 0)
                rc = usage_error("%s", "under mpirun the ranks share the points: --shard and "
                                       "--resume do not apply");
            else
                rc = EXIT_USAGE;
        }
        /* rank r takes the points i with i mod size = r; one core each unless told */
        o->shard_i = *rank + 1;
        o->shard_n = *size;
        if (!o->ev.threads)
            o->ev.threads = 1;
    }
    return rc;
}
#endif

/* Points of this shard still to do; earlier results of other shards dropped. */
static size_t shard_todo(const grid *g, const opts *o, const char *done, entry *e, size_t *ne_io)
{
    size_t ne = *ne_io;
    size_t todo = 0;
    for (size_t i = 0; i < g->n; i++)
        todo += !done[i] && (!o->shard_n || (int)(i % (size_t)o->shard_n) == o->shard_i - 1);
    /* keep only this shard's earlier results */
    size_t keep = 0;
    for (size_t i = 0; i < ne; i++)
        if (!o->shard_n || (int)((size_t)e[i].index % (size_t)o->shard_n) == o->shard_i - 1)
            e[keep++] = e[i];
        else
            cJSON_Delete(e[i].obj);
    ne = keep;
    *ne_io = ne;
    return todo;
}

/* The grid file (or the default grid), the registry, the expanded and
 * canonicalized points. */
static int load_grid(const opts *o, const char *file, char **text, cm_registry **reg, grid *g)
{
    size_t len = 0;
    int rc;
    if (!o->use_default && !(*text = cm_file_read(file, &len))) {
        fprintf(stderr, "%s: error: cannot read grid file '%s': %s\n", prog, file, strerror(errno));
        return EXIT_USAGE;
    }
    if ((rc = load_registry(o, reg)) ||
        (rc = grid_load(file, o->use_default ? default_grid : *text, o, g)) ||
        (rc = grid_canonicalize(file, *reg, g, o->ev.threads, o->skip_invalid)))
        return rc;
    if ((rc = grid_check_plot_keys(g, o)))
        return rc;
    if (g->nbad && !o->quiet)
        fprintf(stderr, "%s: note: %zu invalid point%s skipped (--skip-invalid), the first: %s: "
                        "%s; all are listed in results.json and summary.md\n",
                prog, g->nbad, g->nbad > 1 ? "s" : "", g->bad[0].spec, g->bad[0].d.msg);
    return 0;
}

/* SIGINT and SIGTERM stop the run after the points under way (--resume continues). */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* progress.jsonl: read back (--resume) or started afresh, then opened for
 * appending (one process; MPI ranks report to rank 0 instead). */
static int open_progress(const opts *o, int size, const char *path, const grid *g, entry *e,
                         char *done, size_t *ne, FILE **prog_f)
{
    cJSON *head = run_header(g, o);
    char *hl = head ? cJSON_PrintUnformatted(head) : NULL;
    int rc = hl ? 0 : EXIT_RUNTIME;
    struct stat sb;
    int fresh = !o->resume || stat(path, &sb) != 0;
    if (!rc && o->resume)
        rc = read_progress(path, g, head, e, done, ne);
    cJSON_Delete(head);
    if (!rc && fresh && size == 1)
        remove(path);
    *prog_f = rc || size > 1 ? NULL : fopen(path, "a");
    if (!rc && size == 1 && !*prog_f) {
        fprintf(stderr, "%s: error: cannot write %s: %s\n", prog, path, strerror(errno));
        rc = EXIT_USAGE;
    }
    if (!rc && fresh && *prog_f && (fprintf(*prog_f, "%s\n", hl) < 0 || fflush(*prog_f))) {
        fprintf(stderr, "%s: error: cannot write %s: %s\n", prog, path, strerror(errno));
        rc = EXIT_RUNTIME;
    }
    cJSON_free(hl);
    return rc;
}

/* monotonic seconds; the UTC time as ISO 8601 */
static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void utc_now(char *buf, size_t cap)
{
    time_t now = time(NULL);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

int cmd_grid(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    cm_registry *reg = NULL;
    grid g;
    memset(&g, 0, sizeof g);
    entry *e = NULL;
    char *done = NULL, *text = NULL;
    int rank = 0, size = 1, lock_fd = -1;
#ifdef CM_HAVE_MPI
    rc = mpi_setup(&o, &rank, &size, rc);
#endif
    if (rc)
        goto out;
    if ((o.use_default ? 0 : 1) != o.nspecs) {
        rc = usage_error("%s", "grid takes one FILE.json, or --default");
        goto out;
    }
    const char *file = o.use_default ? "(default)" : o.specs[0];
    const double t0 = wall(); /* the whole run */
    char started[64];
    utc_now(started, sizeof started);
    if ((rc = load_grid(&o, file, &text, &reg, &g)))
        goto out;
    char dir[4096];
    if (o.out_dir)
        snprintf(dir, sizeof dir, "%s", o.out_dir);
    else
        snprintf(dir, sizeof dir, "results/%s", g.name);
    char path[4200];
    if ((rc = check_out_dir(&o, rank, dir, path, sizeof path, &lock_fd)))
        goto out;
    snprintf(path, sizeof path, "%s/progress.jsonl", dir);
    e = calloc(g.n ? g.n : 1, sizeof *e);
    done = calloc(g.n ? g.n : 1, 1);
    if (!e || !done) {
        rc = EXIT_RUNTIME;
        goto out;
    }
#ifdef CM_HAVE_MPI
    if (size > 1) { /* every rank stops if rank 0 refused the directory */
        MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (rc)
            goto out;
    }
#endif
    size_t ne = 0;
    FILE *prog_f = NULL;
    if ((rc = open_progress(&o, size, path, &g, e, done, &ne, &prog_f)))
        goto out;
    size_t todo = shard_todo(&g, &o, done, e, &ne);
    int tty = (isatty(2) || o.progress) && !o.quiet; /* (--progress: plain lines off a terminal) */
    const char *abort_after = getenv("CAPMETRIC_TEST_ABORT_AFTER"); /* test hook: a hard kill */
    long abort_n = abort_after ? atol(abort_after) : -1;
    catch_signals();
    /* points in parallel (one core each) while there are enough of them;
     * results do not depend on the schedule */
    unsigned T = g.ev.threads ? g.ev.threads : cm_default_threads();
    work w = {.g = &g, .reg = reg, .o = &o, .done = done, .e = e, .ne = &ne, .prog_f = prog_f,
              .todo = todo, .tty = tty, .abort_n = abort_n, .t0 = t0};
    w.ev = g.ev;
    count_classes(&w, done);
    if (todo >= T && T > 1)
        w.ev.threads = 1;
    else
        T = 1;
    run_workers(&w, T);
    if (w.status) {
        if (prog_f)
            fclose(prog_f);
        rc = report(w.status, &w.diag, w.bad_spec, NULL);
        goto out;
    }
    if (prog_f)
        fclose(prog_f);
    if (tty)
        fputc('\n', stderr);
#ifdef CM_HAVE_MPI
    if (size > 1) {
        rc = mpi_gather(&e, &ne, g.n, rank, size);
        if (rank != 0)
            goto out; /* rank 0 writes the report */
        o.shard_i = o.shard_n = 0;
    }
#endif
    double t1 = wall();
    if (interrupted) {
        fprintf(stderr, "%s: interrupted: %zu finished points are saved in %s; --resume continues\n",
                prog, ne, path);
        rc = EXIT_RUNTIME;
        goto out;
    }
    if ((rc = write_reports(dir, &g, e, ne, reg, &o, t0, t1, started)))
        goto out;
    remove(path);
    if (!o.quiet) {
        print_ranked(e, ne);
        printf("\n%zu points (%s) in %.1f s; reports in %s/\n", ne, g.name, t1 - t0, dir);
    }
out:
    for (size_t i = 0; e && i < g.n; i++)
        if (e[i].obj)
            cJSON_Delete(e[i].obj);
    free(e);
    free(done);
    free(text);
    grid_free(&g);
    cm_registry_free(reg);
    opts_fini(&o);
    if (lock_fd >= 0)
        close(lock_fd);
#ifdef CM_HAVE_MPI
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Finalize();
#endif
    return rc;
}
