#include "mpi_shim.h"
#include <mpi.h>
#include <string.h>

int clip_mpi_init(void) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int rc = MPI_Init(NULL, NULL);
    if (rc != MPI_SUCCESS) return rc;
  }
  return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

int clip_mpi_finalize(void) { return MPI_Finalize(); }

int clip_mpi_rank(void) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int clip_mpi_size(void) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

double clip_mpi_wtime(void) { return MPI_Wtime(); }

int clip_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

int clip_mpi_allgather_floats(const float *send, int count, float *receive) {
  return MPI_Allgather(send, count, MPI_FLOAT, receive, count, MPI_FLOAT, MPI_COMM_WORLD);
}

int clip_mpi_allreduce_sum_floats(float *buffer, int count) {
  int rank = clip_mpi_rank();
  int rc = MPI_Reduce(rank == 0 ? MPI_IN_PLACE : buffer, rank == 0 ? buffer : NULL, count, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return rc;
  return MPI_Bcast(buffer, count, MPI_FLOAT, 0, MPI_COMM_WORLD);
}

int clip_mpi_allreduce_sum_floats_native(float *buffer, int count) {
  return MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

int clip_mpi_broadcast_bytes(void *buffer, int count, int root) {
  return MPI_Bcast(buffer, count, MPI_BYTE, root, MPI_COMM_WORLD);
}

void clip_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void clip_mpi_error_string(int code, char *out) {
  int length = 0;
  out[0] = 0;
  MPI_Error_string(code, out, &length);
}
