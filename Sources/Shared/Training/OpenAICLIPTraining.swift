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
  /// when it came from one file. Only the weights: a fine-tuning run is not resumable (yet).
  public func writeCheckpoint(_ name: String, in directory: String, optimizer: AdamW<OpenAICLIP>, config: TrainingConfig,
                              state: TrainingState) throws -> String {
    let format = origin?.format ?? .huggingFace
    var writer = SafetensorsWriter(metadata: ["format": "pt"])  // transformers refuses a file without it
    writer.add(self, table: Self.parameterTable(self.config, format: format))
    guard origin?.isFolder ?? true else {
      let path = directory + "/" + name + ".safetensors"
      try writer.write(to: path)
      return path
    }
    // A folder is built beside its place and renamed into it, so OUT/NAME is always one whole model.
    let path = directory + "/" + name, staging = temporaryName(for: path), previous = path + ".previous"
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
    return path
  }

  /// What a Hugging Face CLIP folder holds besides the weights and config.json.
  public static let companionFiles = ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                      "preprocessor_config.json"]
  public static var checkpointFiles: [String] {
    ["last", "best", "initial", "last.safetensors", "best.safetensors", "initial.safetensors", "last.previous", "best.previous"]
  }
  public static var resumableCheckpoint: String? { nil }
  public static func loadRun(_ path: String) throws -> LoadedRun<OpenAICLIP> {
    throw TrainingError(message: "a fine-tuning run of OpenAI's CLIP cannot be resumed yet (its checkpoints hold the weights, not AdamW's "
      + "moments): start a new run from \(path) with --clip \(path)")
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
