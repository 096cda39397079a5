/* capmetric — umbrella header: the whole public API. */
#ifndef CAPMETRIC_CAPMETRIC_H
#define CAPMETRIC_CAPMETRIC_H

#include <capmetric/api.h>
#include <capmetric/dist.h>
#include <capmetric/errors.h>
#include <capmetric/eval.h>
#include <capmetric/exact.h>
#include <capmetric/format.h>
#include <capmetric/fit.h>
#include <capmetric/io.h>
#include <capmetric/law.h>
#include <capmetric/mc.h>
#include <capmetric/plan.h>
#include <capmetric/progress.h>
#include <capmetric/registry.h>
#include <capmetric/report.h>
#include <capmetric/isa.h>
#include <capmetric/rng.h>
#include <capmetric/spec.h>
#include <capmetric/tensor.h>

#endif
