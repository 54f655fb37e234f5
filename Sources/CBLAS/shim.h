#ifndef WORKBENCH_CBLAS_SHIM_H
#define WORKBENCH_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
/* Declared by OpenBLAS but not always in cblas.h. */
char *openblas_get_corename(void);
char *openblas_get_config(void);
#endif
