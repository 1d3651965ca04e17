// Which AdamW group trains each parameter of OpenAI's CLIP when it is fine-tuned (`clip train --clip`):
// open_clip's rule — weight decay on the weight matrices and the patch conv; none on biases,
// LayerNorms, the class, position and token embeddings, or logit_scale — with one learning rate per
// tower. LiT (`freezeImage`) freezes the whole vision tower with its projection.
//
//   group            parameters (open_clip keys)                              lr                  decay
//   image            visual.conv1, visual.…{in_proj,out_proj,c_fc,c_proj}.weight, visual.proj   imageLearningRate   towerWeightDecay
//   image.no_decay   visual.… biases, ln_*, class_embedding, positional_embedding             imageLearningRate   0
//   text             transformer.… weights, text_projection                  textLearningRate    towerWeightDecay
//   text.no_decay    transformer.… biases, ln_*, ln_final, token_embedding, positional_embedding   textLearningRate   0
//   scale            logit_scale                                             headLearningRate    0

import Foundation
import IO
import Models
import Datasets
import Runs

extension OpenAICLIP: TrainableModel {
  public static func optimizerGroups(_ config: OptimizerConfig) -> [OptimizerGroup] {
    [
      OptimizerGroup(name: "image", learningRate: config.imageLearningRate, weightDecay: config.towerWeightDecay),
      OptimizerGroup(name: "image.no_decay", learningRate: config.imageLearningRate, weightDecay: 0),
      OptimizerGroup(name: "text", learningRate: config.textLearningRate, weightDecay: config.towerWeightDecay),
      OptimizerGroup(name: "text.no_decay", learningRate: config.textLearningRate, weightDecay: 0),
      OptimizerGroup(name: "scale", learningRate: config.headLearningRate, weightDecay: 0),
    ]
  }

  public static func optimizerGroup(of key: String, _ config: OptimizerConfig) -> String? {
    if key == "logit_scale" { return "scale" }
    let image = key.hasPrefix("visual.")
    if image && config.freezeImage || !image && config.freezeText { return nil }
    let noDecay = key.hasSuffix("bias") || key.contains("ln_") || key.hasSuffix("embedding") || key.hasSuffix("embedding.weight")
    return (image ? "image" : "text") + (noDecay ? ".no_decay" : "")
  }
}

// MARK: - Checkpoints: written back in the form the model was read in

extension OpenAICLIP {
  public static func freshModel(_ config: TrainingConfig) throws -> OpenAICLIP {
    throw TrainingError(message: "OpenAI's CLIP is fine-tuned from its weights, not trained from scratch: give the checkpoint (clip train --clip DIR|FILE)")
  }

  /// OUT/NAME, a Hugging Face folder (config.json, model.safetensors with Hugging Face's keys, and the
  /// tokenizer and preprocessor files of the folder it came from) that `CLIPModel.from_pretrained`
  /// loads — or OUT/NAME.safetensors in the file's own spelling (open_clip's keys, or Hugging Face's)
  /// when it came from one file. "last" also gets OUT/last.training.safetensors:
  /// the weights again, AdamW's moments and the run's state in one atomically written file, so a resumed
  /// run (`loadRun`) never pairs one save's weights with another's moments, whenever it was killed.
  public func writeCheckpoint(_ name: String, in directory: String, optimizer: AdamW<OpenAICLIP>, config: TrainingConfig,
                              state: TrainingState) throws -> String {
    let format = origin?.format ?? .huggingFace
    // transformers refuses a file without "format": "pt"; it ignores the step.
    var writer = SafetensorsWriter(metadata: ["format": "pt", "training_step": "\(state.step)"])
    writer.add(self, table: Self.parameterTable(self.config, format: format))
    let path: String
    if origin?.isFolder ?? true {
      path = directory + "/" + name
      try writeFolder(writer, to: path)
    } else {
      path = directory + "/" + name + ".safetensors"
      try writer.write(to: path)
    }
    if name == "last" { try writeTrainingState(modelName: (path as NSString).lastPathComponent, in: directory, optimizer: optimizer, config: config, state: state) }
    return path
  }

