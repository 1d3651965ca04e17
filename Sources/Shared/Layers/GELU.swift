// GELU, exact (erf-based) — PyTorch's nn.GELU() default, used by timm's ViT MLP, BERT and the
// projection heads — and QuickGELU, OpenAI CLIP's cheaper stand-in (chapter 11):
//
//   quick_gelu(x) = x · σ(1.702 x),   d/dx = σ + 1.702 · x · σ · (1 − σ)
//
//   forward:   gelu(x) = x · Φ(x) = x/2 · (1 + erf(x / √2))
//   backward:  dx = dy · (Φ(x) + x · φ(x)),   φ(x) = exp(−x²/2) / √(2π)
//
// The definition below is those lines as plain loops (libm's erf and exp); the fast path runs
// Kernels/RowKernels.swift's parallel chunks of MathSIMD.swift's SIMD erf, and the tests hold it to the definition.

import Foundation
import Kernels
import TensorCore

/// The MLP's nonlinearity: exact GELU (timm, BERT) or QuickGELU (OpenAI's CLIP weights).
public enum Activation: String, Sendable, Equatable, Codable {
  case gelu
  case quickGELU

  /// Hugging Face's `hidden_act` names.
  public init?(huggingFaceName name: String) {
    switch name {
    case "gelu": self = .gelu
    case "quick_gelu": self = .quickGELU
    default: return nil
    }
  }
}

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

  /// Elementwise QuickGELU, as a plain loop.
  public func quickGELUDefinition() -> Tensor {
    Tensor(shape: shape, storage: storage.map { x in x * (1 / (1 + Foundation.exp(-1.702 * x))) })
  }

  /// self is dy; QuickGELU's backward as a plain loop.
  public func quickGELUBackwardDefinition(input x: Tensor) -> Tensor {
    Tensor(shape: shape, storage: zip(storage, x.storage).map { dy, x in
      let s = 1 / (1 + Foundation.exp(-1.702 * x))
      return dy * (s + 1.702 * x * s * (1 - s))
    })
  }

  // MARK: - Forward

  /// Elementwise QuickGELU (SIMD, parallel).
  public func quickGELU() -> Tensor {
    var y = Tensor.zeros(shape)
    reading(self) { x in writing(&y) { y in Kernels.quickGELU(x: x, y: y, count: count) } }
    return y
  }

  /// self is dy; QuickGELU's backward (SIMD, parallel).
  public func quickGELUBackward(input x: Tensor) -> Tensor {
    precondition(shape == x.shape, "QuickGELU backward: dy \(shape) vs x \(x.shape)")
    var dx = Tensor.zeros(shape)
    reading(self, x) { dy, x in writing(&dx) { dx in Kernels.quickGELUBackward(dy: dy, x: x, dx: dx, count: count) } }
    return dx
  }

  /// `activation` applied elementwise.
  public func activated(_ activation: Activation) -> Tensor {
    activation == .gelu ? gelu() : quickGELU()
  }

  /// self is dy; the backward of `activation` at input x.
  public func activationBackward(_ activation: Activation, input x: Tensor) -> Tensor {
    activation == .gelu ? geluBackward(input: x) : quickGELUBackward(input: x)
  }

  /// Elementwise exact GELU. The backward needs x (the input), which the caller keeps.
  public func gelu() -> Tensor {
    var y = Tensor.zeros(shape)
    reading(self) { x in writing(&y) { y in Kernels.gelu(x: x, y: y, count: count) } }
    return y
  }

  // MARK: - Backward

  /// self is dy; given the forward input x: dx = dy · (Φ(x) + x·φ(x)).
  public func geluBackward(input x: Tensor) -> Tensor {
    precondition(shape == x.shape, "GELU backward: dy \(shape) vs x \(x.shape)")
    var dx = Tensor.zeros(shape)
    reading(self, x) { dy, x in writing(&dx) { dx in Kernels.geluBackward(dy: dy, x: x, dx: dx, count: count) } }
    return dx
  }
}
