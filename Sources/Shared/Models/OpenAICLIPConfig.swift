// The shape of an OpenAI-style CLIP: two transformers and the width they meet at.
//
//   vision: S×S image → (S/P)² patches of width Dv, Lv pre-norm blocks of Hv heads → class token → E
//   text:   77 BPE ids → width Dt, Lt causal pre-norm blocks of Ht heads → the <|endoftext|> token → E
//
// Presets for OpenAI's three ViTs; `init(huggingFaceConfig:)` reads a Hugging Face CLIPModel config.json.

import Foundation
import IO
import Layers
import TensorCore

public struct OpenAICLIPConfig: Sendable, Equatable, Codable {
  public var imageSize = 224
  public var patchSize = 32
  public var visionWidth = 768
  public var visionLayers = 12
  public var visionHeads = 12
  public var contextLength = 77
  public var vocabSize = 49408
  public var textWidth = 512
  public var textLayers = 12
  public var textHeads = 8
  public var embedDim = 512  // E: both towers project to it
  public var activation: Activation = .quickGELU  // OpenAI's weights; open_clip's plain "ViT-B-32" uses .gelu
  public var layerNormEps: Float = 1e-5

  public init() {}

  public var gridSize: Int { imageSize / patchSize }
  public var numPatches: Int { gridSize * gridSize }
  public var visionTokens: Int { numPatches + 1 }  // the class token first
  public var visionMLP: Int { 4 * visionWidth }
  public var textMLP: Int { 4 * textWidth }

  /// OpenAI's ViT-B/32: 88 M image + 63 M text parameters.
  public static let b32 = OpenAICLIPConfig()
  /// OpenAI's ViT-B/16: the same widths, 16-pixel patches (197 tokens).
  public static var b16: OpenAICLIPConfig { var c = OpenAICLIPConfig(); c.patchSize = 16; return c }
  /// OpenAI's ViT-L/14: 1024 wide, 24 blocks; text 768 wide; E = 768.
  public static var l14: OpenAICLIPConfig {
    var c = OpenAICLIPConfig()
    (c.patchSize, c.visionWidth, c.visionLayers, c.visionHeads) = (14, 1024, 24, 16)
    (c.textWidth, c.textHeads, c.embedDim) = (768, 12, 768)
    return c
  }

  public static func named(_ name: String) -> OpenAICLIPConfig? {
    switch name.lowercased() {
    case "vit-b/32", "vit-b-32", "b32": return .b32
    case "vit-b/16", "vit-b-16", "b16": return .b16
    case "vit-l/14", "vit-l-14", "l14": return .l14
    default: return nil
    }
  }

  /// Throws unless the shapes make sense (positive sizes, whole patches, widths divisible by heads),
  /// so a config read from a file never reaches an allocation or a division it cannot survive.
  public func validate(source: String) throws {
    func check(_ ok: Bool, _ reason: String) throws { if !ok { throw ConfigurationError(source: source, problems: [reason]) } }
    let sizes = [imageSize, patchSize, visionWidth, visionLayers, visionHeads, contextLength, vocabSize, textWidth, textLayers, textHeads, embedDim]
    try check(sizes.allSatisfy { $0 > 0 && $0 <= 1 << 20 }, "every size must be between 1 and 2²⁰ (got \(sizes))")
    try check(imageSize % patchSize == 0, "image size \(imageSize) is not a multiple of the patch size \(patchSize)")
    try check(visionWidth % visionHeads == 0, "vision width \(visionWidth) is not divisible by \(visionHeads) heads")
    try check(textWidth % textHeads == 0, "text width \(textWidth) is not divisible by \(textHeads) heads")
    try check(layerNormEps > 0 && layerNormEps < 1, "layer_norm_eps \(layerNormEps) must be in (0, 1)")
    try check(contextLength >= 2, "the text context (\(contextLength)) must hold <|startoftext|> and <|endoftext|>")
    try check(numPatches <= 1 << 16, "\(imageSize)-pixel images in \(patchSize)-pixel patches make \(numPatches) patches (at most 65,536)")
    try check(parameterCount < 2e9, String(format: "the model would have %.3g parameters (this port allocates at most 2e9, 8 GB)", parameterCount))
  }