  /// A folder is built beside its place and renamed into it, so OUT/NAME is always one whole model.
  func writeFolder(_ writer: SafetensorsWriter, to path: String) throws {
    let staging = temporaryName(for: path), previous = path + ".previous"
    let files = FileManager.default
    try? files.removeItem(atPath: staging)
    try ensureDirectory(staging)
    try writer.write(to: staging + "/model.safetensors")
    let source = origin.map { $0.path } ?? ""
    if files.fileExists(atPath: source + "/config.json") {
      try files.copyItem(atPath: source + "/config.json", toPath: staging + "/config.json")
    } else {
      try writeFileAtomically(Array(self.config.huggingFaceJSON().utf8), to: staging + "/config.json")
    }
    for file in Self.companionFiles where files.fileExists(atPath: source + "/" + file) {
      try files.copyItem(atPath: source + "/" + file, toPath: staging + "/" + file)
    }
    try? files.removeItem(atPath: previous)
    if files.fileExists(atPath: path) { try files.moveItem(atPath: path, toPath: previous) }
    try files.moveItem(atPath: staging, toPath: path)
    try? files.removeItem(atPath: previous)
  }

  /// The format of OUT/last.training.safetensors: the weights and AdamW's moments (model.KEY, adam.m.KEY,
  /// adam.v.KEY, open_clip's keys), and in its metadata the run's configuration and state, the model's
  /// shapes, and the checkpoint beside it that later saves export to (and its form).
  public static let trainingStateFormat = "openai-clip-finetune-2"

  func writeTrainingState(modelName: String, in directory: String, optimizer: AdamW<OpenAICLIP>, config: TrainingConfig,
                          state: TrainingState) throws {
    let encoder = JSONEncoder()
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    encoder.outputFormatting = [.sortedKeys]
    var writer = SafetensorsWriter(metadata: [
      "format_version": Self.trainingStateFormat, "model": modelName,
      "config": String(decoding: try encoder.encode(config), as: UTF8.self),
      "state": String(decoding: try encoder.encode(state), as: UTF8.self),
      "clip_config": String(decoding: try encoder.encode(self.config), as: UTF8.self),
      "model_format": (origin?.format ?? .huggingFace).rawValue, "model_is_folder": (origin?.isFolder ?? true) ? "1" : "0",
    ])
    // The weights too: one file written atomically is always a whole state, whenever the run is killed
    // (the exported OUT/last beside it can be a save newer or older).
    writer.add(self, table: parameters, prefix: "model.")
    writer.add(optimizer.firstMoment, table: parameters, prefix: "adam.m.")
    writer.add(optimizer.secondMoment, table: parameters, prefix: "adam.v.")
    try writer.write(to: directory + "/last.training.safetensors")
  }

