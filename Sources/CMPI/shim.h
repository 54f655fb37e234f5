#ifndef WORKBENCH_CMPI_SHIM_H
#define WORKBENCH_CMPI_SHIM_H
#include <mpi.h>
#endif
