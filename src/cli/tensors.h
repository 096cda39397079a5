/* The user's tensors on the command line (tensors.c). */
#ifndef CM_CLI_TENSORS_H
#define CM_CLI_TENSORS_H

#include <capmetric/capmetric.h>

#include "cli.h"

/* Open `path` and choose its float tensors whose name matches re_text (all
 * when NULL): sel[i] = 1 for a chosen one. 0, or an exit code after saying
 * what is wrong (no tensor chosen is an error). */
int tensors_open(const char *path, const char *re_text, cm_tensor_file **f, char **sel);

/* eval --data: the error of every spec on every chosen tensor, printed */
int eval_data(const opts *o, cm_pipeline *const *p, size_t np);

/* quantize: write IN's chosen tensors quantized by p (others kept) to OUT */
int quantize_file(const opts *o, const cm_pipeline *p, const char *in, const char *out,
                  cm_dtype odt);

#endif
