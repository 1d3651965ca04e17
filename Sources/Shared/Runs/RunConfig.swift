// What a training run is, as explicit structs saved in every checkpoint: the model, the optimiser's
// groups and rates, the schedule, the data pipeline. Read by Training (to train) and by Evaluation
// (to embed with a checkpoint's own settings), so it lives below both.

import TensorCore
import Layers
import Models
import Text
import Image
import IO
import Foundation

public struct OptimizerGroup: Sendable, Codable, Equatable {
  public var name: String
  public var learningRate: Float
  public var weightDecay: Float
  public init(name: String, learningRate: Float, weightDecay: Float) {
    self.name = name
    self.learningRate = learningRate
    self.weightDecay = weightDecay
  }
}

/// Optimiser settings: the seed's three groups (plus logit_scale, which never decays).
public struct OptimizerConfig: Sendable, Codable, Equatable {
  public var imageLearningRate: Float = 1e-4  // image tower
  public var textLearningRate: Float = 1e-5  // text tower
  public var headLearningRate: Float = 1e-3  // both projection heads and logit_scale
  public var headWeightDecay: Float = 1e-3  // the heads (the seed's: its only weight decay)
  public var towerWeightDecay: Float = 0  // both towers (the seed has none; a plain CLIP decays everything but the scale)
  public var beta1: Float = 0.9
  public var beta2: Float = 0.999
  public var eps: Float = 1e-8
  public var gradientClip: Float? = nil  // max global L2 norm, or nil for none
  /// The seed accidentally gave the image tower the text tower's learning rate; true reproduces that.
  public var seedFaithfulImageLearningRate = false
  public var freezeText = false  // a frozen, pretrained text tower (chapter 08's --frozen-text)
  public var freezeImage = false  // LiT, locked-image tuning: the image tower frozen, the text tower trained

  public init() {}

  /// Reads optimiser settings saved before `towerWeightDecay` existed (no decay on the towers).
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    imageLearningRate = try c.decode(Float.self, forKey: .imageLearningRate)
    textLearningRate = try c.decode(Float.self, forKey: .textLearningRate)
    headLearningRate = try c.decode(Float.self, forKey: .headLearningRate)
    headWeightDecay = try c.decode(Float.self, forKey: .headWeightDecay)
    towerWeightDecay = try c.decodeIfPresent(Float.self, forKey: .towerWeightDecay) ?? 0
    beta1 = try c.decode(Float.self, forKey: .beta1)
    beta2 = try c.decode(Float.self, forKey: .beta2)
    eps = try c.decode(Float.self, forKey: .eps)
    gradientClip = try c.decodeIfPresent(Float.self, forKey: .gradientClip)
    seedFaithfulImageLearningRate = try c.decode(Bool.self, forKey: .seedFaithfulImageLearningRate)
    freezeText = try c.decode(Bool.self, forKey: .freezeText)
    freezeImage = try c.decodeIfPresent(Bool.self, forKey: .freezeImage) ?? false
  }

  public var groups: [OptimizerGroup] {
    [
      OptimizerGroup(name: "image", learningRate: seedFaithfulImageLearningRate ? textLearningRate : imageLearningRate, weightDecay: towerWeightDecay),
      OptimizerGroup(name: "text", learningRate: textLearningRate, weightDecay: towerWeightDecay),
      OptimizerGroup(name: "heads", learningRate: headLearningRate, weightDecay: headWeightDecay),
      OptimizerGroup(name: "scale", learningRate: headLearningRate, weightDecay: 0),
    ]
  }

  /// The group of a CLIP parameter (nil: frozen).
  public func group(of key: String) -> String? {
    if key == "logit_scale" { return "scale" }
    if key.hasPrefix("image_encoder.") { return freezeImage ? nil : "image" }
    if key.hasPrefix("text_encoder.") { return freezeText ? nil : "text" }
    return "heads"  // image_projection.*, text_projection.*
  }
}

extension OptimizerConfig: CheckedConfiguration {
  public func check(_ c: inout ConfigurationCheck) {
    for (value, field) in [(imageLearningRate, "imageLearningRate"), (textLearningRate, "textLearningRate"),
                           (headLearningRate, "headLearningRate"), (headWeightDecay, "headWeightDecay"), (towerWeightDecay, "towerWeightDecay")] {
      c.require(value.isFinite && value >= 0, field, "must be a finite number ≥ 0, got \(value)")
    }
    c.within(Double(beta1), 0..<1, "beta1")
    c.within(Double(beta2), 0..<1, "beta2")
    c.positive(eps, "eps")
    if let gradientClip { c.positive(gradientClip, "gradientClip") }
  }
}

