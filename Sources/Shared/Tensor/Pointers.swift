// The one pointer helper the layers use to hand tensors to a kernel: the base addresses of the tensors
// a kernel reads and of the ones it writes, in one closure — instead of one nested
// `withUnsafe…Pointer` per tensor. Reading never copies; writing is in place (a tensor shared with
// another variable is copied once first, as any mutation of it would be).

extension Array where Element == Tensor {
  /// Runs `body` with the base address of every tensor, in order.
  func withPointers<R>(from index: Int = 0, _ collected: [UnsafePointer<Float>] = [],
                       _ body: ([UnsafePointer<Float>]) throws -> R) rethrows -> R {
    if index == count { return try body(collected) }
    return try self[index].withUnsafePointer { try withPointers(from: index + 1, collected + [$0], body) }
  }
}

/// `read` tensors' addresses, and `a`'s to write.
public func withPointers<R>(reading read: [Tensor], writing a: inout Tensor,
                            _ body: ([UnsafePointer<Float>], UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
  try read.withPointers { r in try a.withUnsafeMutablePointer { try body(r, $0) } }
}

/// `read` tensors' addresses, and `a`'s and `b`'s to write.
public func withPointers<R>(reading read: [Tensor], writing a: inout Tensor, _ b: inout Tensor,
                            _ body: ([UnsafePointer<Float>], UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
  try read.withPointers { r in try a.withUnsafeMutablePointer { ap in try b.withUnsafeMutablePointer { bp in try body(r, ap, bp) } } }
}

/// `read` tensors' addresses, and `a`'s, `b`'s and `c`'s to write.
public func withPointers<R>(reading read: [Tensor], writing a: inout Tensor, _ b: inout Tensor, _ c: inout Tensor,
                            _ body: ([UnsafePointer<Float>], UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                     UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
  try read.withPointers { r in
    try a.withUnsafeMutablePointer { ap in try b.withUnsafeMutablePointer { bp in try c.withUnsafeMutablePointer { cp in try body(r, ap, bp, cp) } } }
  }
}
