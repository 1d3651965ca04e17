// Threads for the kernels: one helper over Dispatch's concurrentPerform, used by GEMM and the
// row-parallel kernels. Swift 6 checks that closures sent to other threads are Sendable; kernels
// share raw pointers to disjoint parts of their outputs, which is safe by construction, so the
// check is waived here, in one place.

import Dispatch
import Foundation

/// Worker threads used by the fast kernels (default: every core). Set 1 to measure one core.
public nonisolated(unsafe) var kernelThreads: Int = ProcessInfo.processInfo.activeProcessorCount

struct UncheckedSendable<Value>: @unchecked Sendable {
  let value: Value
}

/// Runs `body(0) … body(iterations-1)` on up to `iterations` threads and returns when all are done.
/// Each call must write only to memory no other call touches.
public func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
  if iterations <= 1 {
    if iterations == 1 { body(0) }
    return
  }
  withoutActuallyEscaping(body) { escapable in
    let box = UncheckedSendable(value: escapable)
    DispatchQueue.concurrentPerform(iterations: iterations) { box.value($0) }
  }
}
