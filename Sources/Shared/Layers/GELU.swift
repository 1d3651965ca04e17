// GELU, exact (erf-based) — PyTorch's nn.GELU() default, used by timm's ViT MLP, BERT and the
// projection heads.
//
//   gelu(x) = x · Φ(x) = x/2 · (1 + erf(x / √2))

import TensorCore
import Kernels

extension Tensor {
  /// Elementwise exact GELU. The backward needs x (the input), which the caller keeps.
  public func gelu() -> Tensor {
    var y = Tensor.zeros(shape)
    withUnsafePointer { xp in
      y.withUnsafeMutablePointer { yp in Kernels.gelu(x: xp, y: yp, count: count) }
    }
    return y
  }

  // MARK: - Backward

  /// self is dy; given the forward input x: dx = dy · (Φ(x) + x·φ(x)).
  public func geluBackward(input x: Tensor) -> Tensor {
    precondition(shape == x.shape, "GELU backward: dy \(shape) vs x \(x.shape)")
    var dx = Tensor.zeros(shape)
    withUnsafePointer { dyp in
      x.withUnsafePointer { xp in dx.withUnsafeMutablePointer { dxp in Kernels.geluBackward(dy: dyp, x: xp, dx: dxp, count: count) } }
    }
    return dx
  }
}
