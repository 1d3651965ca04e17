// The handful of MPI calls chapter 10 needs, on MPI_COMM_WORLD, returning MPI error codes
// (MPI_ERRORS_RETURN is set at init, so a failed collective returns instead of aborting silently).
#ifndef CLIP_MPI_SHIM_H
#define CLIP_MPI_SHIM_H

int clip_mpi_init(void);
int clip_mpi_finalize(void);
int clip_mpi_rank(void);
int clip_mpi_size(void);
double clip_mpi_wtime(void);
int clip_mpi_barrier(void);
int clip_mpi_allgather_floats(const float *send, int count, float *receive);
/// Sum over ranks, identical on every rank: reduced to rank 0, then broadcast (an MPI_Allreduce may
/// round differently on different ranks, which would let the replicas drift apart).
int clip_mpi_allreduce_sum_floats(float *buffer, int count);
/// MPI_Allreduce itself, for chapter 10's --allreduce experiment: the library chooses the algorithm,
/// and nothing in the standard promises every rank the same bits.
int clip_mpi_allreduce_sum_floats_native(float *buffer, int count);
int clip_mpi_broadcast_bytes(void *buffer, int count, int root);
void clip_mpi_abort(int code);
/// The text of an MPI error code, in `out` (at least 512 bytes).
void clip_mpi_error_string(int code, char *out);

#endif
