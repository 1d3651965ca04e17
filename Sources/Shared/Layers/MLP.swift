// The transformer's feed-forward block: fc1 → GELU (or QuickGELU) → fc2 (timm `mlp.fc1`/`mlp.fc2`;
// BERT `intermediate.dense` / `output.dense`).
//
//   B·N rows, D width, Hm hidden width (4·D)

import TensorCore
import Kernels

public struct MLPCache: Sendable {
  public var input: Tensor  // (B, N, D)
  public var hidden: Tensor  // (B, N, Hm)  fc1 output, before GELU
  public var activated: Tensor  // (B, N, Hm)  after GELU
}

public struct MLP: Sendable {
  public var fc1: Linear  // (Hm, D)
  public var fc2: Linear  // (D, Hm)
  public var activation: Activation  // GELU, or QuickGELU for OpenAI's CLIP

  public init(fc1: Linear, fc2: Linear, activation: Activation = .gelu) {
    precondition(fc1.outFeatures == fc2.inFeatures && fc1.inFeatures == fc2.outFeatures,
                 "MLP shapes do not chain: fc1 \(fc1.weight.shape), fc2 \(fc2.weight.shape)")
    self.fc1 = fc1
    self.fc2 = fc2
    self.activation = activation
  }

  // MARK: - Forward

  public func forward(_ x: Tensor) -> (Tensor, MLPCache) {
    let hidden = fc1.forward(x)  // (B, N, Hm)
    let activated = hidden.activated(activation)  // (B, N, Hm)
    let out = fc2.forward(activated)  // (B, N, D)
    return (out, MLPCache(input: x, hidden: hidden, activated: activated))
  }

  // MARK: - Backward

  /// forward: out = fc2(gelu(fc1(x))); so dact = fc2ᵀ·dy, dhidden = dact·gelu'(hidden), dx = fc1ᵀ·dhidden.
  public func backward(_ dy: Tensor, cache: MLPCache, grads: inout MLP) -> Tensor {
    let dActivated = fc2.backward(dy, input: cache.activated, grads: &grads.fc2)
    let dHidden = dActivated.activationBackward(activation, input: cache.hidden)
    return fc1.backward(dHidden, input: cache.input, grads: &grads.fc1)
  }
}
