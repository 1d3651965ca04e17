// The pointer helpers the layers use to hand tensors to a kernel: the base addresses of the tensors a
// kernel reads, then of the ones it writes, each bound to a name at the call —
//
//   reading(dy, x) { dy, x in writing(&dx) { dx in kernel(dy: dy, x: x, dx: dx) } }
//
// — instead of one nested `withUnsafe…Pointer` per tensor, or an array read as r[3]. Reading never
// copies; writing is in place (a tensor shared with another variable is copied once first, as any
// mutation of it would be).

/// `a`'s elements, read.
@inline(__always)
public func reading<R>(_ a: Tensor, _ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
  try a.withUnsafePointer(body)
}

/// `a`'s and `b`'s elements, read.
@inline(__always)
public func reading<R>(_ a: Tensor, _ b: Tensor, _ body: (UnsafePointer<Float>, UnsafePointer<Float>) throws -> R) rethrows -> R {
  try a.withUnsafePointer { ap in try b.withUnsafePointer { bp in try body(ap, bp) } }
}

/// Three tensors' elements, read.
@inline(__always)
public func reading<R>(_ a: Tensor, _ b: Tensor, _ c: Tensor,
                       _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) throws -> R) rethrows -> R {
  try reading(a, b) { ap, bp in try c.withUnsafePointer { cp in try body(ap, bp, cp) } }
}

/// Five tensors' elements, read.
@inline(__always)
public func reading<R>(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ d: Tensor, _ e: Tensor,
                       _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) throws -> R)
  rethrows -> R
{
  try reading(a, b, c) { ap, bp, cp in try reading(d, e) { dp, ep in try body(ap, bp, cp, dp, ep) } }
}

/// `a`'s elements, written in place.
@inline(__always)
public func writing<R>(_ a: inout Tensor, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
  try a.withUnsafeMutablePointer(body)
}

/// `a`'s and `b`'s elements, written in place.
@inline(__always)
public func writing<R>(_ a: inout Tensor, _ b: inout Tensor, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
  try a.withUnsafeMutablePointer { ap in try b.withUnsafeMutablePointer { bp in try body(ap, bp) } }
}

/// Three tensors' elements, written in place.
@inline(__always)
public func writing<R>(_ a: inout Tensor, _ b: inout Tensor, _ c: inout Tensor,
                       _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
  try a.withUnsafeMutablePointer { ap in try b.withUnsafeMutablePointer { bp in try c.withUnsafeMutablePointer { cp in try body(ap, bp, cp) } } }
}
