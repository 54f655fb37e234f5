#include "CMPIShim.h"
#include <mpi.h>
#include <stdint.h>
#include <string.h>

static const size_t message_limit = (size_t)1 << 30;

int wb_mpi_init(int *rank, int *size) {
    int provided = 0;
    /* Worker threads compute; only the main thread calls MPI. */
    int status = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (status != MPI_SUCCESS) return status;
    /* Errors come back as codes (reported by the caller) instead of aborting here. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((status = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return status;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int wb_mpi_finalize(void) { return MPI_Finalize(); }

void wb_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int wb_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

int wb_mpi_send(const void *buffer, size_t bytes, int destination, int tag) {
    const char *p = buffer;
    do {
        size_t n = bytes < message_limit ? bytes : message_limit;
        int status = MPI_Send(p, (int)n, MPI_BYTE, destination, tag, MPI_COMM_WORLD);
        if (status != MPI_SUCCESS) return status;
        p += n; bytes -= n;
    } while (bytes > 0);
    return MPI_SUCCESS;
}

int wb_mpi_receive(void *buffer, size_t bytes, int source, int tag) {
    char *p = buffer;
    do {
        size_t n = bytes < message_limit ? bytes : message_limit;
        int status = MPI_Recv(p, (int)n, MPI_BYTE, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (status != MPI_SUCCESS) return status;
        p += n; bytes -= n;
    } while (bytes > 0);
    return MPI_SUCCESS;
}

int wb_mpi_broadcast(void *buffer, size_t bytes, int root) {
    char *p = buffer;
    do {
        size_t n = bytes < message_limit ? bytes : message_limit;
        int status = MPI_Bcast(p, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (status != MPI_SUCCESS) return status;
        p += n; bytes -= n;
    } while (bytes > 0);
    return MPI_SUCCESS;
}

void wb_mpi_error_text(int code, char *text, int capacity) {
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, message, &length) != MPI_SUCCESS) length = 0;
    if (capacity <= 0) return;
    if (length >= capacity) length = capacity - 1;
    memcpy(text, message, (size_t)length);
    text[length] = 0;
}
