#ifndef WORKBENCH_CMPI_SHIM_FUNCTIONS_H
#define WORKBENCH_CMPI_SHIM_FUNCTIONS_H
#include <stddef.h>

/* The few MPI calls the workbench makes, on MPI_COMM_WORLD, with byte buffers of any
   size (split into messages of at most 1 GiB, since MPI counts are int). Open MPI's
   predefined handles are macros Swift cannot import, hence these wrappers. Each returns
   MPI_SUCCESS (0) or an MPI error code. */
int wb_mpi_init(int *rank, int *size);
int wb_mpi_finalize(void);
void wb_mpi_abort(int code);
int wb_mpi_barrier(void);
int wb_mpi_send(const void *buffer, size_t bytes, int destination, int tag);
int wb_mpi_receive(void *buffer, size_t bytes, int source, int tag);
int wb_mpi_broadcast(void *buffer, size_t bytes, int root);
/* The error text of an MPI error code, into `text` (at most `capacity` bytes). */
void wb_mpi_error_text(int code, char *text, int capacity);
#endif
