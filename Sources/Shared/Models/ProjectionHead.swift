// The projection head that maps each tower's feature into the shared space. The seed's (`.seed`):
//
//   projected = Linear(E → P)(x)          checkpoint: projection
//   h         = GELU(projected)
//   h         = Linear(P → P)(h)          fc
//   h         = Dropout(p = 0.1)(h)
//   h         = h + projected             residual
//   out       = LayerNorm(P)(h)           layer_norm (eps 1e-5, PyTorch's default)
//
// or OpenAI's CLIP's (`.linear`): out = Linear(E → P)(x), the `projection` alone (no fc, dropout or
// LayerNorm, none of them in the checkpoint). Walkthrough 08's study measures what each buys.
//
//   B batch, E tower feature width (1000 or 768 for images, 768 or 384 for text), P projection width (512)

import TensorCore
import Layers
import IO

public struct ProjectionHeadCache: Sendable {
  public var input: Tensor  // (B, E)
  public var projected: Tensor  // (B, P)
  public var activated: Tensor  // (B, P)
  public var dropoutMask: Tensor?  // (B, P) multipliers, nil at evaluation
  public var sum: Tensor  // (B, P) before the LayerNorm
  public var norm: LayerNormCache?  // nil for a .linear head
}

/// Which projection head: the seed's MLP with a residual and LayerNorm, or one Linear.
public enum ProjectionKind: String, Sendable, Codable, CaseIterable {
  case seed  // Linear → GELU → Linear → Dropout → + residual → LayerNorm
  case linear  // Linear only (OpenAI's CLIP projects with one matrix)
}

public struct ProjectionHead: Sendable {
  public var kind: ProjectionKind
  public var projection: Linear  // (P, E)
  public var fc: Linear  // (P, P); unused by .linear
  public var layerNorm: LayerNorm  // (P); unused by .linear
  public var dropout: Float  // probability; unused by .linear

  public init(inputWidth e: Int, outputWidth p: Int, dropout: Float = 0.1, kind: ProjectionKind = .seed) {
    self.kind = kind
    projection = Linear(weight: .zeros([p, e]), bias: .zeros([p]))
    fc = Linear(weight: .zeros([p, p]), bias: .zeros([p]))
    layerNorm = LayerNorm(weight: Tensor(shape: [p], repeating: 1), bias: .zeros([p]), eps: 1e-5)
    self.dropout = dropout
  }

  /// Checkpoint keys (the seed's names) under `prefix`, e.g. "image_projection.": a `.linear` head has
  /// only the projection's.
  public static func parameterTable<Model>(prefix: String, _ path: WritableKeyPath<Model, ProjectionHead>,
                                           kind: ProjectionKind = .seed) -> [Parameter<Model>] {
    let projection = [
      Parameter(prefix + "projection.weight", path.appending(path: \.projection.weight)),
      Parameter(prefix + "projection.bias", path.appending(path: \.projection.bias)),
    ]
    guard kind == .seed else { return projection }
    return projection + [
      Parameter(prefix + "fc.weight", path.appending(path: \.fc.weight)),
      Parameter(prefix + "fc.bias", path.appending(path: \.fc.bias)),
      Parameter(prefix + "layer_norm.weight", path.appending(path: \.layerNorm.weight)),
      Parameter(prefix + "layer_norm.bias", path.appending(path: \.layerNorm.bias)),
    ]
  }

  // MARK: - Forward

  /// x (B, E) → (B, P). Pass a dropout mask (multipliers) when training, nil to evaluate.
  // ANCHOR: forward
  public func forward(_ x: Tensor, dropoutMask: Tensor? = nil) -> (Tensor, ProjectionHeadCache) {
    let projected = projection.forward(x)
    if kind == .linear {
      return (projected, ProjectionHeadCache(input: x, projected: projected, activated: projected, dropoutMask: nil, sum: projected,
                                             norm: nil))
    }
    let activated = projected.gelu()
    let h = fc.forward(activated).applyingDropout(dropoutMask)
    let sum = h + projected
    let (out, normCache) = layerNorm.forward(sum)
    return (out, ProjectionHeadCache(input: x, projected: projected, activated: activated, dropoutMask: dropoutMask, sum: sum,
                                     norm: normCache))
  }
  // ANCHOR_END: forward

  // MARK: - Backward

  /// forward: out = LN(dropout(fc(gelu(projected))) + projected), projected = projection(x); so
  /// dsum = LNᵀ(dout); dprojected = dsum + gelu'(projected)·fcᵀ(dsum ⊙ mask); dx = projectionᵀ(dprojected).
  public func backward(_ dOut: Tensor, cache: ProjectionHeadCache, grads: inout ProjectionHead, inputGradient: Bool = true)
    -> Tensor
  {
    if kind == .linear { return projection.backward(dOut, input: cache.input, grads: &grads.projection, inputGradient: inputGradient) }
    let dSum = layerNorm.backward(dOut, input: cache.sum, cache: cache.norm!, grads: &grads.layerNorm)
    let dActivated = fc.backward(dSum.applyingDropout(cache.dropoutMask), input: cache.activated, grads: &grads.fc)
    var dProjected = dActivated.geluBackward(input: cache.projected)
    dProjected += dSum
    return projection.backward(dProjected, input: cache.input, grads: &grads.projection, inputGradient: inputGradient)
  }
}
