/* Private (engine layer): the plan's fields, for the exact and Monte-Carlo
 * engines. */
#ifndef CM_PLAN_INT_H
#define CM_PLAN_INT_H

#include <capmetric/plan.h>

#include "dist_int.h"
#include "pipeline_int.h"

struct cm_plan {
    const cm_pipeline *p;
    double *scale;   /* per stage: the scale applied (resolved for scale=opt) */
    double *opt_mse; /* per stage: exact GMSE at the optimum when resolved; NaN otherwise
                        (relative to sigma^2) */
    cm_dens dens;    /* the data the plan was made for (dens.d.sigma its scale) */
    double tensor_amax; /* what tensor scales (tensor_scale=fp32) map: a tensor's own
                           largest |x| when > 0, else the key's tensor_amax times sigma */
};

#endif
