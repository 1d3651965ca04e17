// Linear layer, PyTorch's nn.Linear: y = x·Wᵀ + b with W stored (Out, In). Every projection in
// CLIP is one: qkv, attention output, MLP, BERT's query/key/value, the projection heads.
//
//   R rows (all leading dimensions flattened), In input features, Out output features

import TensorCore
import Kernels

public struct Linear: Sendable {
  public var weight: Tensor  // (Out, In)
  public var bias: Tensor  // (Out)   every Linear in CLIP has one

  public init(weight: Tensor, bias: Tensor) {
    precondition(weight.rank == 2, "Linear weight must be (out, in), got \(weight.shape)")
    precondition(bias.shape == [weight.shape[0]], "Linear bias must be (\(weight.shape[0])), got \(bias.shape)")
    self.weight = weight
    self.bias = bias
  }

  public var inFeatures: Int { weight.shape[1] }
  public var outFeatures: Int { weight.shape[0] }

  // MARK: - Forward

  /// x (…, In) → y (…, Out). The backward needs x, which the caller already holds.
  public func forward(_ x: Tensor) -> Tensor {
    precondition(x.shape.last == inFeatures, "Linear expects (…, \(inFeatures)), got \(x.shape)")
    return x.matmul(weight, transposeOther: true, bias: bias)
  }

  // MARK: - Backward

  /// Given dy (…, Out) and the forward input x (…, In): accumulates dW += dyᵀ·x and db += Σ_rows dy into
  /// `grads`, and returns dx = dy·W (…, In) — or an empty tensor when `inputGradient` is false.
  @discardableResult
  public func backward(_ dy: Tensor, input x: Tensor, grads: inout Linear, inputGradient: Bool = true) -> Tensor {
    let out = outFeatures, inp = inFeatures
    precondition(dy.shape.last == out && x.shape.last == inp && dy.count / out == x.count / inp,
                 "Linear backward: dy \(dy.shape) does not match x \(x.shape) for weight \(weight.shape)")
    let rows = dy.count / out
    dy.withUnsafePointer { dyp in
      x.withUnsafePointer { xp in
        grads.weight.withUnsafeMutablePointer { dw in
          gemm(transA: true, transB: false, m: out, n: inp, k: rows, a: dyp, lda: out, b: xp, ldb: inp, c: dw, ldc: inp,
               accumulate: true)
        }
      }
      grads.bias.withUnsafeMutablePointer { db in addColumnSums(dyp, rows: rows, cols: out, into: db) }
    }
    guard inputGradient else { return Tensor.zeros([0]) }
    var dx = Tensor.zeros(x.shape)
    dy.withUnsafePointer { dyp in
      weight.withUnsafePointer { wp in
        dx.withUnsafeMutablePointer { dxp in
          gemm(transA: false, transB: false, m: rows, n: inp, k: out, a: dyp, lda: out, b: wp, ldb: inp, c: dxp, ldc: inp)
        }
      }
    }
    return dx
  }
}
