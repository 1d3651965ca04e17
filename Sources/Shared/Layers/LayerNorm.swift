// LayerNorm over the last dimension, nn.LayerNorm. timm's ViT uses eps 1e-6, BERT 1e-12.
//
//   N rows (all leading dimensions flattened), D features
//   forward:   mean = Σ x / D,  var = Σ (x − mean)² / D  (biased),  rstd = 1 / sqrt(var + eps)
//              x̂ = (x − mean) · rstd,   y = x̂ · weight + bias
//   backward:  dweight += Σ_rows dy · x̂,   dbias += Σ_rows dy
//              dx̂ = dy · weight
//              dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂))       (means over the row's D features)
//
// The definition below is those lines as plain loops; `forward` and `backward` run the same maths in
// the SIMD, row-parallel kernels of Kernels/RowKernels.swift, and the tests hold them to the definition.

import Kernels
import TensorCore

public struct LayerNormCache: Sendable {
  public var mean: Tensor  // (N)
  public var rstd: Tensor  // (N)  1 / sqrt(var + eps)
}

public struct LayerNorm: Sendable {
  public var weight: Tensor  // (D)
  public var bias: Tensor  // (D)
  public var eps: Float

  public init(weight: Tensor, bias: Tensor, eps: Float) {
    precondition(weight.rank == 1 && bias.shape == weight.shape, "LayerNorm weight/bias must be (D), got \(weight.shape), \(bias.shape)")
    self.weight = weight
    self.bias = bias
    self.eps = eps
  }

  // MARK: - The definition

  /// x (…, D) → y (…, D): the forward as plain loops (statistics in Double).
  public func forwardDefinition(_ x: Tensor) -> (Tensor, LayerNormCache) {
    let d = weight.count, rows = x.count / max(d, 1)
    var y = Tensor.zeros(x.shape), mean = Tensor.zeros([rows]), rstd = Tensor.zeros([rows])
    for r in 0..<rows {
      let row = (0..<d).map { Double(x.storage[r * d + $0]) }
      let m = row.reduce(0, +) / Double(d)
      let variance = row.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(d)
      let rs = 1 / (variance + Double(eps)).squareRoot()
      for i in 0..<d { y.storage[r * d + i] = Float((row[i] - m) * rs) * weight.storage[i] + bias.storage[i] }
      (mean.storage[r], rstd.storage[r]) = (Float(m), Float(rs))
    }
    return (y, LayerNormCache(mean: mean, rstd: rstd))
  }

  /// The backward as plain loops: accumulates dweight, dbias into `grads`, returns dx.
  public func backwardDefinition(_ dy: Tensor, input x: Tensor, cache: LayerNormCache, grads: inout LayerNorm) -> Tensor {
    let d = weight.count, rows = x.count / max(d, 1)
    var dx = Tensor.zeros(x.shape)
    for r in 0..<rows {
      let xhat = (0..<d).map { (x.storage[r * d + $0] - cache.mean.storage[r]) * cache.rstd.storage[r] }
      let dxhat = (0..<d).map { dy.storage[r * d + $0] * weight.storage[$0] }
      for i in 0..<d {
        grads.weight.storage[i] += dy.storage[r * d + i] * xhat[i]
        grads.bias.storage[i] += dy.storage[r * d + i]
      }
      let meanDxhat = dxhat.reduce(0, +) / Float(d)
      let meanDxhatXhat = zip(dxhat, xhat).reduce(0) { $0 + $1.0 * $1.1 } / Float(d)
      for i in 0..<d { dx.storage[r * d + i] = cache.rstd.storage[r] * (dxhat[i] - meanDxhat - xhat[i] * meanDxhatXhat) }
    }
    return dx
  }

  // MARK: - Forward

  /// x (…, D) → y (…, D), with the per-row statistics the backward needs.
  public func forward(_ x: Tensor) -> (Tensor, LayerNormCache) {
    let d = weight.count
    precondition(x.shape.last == d, "LayerNorm expects (…, \(d)), got \(x.shape)")
    let rows = x.count / max(d, 1)
    var y = Tensor.zeros(x.shape), mean = Tensor.zeros([rows]), rstd = Tensor.zeros([rows])
    reading(x, weight, bias) { x, weight, bias in
      writing(&y, &mean, &rstd) { y, mean, rstd in
        layerNorm(x: x, y: y, weight: weight, bias: bias, rows: rows, dim: d, eps: eps, mean: mean, rstd: rstd)
      }
    }
    return (y, LayerNormCache(mean: mean, rstd: rstd))
  }

  // MARK: - Backward

  /// Given dy and the forward input x: accumulates dweight, dbias into `grads` and returns dx.
  public func backward(_ dy: Tensor, input x: Tensor, cache: LayerNormCache, grads: inout LayerNorm) -> Tensor {
    precondition(dy.shape == x.shape, "LayerNorm backward: dy \(dy.shape) vs x \(x.shape)")
    let d = weight.count, rows = x.count / max(d, 1)
    precondition(x.shape.last == d && cache.mean.count == rows && cache.rstd.count == rows, "LayerNorm backward: the cache is not of this input")
    var dx = Tensor.zeros(x.shape)
    reading(dy, x, weight, cache.mean, cache.rstd) { dy, x, weight, mean, rstd in
      writing(&dx, &grads.weight, &grads.bias) { dx, dWeight, dBias in
        layerNormBackward(dy: dy, x: x, weight: weight, mean: mean, rstd: rstd, rows: rows, dim: d, dx: dx, dWeight: dWeight, dBias: dBias)
      }
    }
    return dx
  }
}
