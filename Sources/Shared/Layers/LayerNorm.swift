// LayerNorm over the last dimension, nn.LayerNorm. timm's ViT uses eps 1e-6, BERT 1e-12.
//
//   N rows (all leading dimensions flattened), D features
//   y = (x − mean) / sqrt(var + eps) · weight + bias        (biased variance, per row)

import TensorCore
import Kernels

public struct LayerNormCache: Sendable {
  public var mean: [Float]  // (N)
  public var rstd: [Float]  // (N)  1 / sqrt(var + eps)
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

  // MARK: - Forward

  /// x (…, D) → y (…, D), with the per-row statistics the backward needs.
  public func forward(_ x: Tensor) -> (Tensor, LayerNormCache) {
    let d = weight.count
    precondition(x.shape.last == d, "LayerNorm expects (…, \(d)), got \(x.shape)")
    let rows = x.count / max(d, 1)
    var y = Tensor.zeros(x.shape)
    var mean = [Float](repeating: 0, count: rows), rstd = [Float](repeating: 0, count: rows)
    x.withUnsafePointer { xp in
      y.withUnsafeMutablePointer { yp in
        weight.withUnsafePointer { wp in
          bias.withUnsafePointer { bp in
            mean.withUnsafeMutableBufferPointer { mp in
              rstd.withUnsafeMutableBufferPointer { rp in
                layerNorm(x: xp, y: yp, weight: wp, bias: bp, rows: rows, dim: d, eps: eps,
                          mean: mp.baseAddress!, rstd: rp.baseAddress!)
              }
            }
          }
        }
      }
    }
    return (y, LayerNormCache(mean: mean, rstd: rstd))
  }

  // MARK: - Backward

  /// Given dy and the forward input x: accumulates dweight, dbias into `grads` and returns dx.
  /// forward: x̂ = (x − mean)·rstd, y = x̂·w + b; so dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = dy·w.
  public func backward(_ dy: Tensor, input x: Tensor, cache: LayerNormCache, grads: inout LayerNorm) -> Tensor {
    precondition(dy.shape == x.shape, "LayerNorm backward: dy \(dy.shape) vs x \(x.shape)")
    let d = weight.count, rows = x.count / max(d, 1)
    var dx = Tensor.zeros(x.shape)
    dy.withUnsafePointer { dyp in
      x.withUnsafePointer { xp in
        weight.withUnsafePointer { wp in
          cache.mean.withUnsafeBufferPointer { mp in
            cache.rstd.withUnsafeBufferPointer { rp in
              dx.withUnsafeMutablePointer { dxp in
                grads.weight.withUnsafeMutablePointer { dw in
                  grads.bias.withUnsafeMutablePointer { db in
                    layerNormBackward(dy: dyp, x: xp, weight: wp, mean: mp.baseAddress!, rstd: rp.baseAddress!, rows: rows,
                                      dim: d, dx: dxp, dWeight: dw, dBias: db)
                  }
                }
              }
            }
          }
        }
      }
    }
    return dx
  }
}
