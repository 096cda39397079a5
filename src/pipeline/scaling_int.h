/* Private (pipeline layer): block scaling (one scale per K consecutive
 * values), shared by the parser, the data path (cm_pipeline_apply) and the
 * exact engine. */
#ifndef CM_SCALING_INT_H
#define CM_SCALING_INT_H

#include <stddef.h>

#include <capmetric/errors.h>
#include <capmetric/format.h>
#include <capmetric/rng.h>

typedef enum cm_rule {
    CM_RULE_OPT = 0,  /* one global MSE-optimal scale (no blocks) */
    CM_RULE_FIXED,    /* scale=VALUE (no blocks) */
    CM_RULE_ABSMAX,   /* s = amax / gmax */
    CM_RULE_FLOOR,    /* OCP MX: 2^(floor(log2 amax) - emax_elem) */
    CM_RULE_CEIL,     /* 2^ceil(log2(amax) - emax_elem) */
    CM_RULE_EVEN,     /* floor rule on amax rounded to the element mantissa width */
    CM_RULE_RCEIL,    /* 2^ceil(log2(amax / gmax)) */
    CM_RULE_MSE,      /* best of `candidates` scales per block */
    CM_RULE_SEARCH,   /* best scale code within `search_window` codes of the absmax one */
    CM_RULE_RMS       /* s = rms * rms_clip / gmax (QuEST) */
} cm_rule;

typedef enum cm_sfmt {
    CM_SF_EXACT = 0, CM_SF_FP32, CM_SF_BF16, CM_SF_FP16, CM_SF_E8M0, CM_SF_E4M3, CM_SF_UE4M3,
    CM_SF_E5M2, CM_SF_UE8M0_ALIAS, /* (the key's word ue8m0: parsed as CM_SF_E8M0) */
    CM_SF_UE5M3,
    CM_SF_UEM = 64 /* ueEmM, any unsigned E/M scale: CM_SF_UEM + 16 E + M (see cm_sfmt_uem) */
} cm_sfmt;

/* The unsigned scale format with E exponent bits (1..8) and M mantissa bits (0..10):
 * bias 2^(E-1) - 1, subnormals, every code finite. */
static inline cm_sfmt cm_sfmt_uem(int E, int M) { return (cm_sfmt)(CM_SF_UEM + 16 * E + M); }

/* scale=mse: how a block's candidate scales are compared */
typedef enum cm_select { CM_SEL_MSE = 0, CM_SEL_L1, CM_SEL_ABSMAX } cm_select;

#define CM_MAX_CAND 16

/* correct= (the order of its choices "none|eden|eden_scaled") */
typedef enum {
    CM_EDEN_NONE = 0,
    CM_EDEN_VALUES = 1, /* eden: the ratio on the values (EDEN's definition) */
    CM_EDEN_SCALED = 2  /* eden_scaled: on the values divided by their block's scale */
} cm_eden;

typedef struct cm_blockspec {
    size_t K;            /* values per block; 0 = no blocks */
    size_t tile_r, tile_c; /* block=RxC: a tile of R x C values (K = R C); 0: consecutive */
    cm_rule rule;
    cm_sfmt sfmt;
    int tensor;          /* tensor_scale=fp32 */
    double tensor_amax;
    double sg;           /* tensor scale (1 without) */
    double unit;         /* E8M0 scales are OCP's X = s * unit: 2^emax for integer element
                            grids (OCP MXINT8 elements are k 2^-6, ours k), 1 for FP grids */
    double gmax;         /* largest |level| of the unit grid */
    int emax;            /* floor(log2 gmax): OCP emax_elem */
    int melem;           /* element mantissa bits (rule even) */
    int ncand;           /* rule mse: candidate block maxima */
    double cand[CM_MAX_CAND];
    cm_select select;    /* rule mse: the comparison */
    double top;          /* tensor scale: the block scale the largest block maps to (0: the
                            scale format's largest) */
    double mult;         /* a factor on every block scale after its format (1: none) */
    int window;          /* rule search: codes each side of the absmax scale */
    size_t egroup;       /* correct=eden: values per correction factor (a multiple of K) */
    double rclip;        /* rule rms: the clipping level in RMS units */
    cm_eden eden;        /* correct=: each block's scale times <x,x> / <x,R(x)>, rounded
                            stochastically onto the scale format (0: none) */
} cm_blockspec;

/* Scale of a block whose largest finite |x| is amax: the rule, then the
 * scale format (with the tensor scale). 0 for an all-zero block; NaN when
 * the E8M0 exponent overflows. */
double cm_block_scale(const cm_blockspec *b, double amax);
/* The same with amax mapped onto the candidate level c (rule mse). */
double cm_block_scale_to(const cm_blockspec *b, double amax, double c);

/* The largest finite |x| of a block of K values (NaN and inf left out). */
double cm_block_amax(const double *x, size_t K);
/* What the rule scales a block by: its amax, or for rule rms its RMS times
 * rms_clip (NaN with a NaN value). */
double cm_block_stat(const cm_blockspec *b, const double *x, size_t K);

/* The largest finite scale of format f (inf for exact scales). */
double cm_sfmt_max(cm_sfmt f);

/* Storage bits of one scale in format f. */
double cm_sfmt_bits(cm_sfmt f);
/* the FP grid a scale format rounds to (with subnormals): 1, or 0 for exact
 * scales and E8M0 */
int cm_sfmt_grid(cm_sfmt f, cm_fpgrid *g);

/* Fill the derived fields (gmax, emax, melem, candidates, sg) from the unit
 * grid; check the rule makes sense for it. */
cm_status cm_block_prepare(cm_blockspec *b, const cm_format *f, const double *lv, size_t k,
                           cm_diag *diag);

/* The tensor scale for data whose largest |x| is tensor_amax (tensor_scale=
 * fp32; no change otherwise): sg = fp32(tensor_amax / (scale max * gmax)). */
void cm_block_retarget(cm_blockspec *b, double tensor_amax);

/* y = block-scaled quantization of x (n a multiple of K); u, sc and tmp are
 * scratch vectors of n values; rng: the stage's generator (correct=eden's
 * stochastic scale rounding; may be NULL otherwise). */
void cm_block_apply(const cm_blockspec *b, const cm_format *f, const void *params, void *fstate,
                    const double *x, double *y, size_t n, double *u, double *sc, double *tmp,
                    cm_pcg64 *rng);

#endif
