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

  // MARK: - The definition, as plain loops (tests hold the fast path below to it)

  /// y[r, o] = b[o] + Σ_i x[r, i] · W[o, i]
  public func forwardDefinition(_ x: Tensor) -> Tensor {
    let rows = x.count / inFeatures
    var y = Tensor.zeros(Array(x.shape.dropLast()) + [outFeatures])  // (…, Out)
    for r in 0..<rows {
      for o in 0..<outFeatures {
        var s = bias.storage[o]
        for i in 0..<inFeatures { s += x.storage[r * inFeatures + i] * weight.storage[o * inFeatures + i] }
        y.storage[r * outFeatures + o] = s
      }
    }
    return y
  }

  /// dW[o, i] += Σ_r dy[r, o] · x[r, i],   db[o] += Σ_r dy[r, o],   dx[r, i] = Σ_o dy[r, o] · W[o, i]
  public func backwardDefinition(_ dy: Tensor, input x: Tensor, grads: inout Linear) -> Tensor {
    let rows = x.count / inFeatures, out = outFeatures, inp = inFeatures
    var dx = Tensor.zeros(x.shape)
    for r in 0..<rows {
      for o in 0..<out {
        let g = dy.storage[r * out + o]
        grads.bias.storage[o] += g
        for i in 0..<inp {
          grads.weight.storage[o * inp + i] += g * x.storage[r * inp + i]
          dx.storage[r * inp + i] += g * weight.storage[o * inp + i]
        }
      }
    }
    return dx
  }

  // MARK: - The fast path: the packed SIMD GEMM (Kernels/GEMM.swift)

  /// x (…, In) → y (…, Out). The backward needs x, which the caller already holds.
  public func forward(_ x: Tensor) -> Tensor {
    precondition(x.shape.last == inFeatures, "Linear expects (…, \(inFeatures)), got \(x.shape)")
    return x.matmul(weight, transposeOther: true, bias: bias)
  }

  /// Given dy (…, Out) and the forward input x (…, In): accumulates dW += dyᵀ·x and db += Σ_rows dy into
  /// `grads`, and returns dx = dy·W (…, In) — or an empty tensor when `inputGradient` is false.
  @discardableResult
  public func backward(_ dy: Tensor, input x: Tensor, grads: inout Linear, inputGradient: Bool = true) -> Tensor {
    let out = outFeatures, inp = inFeatures
    precondition(dy.shape.last == out && x.shape.last == inp && dy.count / out == x.count / inp,
                 "Linear backward: dy \(dy.shape) does not match x \(x.shape) for weight \(weight.shape)")
    let rows = dy.count / out
    reading(dy, x) { dy, x in
      writing(&grads.weight, &grads.bias) { dw, db in
        gemm(transA: true, transB: false, m: out, n: inp, k: rows, a: dy, lda: out, b: x, ldb: inp, c: dw, ldc: inp, accumulate: true)
        addColumnSums(dy, rows: rows, cols: out, into: db)
      }
    }
    guard inputGradient else { return Tensor.zeros([0]) }
    var dx = Tensor.zeros(x.shape)  // (…, In)
    reading(dy, weight) { dy, w in
      writing(&dx) { dx in gemm(transA: false, transB: false, m: rows, n: inp, k: out, a: dy, lda: out, b: w, ldb: inp, c: dx, ldc: inp) }
    }
    return dx
  }
}