  /// What a Hugging Face CLIP folder holds besides the weights and config.json.
  public static let companionFiles = ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                      "preprocessor_config.json"]
  public static var checkpointFiles: [String] {
    ["last", "best", "initial", "last.safetensors", "best.safetensors", "initial.safetensors", "last.training.safetensors",
     "last.previous", "best.previous"]
  }
  public static var resumableCheckpoint: String? { "last.training.safetensors" }

  /// The training state to resume from for `path`: the state file itself, or the one beside a
  /// checkpoint a fine-tuning run wrote (OUT/last or OUT/last.safetensors); nil when there is none.
  public static func trainingState(for path: String) -> String? {
    if path.hasSuffix(".training.safetensors") { return path }
    var base = path
    while base.hasSuffix("/") && base.count > 1 { base.removeLast() }
    if base.hasSuffix(".safetensors") { base.removeLast(".safetensors".count) }
    let candidate = base + ".training.safetensors"
    return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
  }

  /// The checkpoint (folder or file) whose weights the training state at `statePath` goes with.
  public static func fineTunedModel(stateAt statePath: String) throws -> String {
    let file = try SafetensorsFile(path: statePath)
    guard file.metadata["format_version"] == trainingStateFormat, let modelName = file.metadata["model"], !modelName.contains("/") else {
      throw CheckpointError(path: statePath, reason: "is not the training state of an OpenAI CLIP fine-tuning run (format \(trainingStateFormat))")
    }
    return parentPath(statePath).isEmpty ? modelName : parentPath(statePath) + "/" + modelName
  }

  /// Resumes a fine-tuning run from OUT/last.training.safetensors (or the OUT/last beside it): the
  /// weights, AdamW's moments and the run's state, all from that one file.
  public static func loadRun(_ path: String) throws -> LoadedRun<OpenAICLIP> {
    guard let statePath = trainingState(for: path) else {
      throw CheckpointError(path: path, reason: "has no last.training.safetensors beside it: only a fine-tuning run's last checkpoint can be resumed")
    }
    let file = try SafetensorsFile(path: statePath)
    let modelPath = try fineTunedModel(stateAt: statePath)
    guard let clipText = file.metadata["clip_config"] else {
      throw CheckpointError(path: statePath, reason: "has no clip_config in its metadata (the model's shapes)")
    }
    let config = try TrainingCheckpoint.readConfig(file, path: statePath)
    let state = try TrainingCheckpoint.readState(file, path: statePath)
    try state.validate(for: config, groups: optimizerGroups(config.optimizer).map(\.name), source: statePath)
    let clipConfig: OpenAICLIPConfig
    do { clipConfig = try TrainingCheckpoint.jsonDecoder.decode(OpenAICLIPConfig.self, from: Data(clipText.utf8)) } catch {
      throw CheckpointError(path: statePath, reason: "unreadable clip_config in its metadata: \(describeJSONError(error))")
    }
    try clipConfig.validate(source: statePath)
    guard let format = file.metadata["model_format"].flatMap(CLIPCheckpointFormat.init(rawValue:)) else {
      throw CheckpointError(path: statePath, reason: "has no model_format in its metadata (huggingFace or openCLIP)")
    }
    try file.requireParameters(atLeast: 3 * clipConfig.parameterCount)  // the weights and both moments
    var model = OpenAICLIP(zeros: clipConfig)
    // Later saves go where the run's own did, in the form it was read in.
    model.origin = OpenAICLIPOrigin(format: format, path: modelPath, isFolder: file.metadata["model_is_folder"] != "0")
    return try naming(statePath) {
      try file.load(into: &model, table: model.parameters, prefix: "model.", ignoring: { !$0.hasPrefix("model.") })
      var optimizer = AdamW(model: model, config: config.optimizer)
      var m = optimizer.firstMoment, v = optimizer.secondMoment
      try file.load(into: &m, table: model.parameters, prefix: "adam.m.", ignoring: { !$0.hasPrefix("adam.m.") })
      try file.load(into: &v, table: model.parameters, prefix: "adam.v.", ignoring: { !$0.hasPrefix("adam.v.") })
      (optimizer.firstMoment, optimizer.secondMoment, optimizer.step) = (m, v, state.step)
      if !state.groups.isEmpty { optimizer.groups = state.groups }
      return LoadedRun(model: model, optimizer: optimizer, config: config, state: state)
    }
  }
}

extension OpenAICLIPConfig {
  /// A Hugging Face CLIPModel config.json for these shapes (what `init(huggingFaceConfig:)` reads back).
  public func huggingFaceJSON() -> String {
    let act = activation == .quickGELU ? "quick_gelu" : "gelu"
    let eps = Double(layerNormEps)
    let vision: [String: Any] = ["image_size": imageSize, "patch_size": patchSize, "hidden_size": visionWidth, "intermediate_size": visionMLP,
                                 "num_hidden_layers": visionLayers, "num_attention_heads": visionHeads, "hidden_act": act,
                                 "layer_norm_eps": eps, "model_type": "clip_vision_model"]
    let text: [String: Any] = ["vocab_size": vocabSize, "max_position_embeddings": contextLength, "hidden_size": textWidth,
                               "intermediate_size": textMLP, "num_hidden_layers": textLayers, "num_attention_heads": textHeads,
                               "hidden_act": act, "layer_norm_eps": eps, "model_type": "clip_text_model",
                               "bos_token_id": vocabSize - 2, "eos_token_id": vocabSize - 1, "pad_token_id": 1]
    let root: [String: Any] = ["architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": embedDim,
                               "logit_scale_init_value": 2.6592, "vision_config": vision, "text_config": text]
    let data = (try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
