// GELU, exact (erf-based) — PyTorch's nn.GELU() default, used by timm's ViT MLP, BERT and the
// projection heads.
//
//   forward:   gelu(x) = x · Φ(x) = x/2 · (1 + erf(x / √2))
//   backward:  dx = dy · (Φ(x) + x · φ(x)),   φ(x) = exp(−x²/2) / √(2π)
//
// The definition below is those lines as plain loops (libm's erf and exp); the fast path runs
// Kernels/RowKernels.swift's parallel chunks of MathSIMD.swift's SIMD erf, and the tests hold it to the definition.

import Foundation
import Kernels
import TensorCore

extension Tensor {
  // MARK: - The definition

  /// Elementwise exact GELU, as a plain loop.
  public func geluDefinition() -> Tensor {
    Tensor(shape: shape, storage: storage.map { x in x / 2 * (1 + Foundation.erf(x / Float(2).squareRoot())) })
  }

  /// self is dy; the backward as a plain loop.
  public func geluBackwardDefinition(input x: Tensor) -> Tensor {
    Tensor(shape: shape, storage: zip(storage, x.storage).map { dy, x in
      let cdf = (1 + Foundation.erf(x / Float(2).squareRoot())) / 2
      let pdf = Foundation.exp(-x * x / 2) / (2 * Float.pi).squareRoot()
      return dy * (cdf + x * pdf)
    })
  }

  // MARK: - Forward

  /// Elementwise exact GELU. The backward needs x (the input), which the caller keeps.
  public func gelu() -> Tensor {
    var y = Tensor.zeros(shape)
    withPointers(reading: [self], writing: &y) { r, yp in Kernels.gelu(x: r[0], y: yp, count: count) }
    return y
  }

  // MARK: - Backward

  /// self is dy; given the forward input x: dx = dy · (Φ(x) + x·φ(x)).
  public func geluBackward(input x: Tensor) -> Tensor {
    precondition(shape == x.shape, "GELU backward: dy \(shape) vs x \(x.shape)")
    var dx = Tensor.zeros(shape)
    withPointers(reading: [self, x], writing: &dx) { r, dxp in Kernels.geluBackward(dy: r[0], x: r[1], dx: dxp, count: count) }
    return dx
  }
}