  /// Every parameter a checkpoint of this configuration holds (the model adds only zero biases),
  /// counted in Double before anything is allocated.
  public var parameterCount: Double {
    func tower(_ width: Int, _ layers: Int) -> Double { Double(layers) * (12 * Double(width) * Double(width) + 13 * Double(width)) }
    let dv = Double(visionWidth), dt = Double(textWidth), e = Double(embedDim)
    let vision = dv * 3 * Double(patchSize) * Double(patchSize) + dv * Double(visionTokens + 5) + tower(visionWidth, visionLayers)
    let text = Double(vocabSize) * dt + Double(contextLength) * dt + 2 * dt + tower(textWidth, textLayers)
    return vision + text + e * (dv + dt) + 1
  }

  /// A Hugging Face CLIPModel config.json (its vision_config, text_config and projection_dim).
  public init(huggingFaceConfig path: String) throws {
    let root = try readJSONObject(path)
    guard let vision = root["vision_config"] as? [String: Any], let text = root["text_config"] as? [String: Any] else {
      throw ConfigurationError(source: path, problems: ["has no vision_config / text_config objects (not a CLIPModel config)"])
    }
    func int(_ object: [String: Any], _ key: String, _ fallback: Int, _ section: String) throws -> Int {
      guard let value = object[key] else { return fallback }
      guard let number = jsonInteger(value), abs(number) < 1_000_000_000 else {
        throw ConfigurationError(source: path, problems: ["\(section).\(key) is \(describeJSONValue(value)), not a whole number"])
      }
      return number
    }
    self.init()
    // Hugging Face's defaults are ViT-B/32's, which these fallbacks repeat.
    imageSize = try int(vision, "image_size", 224, "vision_config")
    patchSize = try int(vision, "patch_size", 32, "vision_config")
    visionWidth = try int(vision, "hidden_size", 768, "vision_config")
    visionLayers = try int(vision, "num_hidden_layers", 12, "vision_config")
    visionHeads = try int(vision, "num_attention_heads", 12, "vision_config")
    contextLength = try int(text, "max_position_embeddings", 77, "text_config")
    vocabSize = try int(text, "vocab_size", 49408, "text_config")
    textWidth = try int(text, "hidden_size", 512, "text_config")
    textLayers = try int(text, "num_hidden_layers", 12, "text_config")
    textHeads = try int(text, "num_attention_heads", 8, "text_config")
    embedDim = try int(root, "projection_dim", 512, "config")
    for (section, object, width) in [("vision_config", vision, visionWidth), ("text_config", text, textWidth)] {
      if object["intermediate_size"] != nil {
        let mlp = try int(object, "intermediate_size", 4 * width, section)
        guard mlp == 4 * width else {
          throw ConfigurationError(source: path, problems: ["\(section).intermediate_size is \(mlp); this port supports 4 × hidden_size (\(4 * width))"])
        }
      }
      if let value = object["hidden_act"], !(value is String) {
        throw ConfigurationError(source: path, problems: ["\(section).hidden_act is \(describeJSONValue(value)), not a name"])
      }
      let act = object["hidden_act"] as? String ?? "quick_gelu"
      guard let parsed = Activation(huggingFaceName: act) else {
        throw ConfigurationError(source: path, problems: ["\(section).hidden_act \"\(act)\" is not quick_gelu or gelu"])
      }
      activation = parsed
      if let eps = object["layer_norm_eps"] {
        guard let number = jsonDouble(eps) else {
          throw ConfigurationError(source: path, problems: ["\(section).layer_norm_eps is \(describeJSONValue(eps)), not a number"])
        }
        layerNormEps = Float(number)
      }
    }
    let visionAct = vision["hidden_act"] as? String ?? "quick_gelu", textAct = text["hidden_act"] as? String ?? "quick_gelu"
    guard visionAct == textAct else {
      throw ConfigurationError(source: path, problems: ["the towers use different activations (\(visionAct), \(textAct)); this port uses one"])
    }
    try validate(source: path)
  }
}

