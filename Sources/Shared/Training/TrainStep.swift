// One optimisation step of CLIP — forward, backward, (optional) gradient clipping, AdamW with the
// seed's parameter groups, and the logit-scale clamp — shared by the trainer, the chapter and the tests.

import TensorCore
import Layers
import Models
import Datasets
import Runs
import Text
import Image
import Report
import Foundation

public struct NonFiniteError: Error, CustomStringConvertible {
  public var what: String
  public var description: String { what }
}

/// What training adds to a contrastive model: which optimiser group trains each parameter.
public protocol TrainableModel: ContrastiveModel {
  /// The optimiser's groups under `config`, each with its learning rate and weight decay.
  static func optimizerGroups(_ config: OptimizerConfig) -> [OptimizerGroup]
  /// The group of the parameter at `key` (a key of `parameters`), or nil to freeze it.
  static func optimizerGroup(of key: String, _ config: OptimizerConfig) -> String?

  /// A model to train from scratch under `config` (or an error saying where one must come from).
  static func freshModel(_ config: TrainingConfig) throws -> Self
  /// Writes the run's checkpoint `name` ("last", "best", "initial") into `directory` in this model's
  /// own form, atomically; returns its path.
  func writeCheckpoint(_ name: String, in directory: String, optimizer: AdamW<Self>, config: TrainingConfig, state: TrainingState) throws -> String
  /// Every name `writeCheckpoint` may use in a run's folder (a fresh run refuses a folder holding one).
  static var checkpointFiles: [String] { get }
  /// The checkpoint a run continues from (`--resume`), or nil when this model's runs cannot be resumed.
  static var resumableCheckpoint: String? { get }
  /// Everything a resumed run needs, from a checkpoint `writeCheckpoint` wrote.
  static func loadRun(_ path: String) throws -> LoadedRun<Self>
}

/// Everything a run needs to continue: the model, the optimiser with its moments, the configuration
/// and the loop's state.
public struct LoadedRun<Model> {
  public var model: Model
  public var optimizer: AdamW<Model>
  public var config: TrainingConfig
  public var state: TrainingState
}

extension CLIP: TrainableModel {
  public static func optimizerGroups(_ config: OptimizerConfig) -> [OptimizerGroup] { config.groups }
  public static func optimizerGroup(of key: String, _ config: OptimizerConfig) -> String? { config.group(of: key) }
  public static func freshModel(_ config: TrainingConfig) throws -> CLIP { CLIP(config: config.model, seed: config.seed) }

  /// NAME.safetensors: the weights, AdamW's moments, the configuration and the state (TrainingCheckpoint.swift).
  public func writeCheckpoint(_ name: String, in directory: String, optimizer: AdamW<CLIP>, config: TrainingConfig,
                              state: TrainingState) throws -> String {
    let path = directory + "/" + name + ".safetensors"
    try TrainingCheckpoint.save(model: self, optimizer: optimizer, config: config, state: state, to: path)
    return path
  }
  public static var checkpointFiles: [String] { ["last.safetensors", "best.safetensors", "initial.safetensors"] }
  public static var resumableCheckpoint: String? { "last.safetensors" }
  public static func loadRun(_ path: String) throws -> LoadedRun<CLIP> { try TrainingCheckpoint.load(path) }
}

extension AdamW where Model: TrainableModel {
  public init(model: Model, config: OptimizerConfig) {
    self.init(model: model, table: model.parameters, groups: Model.optimizerGroups(config), group: { Model.optimizerGroup(of: $0, config) })
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

// ANCHOR: exchange
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
// ANCHOR_END: exchange

/// forward → backward → clip → AdamW → clamp logit_scale to ≤ ln 100 (standard loss only; the seed never
/// clamps). Throws (and leaves the model untouched) when the loss or a gradient is NaN or infinite.
///
/// With an `exchange` (data parallelism, open_clip style): the image and text projections of every rank
/// are all-gathered so the loss sees the whole global batch — every other rank's pairs are this rank's
/// negatives. Each rank then backpropagates only its own rows of the loss's gradient, so its parameter
/// gradients are its share of the one global gradient; they are **summed** across ranks (the logit
/// scale's, which every rank computes whole, is divided by the number of ranks first). Every rank then
/// takes the same AdamW step from the same numbers and the ranks stay bit-identical.
// ANCHOR: train-step
public func trainStep<Model: TrainableModel>(_ model: inout Model, optimizer: inout AdamW<Model>, config: OptimizerConfig, pixels: Tensor,
                                             batch: TokenBatch, dropoutMasks: DropoutMasks?,
                                             exchange: GradientExchange? = nil) throws -> StepResult {
  let table = model.parameters
  // forward → loss (once: on this process's rows, or on every rank's gathered rows) → backward
  let forward = model.trainingForward(pixels: pixels, batch: batch, dropoutMasks: dropoutMasks)
  let features = forward.features  // (N, E) each
  var loss: ContrastiveLossOutput
  if let exchange {
    let n = features.image.shape[0]
    loss = contrastiveLoss(image: try exchange.allGather(features.image), text: try exchange.allGather(features.text),
                           logitScale: model.logitScale.storage[0], kind: model.lossKind)
    precondition(loss.dImage.shape[0] == n * exchange.ranks, "every rank must bring the same \(n) pairs (gathered \(loss.dImage.shape[0]))")
    let mine = (exchange.rank * n)..<((exchange.rank + 1) * n)
    (loss.dImage, loss.dText, loss.dLogitScale) = (loss.dImage.rows(mine), loss.dText.rows(mine), loss.dLogitScale / Float(exchange.ranks))
  } else {
    loss = model.contrastiveLoss(features)
  }
  guard loss.loss.isFinite else { throw NonFiniteError(what: "the loss is \(loss.loss)") }
  var grads = model.zeroGradients()
  model.backward(forward, loss: loss, grads: &grads, trainImage: !config.freezeImage, trainText: !config.freezeText)
  if let exchange {
    var flat: [Float] = []
    flat.reserveCapacity(table.reduce(0) { $0 + $1.get(grads).count })
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
  let measured = gradientNorm(grads, table: table), (norm, finite) = (measured.norm, measured.finite)
  guard finite else { throw NonFiniteError(what: "a gradient is not finite (norm \(norm))") }
  if let maxNorm = config.gradientClip { clipGradientNorm(&grads, table: table, maxNorm: maxNorm) }
  optimizer.update(&model, grads: grads)
  if model.lossKind == .standard {
    model.logitScale.storage[0] = min(model.logitScale.storage[0], Float(log(100.0)))
  }
  return StepResult(loss: loss.loss, gradientNorm: norm, logits: loss.logits)
}
// ANCHOR_END: train-step

/// The contrastive loss of one forward pass, with the model's logit scale read as its kind says.
public func contrastiveLoss<Model: ContrastiveModel>(_ forward: Model.Forward, model: Model) -> ContrastiveLossOutput {
  model.contrastiveLoss(forward.features)
}
