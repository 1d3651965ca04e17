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

extension OptimizerConfig: CheckedConfiguration {
  public func check(_ c: inout ConfigurationCheck) {
    for (value, field) in [(imageLearningRate, "imageLearningRate"), (textLearningRate, "textLearningRate"),
                           (headLearningRate, "headLearningRate"), (headWeightDecay, "headWeightDecay")] {
      c.require(value.isFinite && value >= 0, field, "must be a finite number ≥ 0, got \(value)")
    }
    c.within(Double(beta1), 0..<1, "beta1")
    c.within(Double(beta2), 0..<1, "beta2")
    c.positive(eps, "eps")
    if let gradientClip { c.positive(gradientClip, "gradientClip") }
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

/// The two collective points of a data-parallel step (chapter 10 implements them with MPI; the tests
/// with threads). Every rank holds `local` rows of the global batch, at `rank · local`.
public protocol GradientExchange {
  var rank: Int { get }
  var ranks: Int { get }
  /// Every rank's (n, P) rows, concatenated in rank order: (ranks · n, P).
  func allGather(_ local: Tensor) throws -> Tensor
  /// Replaces `buffer` with the element-wise sum over all ranks.
  func allReduceSum(_ buffer: inout [Float]) throws
}

/// forward → backward → clip → AdamW → clamp logit_scale to ≤ ln 100 (standard loss only; the seed never
/// clamps). Throws (and leaves the model untouched) when the loss or a gradient is NaN or infinite.
///
/// With an `exchange` (data parallelism, open_clip style): the image and text projections of every rank
/// are all-gathered so the loss sees the whole global batch — every other rank's pairs are this rank's
/// negatives. Each rank then backpropagates only its own rows of the loss's gradient, so its parameter
/// gradients are its share of the one global gradient; they are **summed** across ranks (the logit
/// scale's, which every rank computes whole, is divided by the number of ranks first). Every rank then
/// takes the same AdamW step from the same numbers and the ranks stay bit-identical.
public func trainStep(_ model: inout CLIP, optimizer: inout AdamW<CLIP>, config: OptimizerConfig, pixels: Tensor,
                      batch: TokenBatch, dropoutMasks: (image: Tensor, text: Tensor)?,
                      exchange: GradientExchange? = nil) throws -> StepResult {
  let table = CLIP.parameterTable(model.config)
  var step = model.forward(pixels: pixels, batch: batch, dropoutMasks: dropoutMasks)
  if let exchange {
    let n = step.imageProjection.shape[0]
    let global = contrastiveLoss(image: try exchange.allGather(step.imageProjection), text: try exchange.allGather(step.textProjection),
                                 logitScale: model.logitScale.storage[0], kind: model.config.loss)
    let mine = (exchange.rank * n)..<((exchange.rank + 1) * n)
    step.loss = ContrastiveLossOutput(loss: global.loss, imageLoss: global.imageLoss, textLoss: global.textLoss, logits: global.logits,
                                      dImage: global.dImage.rows(mine), dText: global.dText.rows(mine),
                                      dLogitScale: global.dLogitScale / Float(exchange.ranks))
  }
  guard step.loss.loss.isFinite else { throw NonFiniteError(what: "the loss is \(step.loss.loss)") }
  var grads = model.zeroGradients()
  model.backward(step, grads: &grads, trainText: !config.freezeText)
  if let exchange {
    var flat: [Float] = []
    flat.reserveCapacity(model.parameterCount)
    for p in table { flat += p.get(grads).storage }
    try exchange.allReduceSum(&flat)
    var offset = 0
    for p in table {
      var t = p.get(grads)
      t.storage = Array(flat[offset..<(offset + t.count)])
      offset += t.count
      p.set(&grads, t)
    }
  }
  let (norm, finite) = gradientNorm(grads, table: table)
  guard finite else { throw NonFiniteError(what: "a gradient is not finite (norm \(norm))") }
  if let maxNorm = config.gradientClip { clipGradientNorm(&grads, table: table, maxNorm: maxNorm) }
  optimizer.update(&model, grads: grads)
  if model.config.loss == .standard {
    model.logitScale.storage[0] = min(model.logitScale.storage[0], Float(log(100.0)))
  }
  return StepResult(loss: step.loss.loss, gradientNorm: norm, logits: step.loss.logits)
}
