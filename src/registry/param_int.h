/* Private (spec layer): parameter values against their descriptors. */
#ifndef CM_PARAM_INT_H
#define CM_PARAM_INT_H

#include <stddef.h>

#include <capmetric/format.h>

/* Parse text[0..n) as a value of parameter `p`. On success fills *v (text
 * and list are malloc'ed; release with cm_value_fini) and returns CM_OK. On
 * failure writes a message naming the key and what is accepted. */
cm_status cm_value_parse(const cm_param *p, const char *text, size_t n, cm_value *v,
                         cm_diag *diag);
void cm_value_fini(cm_value *v);

/* The most keys a format may declare (the parser keeps them on the stack),
 * and the most aliases it may bring. */
#define CM_MAX_PARAMS 48
#define CM_MAX_ALIASES 1024

/* Check a parameter descriptor (keys, types, defaults); used on registration. */
cm_status cm_params_check(const cm_format *fmt, cm_diag *diag);

/* The keys the host adds to every CM_FORMAT_SCALAR family, in this order
 * (the parser's G_* indices follow it). */
const cm_param *cm_generic_params(size_t *count);
enum {
    CM_G_SCALE, CM_G_BLOCK, CM_G_SFMT, CM_G_TENSOR, CM_G_TAMAX, CM_G_CAND, CM_G_TTOP, CM_G_SMULT,
    CM_G_SELECT, CM_G_CORRECT, CM_G_WINDOW, CM_G_EGROUP, CM_G_RCLIP, CM_G_COUNT
};

#endif
