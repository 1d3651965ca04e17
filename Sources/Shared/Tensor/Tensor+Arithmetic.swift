// Matrix products and elementwise arithmetic on whole tensors, built on the kernels.

import Kernels

extension Tensor {
  /// Matrix product of the last two dimensions' worth of rows:
  /// `self` is (…, M, K) viewed as (rows, K); `other` is (K, N), or (N, K) with `transposeOther`.
  ///
  /// ```
  /// out[r, j] = Σ_p self[r, p] · op(other)[p, j]  (+ bias[j])
  /// ```
  public func matmul(_ other: Tensor, transposeOther: Bool = false, bias: Tensor? = nil) -> Tensor {
    precondition(rank >= 1 && other.rank == 2, "matmul needs (…, K) × (K, N); got \(shape) × \(other.shape)")
    let k = shape[rank - 1]
    let rows = k == 0 ? 0 : count / k
    let n = transposeOther ? other.shape[0] : other.shape[1]
    let otherK = transposeOther ? other.shape[1] : other.shape[0]
    precondition(otherK == k, "matmul inner dimensions differ: \(shape) × \(other.shape) (transposed: \(transposeOther))")
    if let bias { precondition(bias.count == n, "bias has \(bias.count) elements, expected \(n)") }
    var outShape = Array(shape.dropLast())
    outShape.append(n)
    var out = Tensor.zeros(outShape)
    let ldb = other.shape[1]
    withUnsafePointer { a in
      other.withUnsafePointer { b in
        out.withUnsafeMutablePointer { c in
          if let bias {
            bias.withUnsafePointer { bp in
              gemm(transA: false, transB: transposeOther, m: rows, n: n, k: k, a: a, lda: k, b: b, ldb: ldb,
                   c: c, ldc: n, bias: bp)
            }
          } else {
            gemm(transA: false, transB: transposeOther, m: rows, n: n, k: k, a: a, lda: k, b: b, ldb: ldb,
                 c: c, ldc: n)
          }
        }
      }
    }
    return out
  }

  /// Elementwise map into a new tensor of the same shape.
  public func map(_ f: (Float) -> Float) -> Tensor {
    Tensor(shape: shape, storage: storage.map(f))
  }

  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
    precondition(lhs.shape == rhs.shape, "shape mismatch: \(lhs.shape) + \(rhs.shape)")
    var out = Tensor.zeros(lhs.shape)
    lhs.withUnsafePointer { a in rhs.withUnsafePointer { b in out.withUnsafeMutablePointer { y in addVectors(a, b, into: y, count: lhs.count) } } }
    return out
  }

  /// self += other, elementwise (gradient accumulation).
  public static func += (lhs: inout Tensor, rhs: Tensor) {
    precondition(lhs.shape == rhs.shape, "shape mismatch: \(lhs.shape) += \(rhs.shape)")
    rhs.withUnsafePointer { b in lhs.withUnsafeMutablePointer { a in addVectors(a, b, into: a, count: rhs.count) } }
  }

  public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
    precondition(lhs.shape == rhs.shape, "shape mismatch: \(lhs.shape) - \(rhs.shape)")
    return Tensor(shape: lhs.shape, storage: zip(lhs.storage, rhs.storage).map { $0 - $1 })
  }

  public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 * rhs } }
}
