// One optimisation step of CLIP — forward, backward, (optional) gradient clipping, AdamW with the
// seed's parameter groups, and the logit-scale clamp — shared by the trainer, the chapter and the tests.

import Foundation

/// Optimiser settings: the seed's three groups (plus logit_scale, which never decays).
public struct OptimizerConfig: Sendable, Codable, Equatable {
  public var imageLearningRate: Float = 1e-4  // image tower
  public var textLearningRate: Float = 1e-5  // text tower
  public var headLearningRate: Float = 1e-3  // both projection heads and logit_scale
  public var headWeightDecay: Float = 1e-3  // heads only; the towers and logit_scale have none
  public var beta1: Float = 0.9
  public var beta2: Float = 0.999
  public var eps: Float = 1e-8
  public var gradientClip: Float? = nil  // max global L2 norm, or nil for none
  /// The seed accidentally gave the image tower the text tower's learning rate; true reproduces that.
  public var seedFaithfulImageLearningRate = false
  public var freezeText = false  // LiT: a frozen, pretrained text tower

  public init() {}

  public var groups: [OptimizerGroup] {
    [
      OptimizerGroup(name: "image", learningRate: seedFaithfulImageLearningRate ? textLearningRate : imageLearningRate, weightDecay: 0),
      OptimizerGroup(name: "text", learningRate: textLearningRate, weightDecay: 0),
      OptimizerGroup(name: "heads", learningRate: headLearningRate, weightDecay: headWeightDecay),
      OptimizerGroup(name: "scale", learningRate: headLearningRate, weightDecay: 0),
    ]
  }

  /// The group of a CLIP parameter (nil: frozen).
  public func group(of key: String) -> String? {
    if key == "logit_scale" { return "scale" }
    switch CLIP.group(of: key) {
    case .imageTower: return "image"
    case .textTower: return freezeText ? nil : "text"
    case .heads: return "heads"
    }
  }
}

public struct NonFiniteError: Error, CustomStringConvertible {
  public var what: String
  public var description: String { what }
}

extension AdamW where Model == CLIP {
  public init(model: CLIP, config: OptimizerConfig) {
    self.init(model: model, table: CLIP.parameterTable(model.config), groups: config.groups, group: { config.group(of: $0) })
    beta1 = config.beta1
    beta2 = config.beta2
    eps = config.eps
  }
}

public struct StepResult: Sendable {
  public var loss: Float
  public var gradientNorm: Float
  public var logits: Tensor
}

/// forward → backward → clip → AdamW → clamp logit_scale to ≤ ln 100 (standard loss only; the seed never
/// clamps). Throws (and leaves the model untouched) when the loss or a gradient is NaN or infinite.
public func trainStep(_ model: inout CLIP, optimizer: inout AdamW<CLIP>, config: OptimizerConfig, pixels: Tensor,
                      batch: TokenBatch, dropoutMasks: (image: Tensor, text: Tensor)?) throws -> StepResult {
  let table = CLIP.parameterTable(model.config)
  let step = model.forward(pixels: pixels, batch: batch, dropoutMasks: dropoutMasks)
  guard step.loss.loss.isFinite else { throw NonFiniteError(what: "the loss is \(step.loss.loss)") }
  var grads = model.zeroGradients()
  model.backward(step, grads: &grads, trainText: !config.freezeText)
  let (norm, finite) = gradientNorm(grads, table: table)
  guard finite else { throw NonFiniteError(what: "a gradient is not finite (norm \(norm))") }
  if let maxNorm = config.gradientClip { clipGradientNorm(&grads, table: table, maxNorm: maxNorm) }
  optimizer.update(&model, grads: grads)
  if model.config.loss == .standard {
    model.logitScale.storage[0] = min(model.logitScale.storage[0], Float(log(100.0)))
  }
  return StepResult(loss: step.loss.loss, gradientNorm: norm, logits: step.loss.logits)
}