/// Everything a run is, as an explicit struct (saved in every checkpoint).
public struct TrainingConfig: Sendable, Codable, Equatable {
  public var name: String  // "tiny" or "seed"
  public var model: CLIPConfig
  public var optimizer = OptimizerConfig()
  public var epochs = 10
  public var batchSize = 64
  public var seed: UInt64 = 42  // split, order, captions, dropout
  public var validationFraction = 0.2  // of the images, split by image
  public var plateauFactor: Float = 0.8  // ReduceLROnPlateau
  public var plateauPatience = 1
  public var imagePipeline: ImagePipeline = .resize
  public var maxStepsPerEpoch: Int? = nil  // cut epochs short (the seed config's demo)
  public var maxValidationImages: Int? = nil  // validate on the first N validation images only (the seed config's demo)
  public var textFromMiniLM = false  // initialise (and, with optimizer.freezeText, freeze) the text tower from MiniLM
  public var schedule: Schedule = .plateau  // how the learning rates move during the run
  public var warmupSteps = 0  // cosine: steps of linear warm-up from 0 to the full rates
  /// A time budget: training stops after this many seconds of training (evaluation not counted), and a
  /// cosine spans these seconds instead of `epochs` (then only a cap), so every machine uses its whole
  /// budget and ends decayed. nil: the run is `epochs` long.
  public var seconds: Double? = nil

  /// How the learning rates move. Both keep the groups' ratios (image : text : heads).
  public enum Schedule: String, Sendable, Codable, CaseIterable {
    case plateau  // ReduceLROnPlateau on the validation loss after each epoch (the seed's)
    case cosine  // linear warm-up over `warmupSteps`, then a cosine from the full rates to 0 at the last step (or second)
    case constant  // linear warm-up over `warmupSteps`, then the full rates to the end
  }

  public init(name: String, model: CLIPConfig) {
    self.name = name
    self.model = model
  }

