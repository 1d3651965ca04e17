// The projection head that maps each tower's feature into the shared space — exactly the seed's:
//
//   projected = Linear(E → P)(x)          checkpoint: projection
//   h         = GELU(projected)
//   h         = Linear(P → P)(h)          fc
//   h         = Dropout(p = 0.1)(h)
//   h         = h + projected             residual
//   out       = LayerNorm(P)(h)           layer_norm (eps 1e-5, PyTorch's default)
//
//   B batch, E tower feature width (1000 or 768 for images, 768 or 384 for text), P projection width (512)

import TensorCore
import Layers
import Text
import IO

public struct ProjectionHeadCache: Sendable {
  public var input: Tensor  // (B, E)
  public var projected: Tensor  // (B, P)
  public var activated: Tensor  // (B, P)
  public var dropoutMask: Tensor?  // (B, P) multipliers, nil at evaluation
  public var sum: Tensor  // (B, P) before the LayerNorm
  public var norm: LayerNormCache
}

public struct ProjectionHead: Sendable {
  public var projection: Linear  // (P, E)
  public var fc: Linear  // (P, P)
  public var layerNorm: LayerNorm  // (P)
  public var dropout: Float  // probability

  public init(inputWidth e: Int, outputWidth p: Int, dropout: Float = 0.1) {
    projection = Linear(weight: .zeros([p, e]), bias: .zeros([p]))
    fc = Linear(weight: .zeros([p, p]), bias: .zeros([p]))
    layerNorm = LayerNorm(weight: Tensor(shape: [p], repeating: 1), bias: .zeros([p]), eps: 1e-5)
    self.dropout = dropout
  }

  /// Checkpoint keys (the seed's names) under `prefix`, e.g. "image_projection.".
  public static func parameterTable<Model>(prefix: String, _ path: WritableKeyPath<Model, ProjectionHead>) -> [Parameter<Model>] {
    [
      Parameter(prefix + "projection.weight", path.appending(path: \.projection.weight)),
      Parameter(prefix + "projection.bias", path.appending(path: \.projection.bias)),
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
    let dSum = layerNorm.backward(dOut, input: cache.sum, cache: cache.norm, grads: &grads.layerNorm)
    let dActivated = fc.backward(dSum.applyingDropout(cache.dropoutMask), input: cache.activated, grads: &grads.fc)
    var dProjected = dActivated.geluBackward(input: cache.projected)
    dProjected += dSum
    return projection.backward(dProjected, input: cache.input, grads: &grads.projection, inputGradient: inputGradient)
  }
}
