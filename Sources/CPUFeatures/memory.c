#include "cpu_features.h"
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

// glibc returns freed memory to the kernel eagerly: a block over the mmap threshold is unmapped on
// free, and the heap is trimmed once 128 KB are free at its top. A model allocates the same activation
// sizes layer after layer, so each layer then faults its pages in again and the kernel zeroes them —
// serially, under the process's memory lock, which is why this cost grows with threads. Keeping freed
// memory in the heap for reuse turns that into plain reuse. Peak memory is unchanged (the heap never
// grows past what was live at once); it is just not handed back between layers.
int clip_keep_freed_memory(void) {
#if defined(__GLIBC__)
  // A user who tuned malloc through the environment keeps their settings.
  if (getenv("MALLOC_TRIM_THRESHOLD_") || getenv("MALLOC_TOP_PAD_") || getenv("MALLOC_MMAP_THRESHOLD_") ||
      getenv("GLIBC_TUNABLES")) {
    return 0;
  }
  int ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // glibc's largest allowed value on 64-bit
  ok &= mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  ok &= mallopt(M_TOP_PAD, 64 * 1024 * 1024);
  return ok;
#else
  return 0;
#endif
}