  /// Reads configurations saved before `schedule` and `warmupSteps` existed as plateau runs.
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    name = try c.decode(String.self, forKey: .name)
    model = try c.decode(CLIPConfig.self, forKey: .model)
    optimizer = try c.decode(OptimizerConfig.self, forKey: .optimizer)
    epochs = try c.decode(Int.self, forKey: .epochs)
    batchSize = try c.decode(Int.self, forKey: .batchSize)
    seed = try c.decode(UInt64.self, forKey: .seed)
    validationFraction = try c.decode(Double.self, forKey: .validationFraction)
    plateauFactor = try c.decode(Float.self, forKey: .plateauFactor)
    plateauPatience = try c.decode(Int.self, forKey: .plateauPatience)
    imagePipeline = try c.decode(ImagePipeline.self, forKey: .imagePipeline)
    maxStepsPerEpoch = try c.decodeIfPresent(Int.self, forKey: .maxStepsPerEpoch)
    maxValidationImages = try c.decodeIfPresent(Int.self, forKey: .maxValidationImages)
    textFromMiniLM = try c.decode(Bool.self, forKey: .textFromMiniLM)
    schedule = try c.decodeIfPresent(Schedule.self, forKey: .schedule) ?? .plateau
    warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 0
    seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
  }

  /// The configuration with fields replaced by JSON values, by their paths: "model.vit.patchSize=8",
  /// "optimizer.headLearningRate=5e-4", "schedule=cosine" (a bare word is read as a string). Every
  /// assignment is applied first and the result checked once, so fields that must change together
  /// (imageSize and patchSize) can. `null` only for the fields that may be unset.
  public func setting(_ assignments: [String]) throws -> TrainingConfig {
    try applyingAssignments(assignments, to: self, flag: "--set", nullable: ["maxStepsPerEpoch", "maxValidationImages", "optimizer.gradientClip", "seconds"])
  }

  public func setting(_ assignment: String) throws -> TrainingConfig { try setting([assignment]) }

  /// The default: a small ViT (64 px, patch 16 → a 4×4 grid, width 128, 4 blocks, class token) and a
  /// small BERT (width 128, 2 layers, the bert-base-uncased vocabulary), trained from scratch on the
  /// shapes dataset in under five minutes on 2 cores. Patch 8 (an 8×8 grid) learns more per step but
  /// costs 2.8× more per image: at equal seconds patch 16 is ahead (Walkthrough 08's study). From scratch the towers need far larger steps
  /// than the seed's 1e-4 / 1e-5 (which assume pretrained towers), so every group uses one rate,
  /// warmed up and then decayed on a cosine. Walkthrough 08's study table shows what each choice buys.
  public static let tiny: TrainingConfig = {
    var vit = ViTConfig()
    vit.imageSize = 64; vit.patchSize = 16; vit.width = 128; vit.depth = 4; vit.heads = 4; vit.mlpDim = 512; vit.numClasses = 0
    vit.pool = .classToken
    var text = BERTConfig()
    text.hiddenSize = 128; text.layers = 2; text.heads = 4; text.intermediateSize = 512; text.maxPositions = 32
    var model = CLIPConfig(vit: vit, text: text)
    model.projectionDim = 128
    model.maxTextLength = 24
    // The third edition's study (Walkthrough 08): timm's and BERT's own initialisation of the towers
    // (normal, std 0.02) and no dropout in the heads: at 750 steps +2.2 ± 0.1 points on the test images
    // on each of 3 seeds, the lowest loss of every row; at 300 s ahead on average, within the seeds' spread.
    model.initialisation = .standard
    model.dropout = 0
    var c = TrainingConfig(name: "tiny", model: model)
    c.optimizer.imageLearningRate = 5e-4
    c.optimizer.textLearningRate = 5e-4
    c.optimizer.headLearningRate = 5e-4
    c.schedule = .cosine
    c.warmupSteps = 100
    c.seconds = 300  // five minutes of training on any machine; the cosine spans them
    c.epochs = 1000  // only a cap: the budget ends the run
    c.batchSize = 64
    c.imagePipeline = .resizeAugment  // random flips, the captions' left and right swapped with them
    return c
  }()

  /// The seed's run: ViT-B/16 + BERT-base, batch 32, its learning rates and loss, timm's transform.
  public static let seed: TrainingConfig = {
    var c = TrainingConfig(name: "seed", model: .seed)
    c.epochs = 1
    c.batchSize = 32
    c.imagePipeline = .timmTrain
    c.maxStepsPerEpoch = 3
    c.maxValidationImages = 32
    return c
  }()

  /// Fine-tuning OpenAI's CLIP (`clip train --clip`): open_clip's fine-tuning defaults — one small
  /// learning rate (1e-5) for both towers and logit_scale, weight decay 0.1 on the matrices, a short
  /// warm-up and a cosine over the time budget — CLIP's own preprocessing, batches of 32. `model` is
  /// not used: the shapes come from the checkpoint.
  public static let openAICLIPFineTune: TrainingConfig = {
    var c = TrainingConfig(name: "openai-clip", model: TrainingConfig.tiny.model)
    c.optimizer.imageLearningRate = 1e-5
    c.optimizer.textLearningRate = 1e-5
    c.optimizer.headLearningRate = 1e-5
    c.optimizer.towerWeightDecay = 0.1
    c.optimizer.headWeightDecay = 0
    c.schedule = .cosine
    c.warmupSteps = 10
    c.seconds = 300
    c.epochs = 1000  // only a cap: the budget ends the run
    c.batchSize = 32
    c.imagePipeline = .clip
    return c
  }()

  public static func named(_ name: String) -> TrainingConfig? {
    switch name {
    case "tiny": return .tiny
    case "seed": return .seed
    default: return nil
    }
  }
}

extension TrainingConfig: CheckedConfiguration {
  /// Counts positive, the validation fraction in [0, 1), the scheduler's factor in (0, 1].
  public func check(_ c: inout ConfigurationCheck) {
    c.nested("model", model)
    c.nested("optimizer", optimizer)
    c.atLeast(epochs, "epochs", maximum: 1 << 30)
    c.atLeast(batchSize, "batchSize", minimum: 2, maximum: 1 << 20)
    c.within(validationFraction, 0..<1, "validationFraction")
    c.require(plateauFactor.isFinite && plateauFactor > 0 && plateauFactor <= 1, "plateauFactor", "must be in (0, 1], got \(plateauFactor)")
    c.atLeast(plateauPatience, "plateauPatience", minimum: 0, maximum: 1 << 30)
    if let maxStepsPerEpoch { c.atLeast(maxStepsPerEpoch, "maxStepsPerEpoch") }
    if let maxValidationImages { c.atLeast(maxValidationImages, "maxValidationImages") }
    c.atLeast(warmupSteps, "warmupSteps", minimum: 0, maximum: 1 << 30)
    if let seconds { c.within(seconds, 0.001...1e7, "seconds") }
  }
}

public struct TrainingError: Error, CustomStringConvertible {
  public var message: String
  public init(message: String) { self.message = message }
  public var description: String { message }
}
