/* The generic keys of scalar formats: scale, block scaling, scale formats.
 * One table serves the registry (reserved keys), the parser and `formats`. */
#include <capmetric/registry.h>

#include "param_int.h"

/* The keys the host adds to every CM_FORMAT_SCALAR family. */
/* Their order is the CM_G_* enum of param_int.h. */
static const cm_param generic_params[CM_G_COUNT] = {
    {.key = "scale", .type = CM_PARAM_REAL, .def = "opt",
     .doc = "R(x) = s*Q(x/s). Global: opt (MSE-optimal for N(0,1)) or a number. "
            "Per block: absmax (default with block), floor|ceil|even (OCP MX powers of two), "
            "rceil, mse (best of `candidates`), search (best scale code within "
            "`search_window` codes of absmax's), rms (the block's RMS times `rms_clip` "
            "maps to the grid's largest value: QuEST's NVFP4/MXFP4 rule)",
     .choices = "opt|absmax|floor|ceil|even|rceil|mse|search|rms", .min = 1e-300, .max = 1e300},
    {.key = "block", .type = CM_PARAM_STRING, .def = "0",
     .doc = "values per block sharing one scale: K (0 = one global scale, up to 4096), or RxC "
            "(a tile of R rows and C columns of a matrix: 16x16; R*C up to 4096)"},
    {.key = "scale_fmt", .type = CM_PARAM_STRING, .def = "exact",
     .doc = "format each block scale is rounded to: exact (counted as 16 bits), fp32, bf16, "
            "fp16, e8m0 (= ue8m0), e4m3, ue4m3, e5m2, ue5m3 (5 exponent bits, bias 15, 3 "
            "mantissa bits, max 114688), or ueEmM: any unsigned scale of E exponent bits (1-8, "
            "bias 2^(E-1)-1) and M mantissa bits (0-10), subnormals, every code finite"},
    {.key = "tensor_scale", .type = CM_PARAM_ENUM, .def = "none",
     .doc = "fp32: a per-tensor scale maps tensor_amax to the largest block scale (NVFP4)",
     .choices = "none|fp32"},
    {.key = "tensor_amax", .type = CM_PARAM_REAL, .def = "6",
     .doc = "largest |x| of the tensor, for tensor_scale=fp32", .min = 1e-30, .max = 1e30},
    {.key = "candidates", .type = CM_PARAM_INT, .def = "2",
     .doc = "scale=mse: map the block max onto each of the top N grid values, keep the best "
            "(2 on E2M1 = NVFP4 4-over-6)",
     .min = 1, .max = 16},
    {.key = "tensor_top", .type = CM_PARAM_REAL, .def = "0",
     .doc = "tensor_scale=fp32: the block-scale value the tensor's largest block scale maps to "
            "(0: the scale format's largest, 448 for E4M3; Four Over Six uses 256)",
     .min = 0, .max = 1e30},
    {.key = "scale_mult", .type = CM_PARAM_REAL, .def = "1",
     .doc = "a fixed factor on every block scale, after its format (Quartet II's scale "
            "overrides, e.g. 0.93 with E4M3)",
     .min = 1e-6, .max = 1e6},
    {.key = "select", .type = CM_PARAM_ENUM, .def = "mse",
     .doc = "scale=mse: how the best candidate scale of a block is chosen: least squared "
            "error, least absolute error (l1) or least largest error (absmax)",
     .choices = "mse|l1|absmax"},
    {.key = "correct", .type = CM_PARAM_ENUM, .def = "none",
     .doc = "eden: each block's scale times <x,x>/<x,R(x)> over the correction group (then "
            "stochastically rounded onto scale_fmt), as Quartet II's MS-EDEN: unbiased in "
            "magnitude (Monte Carlo only); eden_scaled: the same ratio taken on the values "
            "divided by their block's scale, as Quartet II's kernel computes it (biased when "
            "the group's blocks have different scales)",
     .choices = "none|eden|eden_scaled"},
    {.key = "search_window", .type = CM_PARAM_INT, .def = "2",
     .doc = "scale=search: scale codes tried each side of the absmax one",
     .min = 1, .max = 64},
    {.key = "eden_group", .type = CM_PARAM_INT, .def = "0",
     .doc = "correct=eden: values sharing one correction factor, a multiple of the block (0: "
            "the block; Quartet II: 128, its Hadamard vector)",
     .min = 0, .max = 4096},
    {.key = "rms_clip", .type = CM_PARAM_REAL, .def = "2.92247856",
     .doc = "scale=rms: the clipping level in block RMS units (QuEST's 2.92247856 for E2M1, "
            "IST-DASLab/Quartet-II nvfp4.py QuestNvfp4Quantizer)",
     .min = 0.01, .max = 1000},
};

const cm_param *cm_generic_params(size_t *count)
{
    *count = sizeof generic_params / sizeof generic_params[0];
    return generic_params;
}

const cm_param *cm_registry_generic_params(size_t *count) { return cm_generic_params(count); }
