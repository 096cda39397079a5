/* PCG known answers and the quality of the Gaussian sampler.
 * Known answers: tests/anchors/gaussian.json, pcg_known_answers (imneme/pcg-c
 * check-pcg32.out and check-pcg64.out). Statistical checks use tolerances of
 * 5 standard errors of the statistic for the sample size (fixed seeds, so the
 * outcome is deterministic; a correct sampler fails with p < 1e-6). */
#include <capmetric/rng.h>

#include <gsl/gsl_cdf.h>
#include <inttypes.h>

#include "../testutil.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void known_answers(const cJSON *g)
{
    cm_pcg32 a;
    cm_pcg32_seed(&a, 42, 54);
    const cJSON *o32 = t_at(g, "pcg_known_answers.pcg32_xsh_rr_64_32.first_outputs"), *it;
    int i = 0;
    cJSON_ArrayForEach(it, o32)
    {
        uint32_t want = (uint32_t)strtoull(it->valuestring, NULL, 16), got = cm_pcg32_next(&a);
        CHECK(got == want, "pcg32 output %d: got 0x%08" PRIx32 ", want 0x%08" PRIx32, i, got,
              want);
        i++;
    }
    CHECK(i == 6, "pcg32: %d anchors", i);
    cm_pcg64 b;
    cm_pcg64_seed(&b, 0, 42, 0, 54);
    const cJSON *o64 = t_at(g, "pcg_known_answers.pcg64_xsl_rr_128_64.first_outputs");
    i = 0;
    cJSON_ArrayForEach(it, o64)
    {
        uint64_t want = strtoull(it->valuestring, NULL, 16), got = cm_pcg64_next(&b);
        CHECK(got == want, "pcg64 output %d: got 0x%016" PRIx64 ", want 0x%016" PRIx64, i, got,
              want);
        i++;
    }
    CHECK(i == 6, "pcg64: %d anchors", i);
}

static void streams(void)
{
    cm_pcg64 a, b, c;
    cm_pcg64_stream(&a, 1, 0);
    cm_pcg64_stream(&b, 1, 0);
    cm_pcg64_stream(&c, 1, 1);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = cm_pcg64_next(&a), y = cm_pcg64_next(&b), z = cm_pcg64_next(&c);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same, "the same (seed, stream) must give the same numbers");
    CHECK(diff == 100, "streams 0 and 1 must differ (%d of 100 differ)", diff);
    double u = 0;
    for (int i = 0; i < 1000; i++) {
        double v = cm_uniform01(&a);
        CHECK(v >= 0 && v < 1, "uniform01 out of [0,1): %g", v);
        u += v;
    }
    CHECK_NEAR(u / 1000, 0.5, 5 * sqrt(1.0 / 12 / 1000), "uniform mean");
}

static void moments(void)
{
    const size_t n = (size_t)1 << 25, chunk = 1 << 16;
    double *x = malloc(chunk * sizeof *x);
    cm_pcg64 g;
    cm_pcg64_stream(&g, 12345, 7);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (size_t done = 0; done < n; done += chunk) {
        cm_gauss_fill(&g, x, chunk);
        for (size_t i = 0; i < chunk; i++) {
            double v = x[i], v2 = v * v;
            s1 += v;
            s2 += v2;
            s3 += v2 * v;
            s4 += v2 * v2;
        }
    }
    double N = (double)n, m = s1 / N, var = s2 / N - m * m;
    double skew = (s3 / N) / pow(var, 1.5), kurt = (s4 / N) / (var * var) - 3.0;
    CHECK_NEAR(m, 0.0, 5 / sqrt(N), "mean");
    CHECK_NEAR(var, 1.0, 5 * sqrt(2 / N), "variance");
    CHECK_NEAR(skew, 0.0, 5 * sqrt(6 / N), "skewness");
    CHECK_NEAR(kurt, 0.0, 5 * sqrt(24 / N), "excess kurtosis");
    free(x);
}

static void tails(void)
{
    /* 2^27 values: about 8500 beyond 4 sigma, 77 beyond 5 sigma */
    const size_t n = (size_t)1 << 27, chunk = 1 << 16;
    double *x = malloc(chunk * sizeof *x);
    cm_pcg64 g;
    cm_pcg64_stream(&g, 99, 3);
    const double lim[3] = {3, 4, 5};
    double cnt[3] = {0, 0, 0}, maxabs = 0;
    for (size_t done = 0; done < n; done += chunk) {
        cm_gauss_fill(&g, x, chunk);
        for (size_t i = 0; i < chunk; i++) {
            double a = fabs(x[i]);
            for (int k = 0; k < 3; k++)
                cnt[k] += a > lim[k];
            if (a > maxabs)
                maxabs = a;
        }
    }
    for (int k = 0; k < 3; k++) {
        double p = 2 * gsl_cdf_ugaussian_Q(lim[k]), N = (double)n;
        char what[64];
        snprintf(what, sizeof what, "P(|X| > %g)", lim[k]);
        CHECK_NEAR(cnt[k] / N, p, 5 * sqrt(p * (1 - p) / N), what);
    }
    CHECK(maxabs > 5.0 && maxabs < 7.5, "largest |x| in 2^27 draws: %g", maxabs);
    free(x);
}

static void ks(void)
{
    const size_t n = (size_t)1 << 20;
    double *x = malloc(n * sizeof *x);
    cm_pcg64 g;
    cm_pcg64_stream(&g, 2024, 11);
    cm_gauss_fill(&g, x, n);
    qsort(x, n, sizeof *x, cmp);
    double D = 0;
    for (size_t i = 0; i < n; i++) {
        double F = gsl_cdf_ugaussian_P(x[i]);
        double d1 = fabs(F - (double)i / (double)n), d2 = fabs((double)(i + 1) / (double)n - F);
        if (d1 > D)
            D = d1;
        if (d2 > D)
            D = d2;
    }
    /* Kolmogorov distribution: P(sqrt(n) D > 1.95) = 0.001 */
    CHECK(sqrt((double)n) * D < 1.95, "KS statistic sqrt(n) D = %.4f (critical 1.95 at p=0.001)",
          sqrt((double)n) * D);
    free(x);
}

int main(int argc, char **argv)
{
    t_anchor_dir = argc > 1 ? argv[1] : getenv("CM_ANCHORS");
    cJSON *g = t_load_json("gaussian.json");
    known_answers(g);
    streams();
    moments();
    tails();
    ks();
    cJSON_Delete(g);
    return t_done("rng");
}
