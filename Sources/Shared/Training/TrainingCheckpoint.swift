// Training checkpoints: model weights, AdamW moments and every counter needed to continue as if never
// interrupted, in one safetensors file written atomically (temporary file, fsync, rename).
//
//   tensors:   model.<key>, adam.m.<key>, adam.v.<key>          (keys of CLIP.parameterTable)
//   metadata:  format_version, config (TrainingConfig JSON), state (TrainingState JSON)
//
// The data order, caption choice, augmentation and dropout masks are pure functions of (seed, epoch,
// image, step), so the counters are all the randomness there is to save.

import Layers
import Models
import Datasets
import Runs
import Image
import IO
import Foundation

public struct EpochRecord: Sendable, Codable, Equatable {
  public var epoch: Int
  public var trainLoss: Float
  public var validationLoss: Float
  public var imageToTextR1: Float
  public var imageToTextR5: Float
  public var textToImageR1: Float
  public var textToImageR5: Float
  public var learningRates: [Float]
  public var seconds: Double
}

public struct TrainingState: Sendable, Codable, Equatable {
  public var step = 0  // optimiser steps taken
  public var epoch = 0  // the epoch in progress (0-based)
  public var batchInEpoch = 0  // the next batch of that epoch
  public var epochLossSum: Double = 0  // running sum of this epoch's training losses
  public var epochSteps = 0
  public var groups: [OptimizerGroup] = []
  public var scheduler = ReduceLROnPlateau()
  public var bestValidationLoss: Float = .infinity
  public var history: [EpochRecord] = []
  public var stepLosses: [Float] = []  // every training loss, for the curve
  public var data: DataFingerprint? = nil  // the data trained on (nil in checkpoints written before it was kept)
  public var trainingSeconds: Double = 0  // seconds of training so far (evaluation not counted): a time budget's clock
  public init() {}

  /// Reads states saved before `data` and `trainingSeconds` existed too.
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    step = try c.decode(Int.self, forKey: .step)
    epoch = try c.decode(Int.self, forKey: .epoch)
    batchInEpoch = try c.decode(Int.self, forKey: .batchInEpoch)
    epochLossSum = try c.decode(Double.self, forKey: .epochLossSum)
    epochSteps = try c.decode(Int.self, forKey: .epochSteps)
    groups = try c.decode([OptimizerGroup].self, forKey: .groups)
    scheduler = try c.decode(ReduceLROnPlateau.self, forKey: .scheduler)
    bestValidationLoss = try c.decode(Float.self, forKey: .bestValidationLoss)
    history = try c.decode([EpochRecord].self, forKey: .history)
    stepLosses = try c.decode([Float].self, forKey: .stepLosses)
    data = try c.decodeIfPresent(DataFingerprint.self, forKey: .data)
    trainingSeconds = try c.decodeIfPresent(Double.self, forKey: .trainingSeconds) ?? 0
  }
}

extension TrainingCheckpoint {

  public static func save(model: CLIP, optimizer: AdamW<CLIP>, config: TrainingConfig, state: TrainingState, to path: String) throws {
    let table = CLIP.parameterTable(model.config)
    let encoder = JSONEncoder()
    // The best validation loss is +∞ until a validation has run (a mid-epoch save, no validation set).
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    encoder.outputFormatting = [.sortedKeys]
    var writer = SafetensorsWriter(metadata: [
      "format_version": formatVersion,
      "config": String(decoding: try encoder.encode(config), as: UTF8.self),
      "state": String(decoding: try encoder.encode(state), as: UTF8.self),
    ])
    writer.add(model, table: table, prefix: "model.")
    writer.add(optimizer.firstMoment, table: table, prefix: "adam.m.")
    writer.add(optimizer.secondMoment, table: table, prefix: "adam.v.")
    try writer.write(to: path)
  }

  /// Loads a checkpoint written by `save`: the configuration and state are validated, every
  /// tensor is checked for shape and for NaN/Inf.
  public static func load(_ path: String) throws -> LoadedRun<CLIP> {
    let file = try SafetensorsFile(path: path)
    guard file.metadata["format_version"] == formatVersion else {
      throw CheckpointError(path: path, reason: "not a training checkpoint of format \(formatVersion) (metadata: \(file.metadata.keys.sorted()))")
    }
    let config = try readConfig(file, path: path)
    let state = try readState(file, path: path)
    try state.validate(for: config, source: path)
    let table = CLIP.parameterTable(config.model)
    return try naming(path) {
      try file.requireParameters(atLeast: 3 * config.model.parameterLowerBound)  // model + two moments
      var model = CLIP(config: config.model)
      try file.load(into: &model, table: table, prefix: "model.", ignoring: { !$0.hasPrefix("model.") })
      var optimizer = AdamW(model: model, config: config.optimizer)
      var m = optimizer.firstMoment, v = optimizer.secondMoment
      try file.load(into: &m, table: table, prefix: "adam.m.", ignoring: { !$0.hasPrefix("adam.m.") })
      try file.load(into: &v, table: table, prefix: "adam.v.", ignoring: { !$0.hasPrefix("adam.v.") })
      optimizer.firstMoment = m
      optimizer.secondMoment = v
      optimizer.step = state.step
      if !state.groups.isEmpty { optimizer.groups = state.groups }
      return LoadedRun(model: model, optimizer: optimizer, config: config, state: state)
    }
  }

