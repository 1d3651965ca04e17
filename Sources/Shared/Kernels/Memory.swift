// The process's memory policy for models: keep freed activations for reuse (CPUFeatures/memory.c).
// Every executable calls this first (the chapters through Notebook, `clip`, `bench`). The library does
// not call it by itself: malloc's policy belongs to the program that links it.

import CPUFeatures

/// Keeps freed memory in glibc's heap for the next layer's activations instead of returning it to the
/// kernel and faulting it back in, zeroed, a layer later. Measured on ViT-B/16 batch 8 at two threads:
/// 4.3–4.6 s → 3.5–3.6 s. Returns false where it does nothing (not glibc, or MALLOC_* set by the user).
@discardableResult
public func keepFreedMemory() -> Bool {
  clip_keep_freed_memory() == 1
}
