#ifndef WORKBENCH_CKERNELS_H
#define WORKBENCH_CKERNELS_H
/* Hand-written vector kernels for what BLAS and libm do not cover well here. */
#include "skinny_gemm.h"
#include "vector_math.h"
#include "row_statistics.h"
#include "worker_pool.h"
#endif
