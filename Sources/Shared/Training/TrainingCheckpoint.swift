// Training checkpoints: model weights, AdamW moments and every counter needed to continue as if never
// interrupted, in one safetensors file written atomically (temporary file, fsync, rename).
//
//   tensors:   model.<key>, adam.m.<key>, adam.v.<key>          (keys of CLIP.parameterTable)
//   metadata:  format_version, config (TrainingConfig JSON), state (TrainingState JSON)
//
// The data order, caption choice, augmentation and dropout masks are pure functions of (seed, epoch,
// image, step), so the counters are all the randomness there is to save.

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
  public init() {}
}

public struct CheckpointError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { "\(path): \(reason)" }
}

public enum TrainingCheckpoint {
  public static let formatVersion = "1"

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

  /// Loads a checkpoint written by `save`.
  public static func load(_ path: String) throws -> (model: CLIP, optimizer: AdamW<CLIP>, config: TrainingConfig, state: TrainingState) {
    let file = try SafetensorsFile(path: path)
    guard file.metadata["format_version"] == formatVersion else {
      throw CheckpointError(path: path, reason: "not a training checkpoint of format \(formatVersion) (metadata: \(file.metadata.keys.sorted()))")
    }
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    guard let configText = file.metadata["config"], let stateText = file.metadata["state"] else {
      throw CheckpointError(path: path, reason: "checkpoint metadata lacks config/state")
    }
    let config: TrainingConfig, state: TrainingState
    do {
      config = try decoder.decode(TrainingConfig.self, from: Data(configText.utf8))
      state = try decoder.decode(TrainingState.self, from: Data(stateText.utf8))
    } catch {
      throw CheckpointError(path: path, reason: "unreadable config/state metadata: \(error)")
    }
    let table = CLIP.parameterTable(config.model)
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
    return (model, optimizer, config, state)
  }

  /// Only the model (for evaluation, zero-shot, search).
  public static func loadModel(_ path: String) throws -> (model: CLIP, config: TrainingConfig) {
    let file = try SafetensorsFile(path: path)
    guard let configText = file.metadata["config"],
      let config = try? JSONDecoder().decode(TrainingConfig.self, from: Data(configText.utf8))  // the config holds only finite numbers
    else { throw CheckpointError(path: path, reason: "not a CLIP training checkpoint (no readable config in its metadata)") }
    var model = CLIP(config: config.model)
    try file.load(into: &model, table: CLIP.parameterTable(config.model), prefix: "model.", ignoring: { !$0.hasPrefix("model.") })
    return (model, config)
  }
}
