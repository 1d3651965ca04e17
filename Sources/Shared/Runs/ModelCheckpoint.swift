// A training checkpoint read as a model: the format version, the config in its metadata (decoded and
// validated), and the weights under "model.". Evaluation reads checkpoints through this; Training
// adds saving, the optimiser state and resume (Training/TrainingCheckpoint.swift).

import Models
import Image
import IO
import Foundation

public enum TrainingCheckpoint {
  public static let formatVersion = "1"

  /// Only the model (for evaluation, zero-shot, search), validated as `load` does.
  public static func loadModel(_ path: String) throws -> LoadedModel {
    let file = try SafetensorsFile(path: path)
    let config = try readConfig(file, path: path)
    return try naming(path) {
      try file.requireParameters(atLeast: config.model.parameterLowerBound, prefix: "model.")
      var model = CLIP(config: config.model)
      try file.load(into: &model, table: CLIP.parameterTable(config.model), prefix: "model.", ignoring: { !$0.hasPrefix("model.") })
      return LoadedModel(model: model, config: config)
    }
  }

  /// A trained model and the configuration it was trained with.
  public struct LoadedModel {
    public var model: CLIP
    public var config: TrainingConfig
  }

  public static var jsonDecoder: JSONDecoder {
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return decoder
  }

  /// The `config` metadata, decoded and validated (every field a layer divides by or indexes with).
  public static func readConfig(_ file: SafetensorsFile, path: String) throws -> TrainingConfig {
    guard let configText = file.metadata["config"] else {
      throw CheckpointError(path: path, reason: "not a CLIP training checkpoint (no config in its metadata)")
    }
    let config: TrainingConfig
    do { config = try jsonDecoder.decode(TrainingConfig.self, from: Data(configText.utf8)) } catch {
      throw CheckpointError(path: path, reason: "unreadable config in its metadata: \(describeJSONError(error))")
    }
    try config.validate(source: path + " (config metadata)")
    return config
  }
}
