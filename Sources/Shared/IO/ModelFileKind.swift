// What a model path is, told from its contents, so a file given to the wrong flag gets a message that
// names the right one: a Hugging Face CLIP folder passed to --model is pointed at --clip, a clip index
// passed as a checkpoint is called an index. Nothing is loaded: the safetensors header, the metadata
// and a folder's config.json are enough.

import Foundation

public enum ModelFileKind: Equatable, Sendable {
  case trainingCheckpoint  // clip train / chapter 08: metadata config + state
  case clipIndex  // clip index: metadata files
  case preprocessOutput  // clip preprocess: pixel_values
  case huggingFaceCLIPFolder  // config.json with vision_config + model.safetensors
  case huggingFaceCLIPWeights  // that folder's model.safetensors on its own
  case openCLIPWeights  // open_clip's state dict (visual.conv1.weight)
  case huggingFaceBERTFolder  // config.json (bert) + vocab.txt
  case timmViT  // patch_embed.proj.weight
  case otherSafetensors
  case notSafetensors(String)  // what it looks like instead
  case trainingRunFolder  // OUT of clip train / chapter 08: last.safetensors, best.safetensors
  case folder  // a folder that is none of the above

  /// The kind of `path`, or nil when nothing is there.
  public static func identify(_ path: String) -> ModelFileKind? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
    if isDirectory.boolValue {
      let hasConfig = FileManager.default.fileExists(atPath: path + "/config.json")
      guard let config = hasConfig ? try? readJSONObject(path + "/config.json") : [:] else { return nil }  // broken: the error says so
      if config["vision_config"] != nil || (config["model_type"] as? String) == "clip" { return .huggingFaceCLIPFolder }
      if (config["model_type"] as? String) == "bert" || FileManager.default.fileExists(atPath: path + "/vocab.txt") { return .huggingFaceBERTFolder }
      if FileManager.default.fileExists(atPath: path + "/best.safetensors") || FileManager.default.fileExists(atPath: path + "/last.safetensors") {
        return .trainingRunFolder
      }
      return .folder
    }
    let file: SafetensorsFile
    do { file = try SafetensorsFile(path: path) } catch {
      if case .inFile(_, .notSafetensors(let kind))? = error as? SafetensorsError { return .notSafetensors(kind) }
      return .otherSafetensors
    }
    if file.metadata["config"] != nil && file.metadata["state"] != nil { return .trainingCheckpoint }
    if file.metadata["files"] != nil { return .clipIndex }
    if file.names == ["pixel_values"] { return .preprocessOutput }
    if file.entries["visual.conv1.weight"] != nil { return .openCLIPWeights }
    if file.entries["vision_model.embeddings.patch_embedding.weight"] != nil { return .huggingFaceCLIPWeights }
    if file.entries["patch_embed.proj.weight"] != nil { return .timmViT }
    return .otherSafetensors
  }

  /// What the thing at `path` is, and which flag takes it.
  public func explanation(_ path: String) -> String {
    switch self {
    case .trainingCheckpoint:
      return "it is a training checkpoint of clip train / chapter 08, which clip zero-shot, index, search and retrieve-eval read (with --model)"
    case .trainingRunFolder: return "it is a training run's folder: give the checkpoint in it, \(path)/best.safetensors (or last.safetensors)"
    case .clipIndex: return "it is a clip index: search it with clip search INDEX QUERY"
    case .preprocessOutput: return "it is the pixel values clip preprocess wrote, not a model"
    case .huggingFaceCLIPFolder: return "it is a Hugging Face CLIP folder: give it with --clip"
    case .huggingFaceCLIPWeights:
      return "it is the model.safetensors of a Hugging Face CLIP folder: give the folder (with its config.json) to --clip"
    case .openCLIPWeights: return "it is an open_clip checkpoint (OpenAI's CLIP): give it with --clip"
    case .huggingFaceBERTFolder: return "it is a Hugging Face BERT folder (a text encoder): clip embed-text --model takes it"
    case .timmViT: return "it is a timm ViT checkpoint (an image tower): clip embed-image --vit takes it"
    case .otherSafetensors: return "it is a safetensors file of no kind this tool knows"
    case .notSafetensors(let kind): return "it is not a safetensors file (\(kind))"
    case .folder: return "it is a folder without a model's config.json"
    }
  }
}

/// `error`'s message, followed by what `path` really is when that is not what the flag wanted: "…; it
/// is a Hugging Face CLIP folder: give it with --clip".
public func explainingKind(_ error: Error, path: String, expected: [ModelFileKind]) -> String {
  guard let kind = ModelFileKind.identify(path), !expected.contains(kind), kind != .folder, kind != .otherSafetensors else { return "\(error)" }
  if case .notSafetensors = kind, "\(error)".contains("not a safetensors file") { return "\(error)" }
  return "\(error) — \(kind.explanation(path))"
}
