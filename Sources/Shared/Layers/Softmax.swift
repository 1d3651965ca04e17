// Numerically stable softmax over the last dimension: the attention weights.
//
//   softmax(x)_i = exp(x_i − max_j x_j) / Σ_k exp(x_k − max_j x_j)
//
// Subtracting the row maximum changes nothing mathematically and keeps exp from overflowing
// (scores of 1000 would otherwise be inf/inf = NaN). A row masked entirely to −∞ gives zeros.

import TensorCore
import Kernels

extension Tensor {
  /// Softmax over the last dimension. The backward needs the output, which the caller keeps.
  public func softmaxLastDim() -> Tensor {
    let d = shape.last ?? 1
    var y = Tensor.zeros(shape)
    withUnsafePointer { xp in
      y.withUnsafeMutablePointer { yp in Kernels.softmax(x: xp, y: yp, rows: count / max(d, 1), dim: d) }
    }
    return y
  }

  // MARK: - Backward

  /// self is dp (the gradient of the softmax output p): forward p = softmax(x); so
  /// dx = p ⊙ (dp − Σ_j dp_j·p_j) per row.
  public func softmaxBackward(output p: Tensor) -> Tensor {
    precondition(shape == p.shape, "softmax backward: dp \(shape) vs p \(p.shape)")
    let d = shape.last ?? 1
    var dx = Tensor.zeros(shape)
    withUnsafePointer { dpp in
      p.withUnsafePointer { pp in dx.withUnsafeMutablePointer { dxp in softmaxBackwardNaive(dp: dpp, p: pp, dx: dxp, rows: count / max(d, 1), dim: d) } }
    }
    return dx
  }
}