  /// The `state` metadata, decoded (validate it against its config with `TrainingState.validate`).
  static func readState(_ file: SafetensorsFile, path: String) throws -> TrainingState {
    guard let stateText = file.metadata["state"] else {
      throw CheckpointError(path: path, reason: "checkpoint metadata lacks the training state")
    }
    do { return try jsonDecoder.decode(TrainingState.self, from: Data(stateText.utf8)) } catch {
      throw CheckpointError(path: path, reason: "unreadable training state in its metadata: \(describeJSONError(error))")
    }
  }
}

extension TrainingState {
  /// Counters non-negative and the optimiser groups those of `config` (`groups`: the model's group
  /// names, by default the seed CLIP's), with usable learning rates.
  public func validate(for config: TrainingConfig, groups expectedGroups: [String]? = nil, source: String) throws {
    var c = ConfigurationCheck()
    c.atLeast(step, "step", minimum: 0, maximum: 1 << 50)
    c.atLeast(epoch, "epoch", minimum: 0, maximum: 1 << 30)
    c.atLeast(batchInEpoch, "batchInEpoch", minimum: 0, maximum: 1 << 40)
    c.atLeast(epochSteps, "epochSteps", minimum: 0, maximum: 1 << 50)
    c.require(epochLossSum.isFinite, "epochLossSum", "must be finite, got \(epochLossSum)")
    c.require(trainingSeconds.isFinite && trainingSeconds >= 0, "trainingSeconds", "must be a finite number ≥ 0, got \(trainingSeconds)")
    let expected = expectedGroups ?? config.optimizer.groups.map(\.name)
    c.require(groups.isEmpty || groups.map(\.name) == expected, "groups", "must be \(expected), got \(groups.map(\.name))")
    for g in groups {
      c.require(g.learningRate.isFinite && g.learningRate >= 0 && g.weightDecay.isFinite && g.weightDecay >= 0,
                "groups.\(g.name)", "needs a finite learning rate and weight decay ≥ 0, got \(g.learningRate), \(g.weightDecay)")
    }
    c.require(scheduler.factor.isFinite && scheduler.factor > 0 && scheduler.factor <= 1, "scheduler.factor",
              "must be in (0, 1], got \(scheduler.factor)")
    c.atLeast(scheduler.patience, "scheduler.patience", minimum: 0, maximum: 1 << 30)
    c.atLeast(scheduler.badEpochs, "scheduler.badEpochs", minimum: 0, maximum: 1 << 30)
    if !c.problems.isEmpty { throw ConfigurationError(source: source + " (state metadata)", problems: c.problems) }
  }
}

/// The configuration a resumed run trains with: the checkpoint's own, with `epochs` (default: the
/// checkpoint's) — which must be more than the epochs already done. `name` and `batchSize` are what
/// the user's flags asked for, if anything, and `optimizerFlags` applies the optimiser flags given to
/// the checkpoint's own settings: anything that differs from the checkpoint's is an error, since a
/// resumed run cannot change its model, batches or optimiser without breaking bit-identical resume.
public func resumedConfiguration(checkpoint path: String, epochs: Int?, name: String? = nil, batchSize: Int? = nil,
                                 optimizerFlags: ((inout OptimizerConfig) -> Void)? = nil) throws -> TrainingConfig {
  let file = try SafetensorsFile(path: path)
  var config = try TrainingCheckpoint.readConfig(file, path: path)
  let state = try TrainingCheckpoint.readState(file, path: path)
  let fineTune = file.metadata["format_version"] == OpenAICLIP.trainingStateFormat
  try state.validate(for: config, groups: fineTune ? OpenAICLIP.optimizerGroups(config.optimizer).map(\.name) : nil, source: path)
  if let name, name != config.name {
    throw CheckpointError(path: path, reason: "is a '\(config.name)' run; --config \(name) cannot change it on --resume")
  }
  if let batchSize, batchSize != config.batchSize {
    throw CheckpointError(path: path, reason: "trains with batch size \(config.batchSize); --batch-size \(batchSize) cannot change it on "
      + "--resume (drop the flag, or start a new run with another --out)")
  }
  var asked = config.optimizer
  optimizerFlags?(&asked)
  if asked != config.optimizer {
    throw CheckpointError(path: path, reason: "trains with its own optimiser settings (learning rates, frozen text tower); "
      + "--lr, --frozen-text and --seed-faithful-lr cannot change them on --resume")
  }
  config.epochs = epochs ?? config.epochs
  guard config.epochs > state.epoch else {
    throw CheckpointError(path: path, reason: "has already finished \(state.epoch) of its \(config.epochs) epochs: "
      + "ask for more with --epochs N (N > \(state.epoch)) to continue it")
  }
  return config
}

