// OpenAI's CLIP: the model trained on 400 M image–text pairs, built from the layers chapters 02–05 made.
//
//   image (B, 3, S, S) → conv P×P, no bias → (B, N, Dv) → [class; patches] + pos → ln_pre
//     → Lv pre-norm blocks (attention, QuickGELU MLP) → ln_post(token 0) → ·proj → (B, E)
//   ids (B, L) → token embedding + pos → Lt pre-norm blocks, each token attending only to itself and
//     the tokens before it (causal) → ln_final → the row at <|endoftext|> → ·text_projection → (B, E)
//   logits = exp(logit_scale) · normalise(image) · normalise(text)ᵀ
//
// Two key tables map checkpoints onto these properties, keys unchanged: Hugging Face's CLIPModel
// (`vision_model.…`, q/k/v apart) and open_clip / OpenAI's state dict (`visual.…`, q/k/v fused as
// in_proj_weight, projections stored (D, E) and used as x·proj).

import Foundation
import IO
import Layers
import TensorCore
import Text

/// The two checkpoint spellings of the same model.
public enum CLIPCheckpointFormat: String, Sendable {
  case huggingFace  // CLIPModel.save_pretrained: config.json + model.safetensors
  case openCLIP  // open_clip / OpenAI state_dict saved as safetensors
}

/// What `encodeImage` / `encodeText` give: the features and the pooled row they were projected from.
public struct OpenAICLIPOutput: Sendable {
  public var features: Tensor  // (B, E) before normalisation (get_image_features / encode_image)
  public var pooled: Tensor  // (B, D) the normalised class / end-of-text token, before the projection
}

/// What one tower's forward keeps for its backward: every block's cache and the pooled rows.
public struct OpenAICLIPTowerCache: Sendable {
  public var embedded: Tensor  // (B, T, D) the blocks' input (after ln_pre in the vision tower)
  public var blocks: [PreNormBlockCache]
  public var beforeNorm: Tensor  // (B, D) the pooled row before the final LayerNorm
  public var norm: LayerNormCache
  public var pooledIndex: [Int]  // which token each row pooled
}

/// `encodeImageForTraining`: the output and everything `backwardImage` needs.
public struct OpenAICLIPImageTrace: Sendable {
  public var output: OpenAICLIPOutput
  public var tower: OpenAICLIPTowerCache
  public var patch: PatchEmbeddingCache
  public var preNorm: LayerNormCache
  public var beforePreNorm: Tensor  // (B, T, D) [class; patches] + positions
}

/// `encodeTextForTraining`: the output and everything `backwardText` needs.
public struct OpenAICLIPTextTrace: Sendable {
  public var output: OpenAICLIPOutput
  public var tower: OpenAICLIPTowerCache
  public var ids: [[Int]]  // (B, ≤ L) the rows as given
}

/// Where a loaded model came from: its key spelling, and whether it was a Hugging Face folder. A
/// fine-tuned copy is written back in the same form (`clip train --clip`).
public struct OpenAICLIPOrigin: Sendable, Equatable {
  public var format: CLIPCheckpointFormat
  public var path: String
  public var isFolder: Bool
  public init(format: CLIPCheckpointFormat, path: String, isFolder: Bool) {
    (self.format, self.path, self.isFolder) = (format, path, isFolder)
  }
}

/// Which of CLIP's two towers a model holds.
public struct OpenAICLIPTowers: OptionSet, Sendable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }
  public static let image = OpenAICLIPTowers(rawValue: 1)  // the ViT: photos
  public static let text = OpenAICLIPTowers(rawValue: 2)  // the text transformer: sentences
  public static let both: OpenAICLIPTowers = [.image, .text]
}

public struct OpenAICLIP: Sendable {
  public var config: OpenAICLIPConfig
  /// Set by `init(checkpoint:)`; nil for a model built in memory.
  public var origin: OpenAICLIPOrigin? = nil
  /// The towers this model holds: `.both`, unless it was loaded for one task (`init(checkpoint:towers:)`).
  /// A missing tower is empty, and using it stops the program.
  public private(set) var towers: OpenAICLIPTowers = .both
  // Vision tower
  public var patchEmbed: PatchEmbedding  // (Dv, 3, P, P), its bias zero and not in any checkpoint
  public var classEmbedding: Tensor  // (Dv)
  public var visionPositions: Tensor  // (Tv, Dv)
  public var lnPre: LayerNorm
  public var visionBlocks: [PreNormBlock]
  public var lnPost: LayerNorm
  public var visualProjection: Linear  // (E, Dv), bias zero and not in any checkpoint
  // Text tower
  public var tokenEmbedding: Tensor  // (V, Dt)
  public var textPositions: Tensor  // (L, Dt)
  public var textBlocks: [PreNormBlock]  // attention causal
  public var lnFinal: LayerNorm
  public var textProjection: Linear  // (E, Dt), bias zero and not in any checkpoint
  public var logitScale: Tensor  // () log of the inverse temperature; OpenAI's trained value is ln 100

  // MARK: - Construction

  /// Zeros of every shape, then each parameter from `Tensor.deterministic` under its Hugging Face key
  /// (the fixture script fills PyTorch's model the same way).
  public init(config: OpenAICLIPConfig, deterministic format: CLIPCheckpointFormat = .huggingFace, seed: UInt64 = 0) {
    self.init(zeros: config)
    fillDeterministic(&self, table: Self.parameterTable(config, format: format), seed: seed)
  }

  /// Every parameter zero, in the shapes of `config` (to be filled from a file). A tower not in `towers`
  /// holds nothing (no blocks, empty tensors).
  public init(zeros config: OpenAICLIPConfig, towers: OpenAICLIPTowers = .both) {
    self.config = config
    self.towers = towers
    let image = towers.contains(.image), text = towers.contains(.text)
    let e = config.embedDim, p = config.patchSize
    let dv = image ? config.visionWidth : 0, dt = text ? config.textWidth : 0
    func z(_ s: [Int]) -> Tensor { Tensor.zeros(s) }
    func ln(_ d: Int) -> LayerNorm { LayerNorm(weight: z([d]), bias: z([d]), eps: config.layerNormEps) }
    func block(_ d: Int, heads: Int, causal: Bool) -> PreNormBlock {
      PreNormBlock(norm1: ln(d), attn: MultiHeadAttention(qkv: Linear(weight: z([3 * d, d]), bias: z([3 * d])),
                                                          proj: Linear(weight: z([d, d]), bias: z([d])), heads: heads, causal: causal),
                   norm2: ln(d), mlp: MLP(fc1: Linear(weight: z([4 * d, d]), bias: z([4 * d])),
                                          fc2: Linear(weight: z([d, 4 * d]), bias: z([d])), activation: config.activation))
    }
    patchEmbed = PatchEmbedding(weight: z([dv, 3, p, p]), bias: z([dv]))
    classEmbedding = z([dv])
    visionPositions = z([image ? config.visionTokens : 0, dv])
    lnPre = ln(dv)
    visionBlocks = (0..<(image ? config.visionLayers : 0)).map { _ in block(dv, heads: config.visionHeads, causal: false) }
    lnPost = ln(dv)
    visualProjection = Linear(weight: z([e, dv]), bias: z([e]))
    tokenEmbedding = z([text ? config.vocabSize : 0, dt])
    textPositions = z([text ? config.contextLength : 0, dt])
    textBlocks = (0..<(text ? config.textLayers : 0)).map { _ in block(dt, heads: config.textHeads, causal: true) }
    lnFinal = ln(dt)
    textProjection = Linear(weight: z([e, dt]), bias: z([e]))
    logitScale = Tensor(shape: [], storage: [0])
  }

  /// Loads a checkpoint: a Hugging Face CLIPModel folder (config.json + model.safetensors) or one
  /// safetensors file in either spelling (the format is told by its keys; the shapes come from
  /// `config`, or for a file without one, from the preset its shapes match). `towers` may name one: a
  /// search by sentences needs only `.text` (40% of ViT-B/32's weights), an index only `.image`; the
  /// other tower's keys must be in the file, but are neither read nor checked.
  public init(checkpoint path: String, config given: OpenAICLIPConfig? = nil, towers: OpenAICLIPTowers = .both) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw CheckpointError(path: path, reason: "no such file or folder")
    }
    var config = given
    var weights = path
    if isDirectory.boolValue {
      let configPath = path + "/config.json"
      if config == nil, FileManager.default.fileExists(atPath: configPath) { config = try OpenAICLIPConfig(huggingFaceConfig: configPath) }
      weights = path + "/model.safetensors"
      guard FileManager.default.fileExists(atPath: weights) else {
        throw CheckpointError(path: path, reason: "has no model.safetensors (a Hugging Face CLIP folder holds config.json and model.safetensors)")
      }
    }
    let file = try naming(weights) { try SafetensorsFile(path: weights) }
    let format: CLIPCheckpointFormat
    if file.entries["visual.conv1.weight"] != nil {
      format = .openCLIP
    } else if file.entries["vision_model.embeddings.patch_embedding.weight"] != nil {
      format = .huggingFace
    } else {
      throw CheckpointError(path: weights, reason: "is neither a Hugging Face CLIPModel (vision_model.…) nor an open_clip state dict (visual.conv1.weight)")
    }
    let resolved = try config ?? Self.inferConfig(file, format: format, path: weights)
    try resolved.validate(source: weights)
    // Every parameter comes from the file: one that holds fewer cannot fill this config, so it is refused
    // before the model is allocated (a config.json claiming width 10⁶ is an error, not an out-of-memory kill).
    try file.requireParameters(atLeast: resolved.parameterCount)
    self.init(zeros: resolved, towers: towers)
    let table = Self.parameterTable(resolved, format: format).filter { towers.contains(Self.tower(ofKey: $0.key)) }
    do {
      // Hugging Face's position_ids buffers are saved by older versions; nothing reads them.
      try file.load(into: &self, table: table, ignoring: { $0.hasSuffix("position_ids") || !towers.contains(Self.tower(ofKey: $0)) })
    } catch {
      throw CheckpointError(path: weights, reason: "\(error)")
    }
    origin = OpenAICLIPOrigin(format: format, path: path, isFolder: isDirectory.boolValue)
  }

  /// The preset whose shapes a config-less file matches (by its patch embedding and token table).
  static func inferConfig(_ file: SafetensorsFile, format: CLIPCheckpointFormat, path: String) throws -> OpenAICLIPConfig {
    let conv = format == .openCLIP ? "visual.conv1.weight" : "vision_model.embeddings.patch_embedding.weight"
    let layers = format == .openCLIP ? "visual.transformer.resblocks." : "vision_model.encoder.layers."
    for preset in [OpenAICLIPConfig.b32, .b16, .l14] {
      let depth = Set(file.names.filter { $0.hasPrefix(layers) }.compactMap { $0.dropFirst(layers.count).split(separator: ".").first }).count
      if file.entries[conv]?.shape == [preset.visionWidth, 3, preset.patchSize, preset.patchSize] && depth == preset.visionLayers {
        return preset
      }
    }
    throw CheckpointError(path: path, reason: "its shapes match none of ViT-B/32, ViT-B/16, ViT-L/14, so its sizes are unknown without the config.json of its folder")
  }

  public var parameterCount: Int {
    Self.parameterTable(config, format: .openCLIP).filter { towers.contains(Self.tower(ofKey: $0.key)) }.reduce(0) { $0 + $1.get(self).count }
  }

  /// The tower a checkpoint key belongs to, in either format: the vision tower's are open_clip's `visual.…`,
  /// Hugging Face's `vision_model.…` and `visual_projection.weight`; `logit_scale` belongs to both (the
  /// empty set: every model holds it); every other key is the text tower's.
  static func tower(ofKey key: String) -> OpenAICLIPTowers {
    if key == "logit_scale" { return [] }
    return key.hasPrefix("visual.") || key.hasPrefix("vision_model.") || key.hasPrefix("visual_projection.") ? .image : .text
  }
}

// MARK: - Checkpoint keys → properties

extension OpenAICLIP {
  /// Every parameter under its key in `format`. The projections and the conv have no bias in either
  /// format (the model keeps zero biases, never loaded or saved).
  public static func parameterTable(_ config: OpenAICLIPConfig, format: CLIPCheckpointFormat) -> [Parameter<OpenAICLIP>] {
    switch format {
    case .huggingFace: return huggingFaceTable(config)
    case .openCLIP: return openCLIPTable(config)
    }
  }

  static func huggingFaceTable(_ c: OpenAICLIPConfig) -> [Parameter<OpenAICLIP>] {
    func blockKeys(_ prefix: String, _ blocks: WritableKeyPath<OpenAICLIP, [PreNormBlock]>, _ i: Int, _ d: Int) -> [Parameter<OpenAICLIP>] {
      let b = blocks.appending(path: \[PreNormBlock][i])
      return [
        Parameter("\(prefix).layer_norm1.weight", b.appending(path: \.norm1.weight)),
        Parameter("\(prefix).layer_norm1.bias", b.appending(path: \.norm1.bias)),
        Parameter("\(prefix).self_attn.q_proj.weight", rows: 0..<d, of: b.appending(path: \.attn.qkv.weight)),
        Parameter("\(prefix).self_attn.q_proj.bias", rows: 0..<d, of: b.appending(path: \.attn.qkv.bias)),
        Parameter("\(prefix).self_attn.k_proj.weight", rows: d..<(2 * d), of: b.appending(path: \.attn.qkv.weight)),
        Parameter("\(prefix).self_attn.k_proj.bias", rows: d..<(2 * d), of: b.appending(path: \.attn.qkv.bias)),
        Parameter("\(prefix).self_attn.v_proj.weight", rows: (2 * d)..<(3 * d), of: b.appending(path: \.attn.qkv.weight)),
        Parameter("\(prefix).self_attn.v_proj.bias", rows: (2 * d)..<(3 * d), of: b.appending(path: \.attn.qkv.bias)),
        Parameter("\(prefix).self_attn.out_proj.weight", b.appending(path: \.attn.proj.weight)),
        Parameter("\(prefix).self_attn.out_proj.bias", b.appending(path: \.attn.proj.bias)),
        Parameter("\(prefix).layer_norm2.weight", b.appending(path: \.norm2.weight)),
        Parameter("\(prefix).layer_norm2.bias", b.appending(path: \.norm2.bias)),
        Parameter("\(prefix).mlp.fc1.weight", b.appending(path: \.mlp.fc1.weight)),
        Parameter("\(prefix).mlp.fc1.bias", b.appending(path: \.mlp.fc1.bias)),
        Parameter("\(prefix).mlp.fc2.weight", b.appending(path: \.mlp.fc2.weight)),
        Parameter("\(prefix).mlp.fc2.bias", b.appending(path: \.mlp.fc2.bias)),
      ]
    }
    var table: [Parameter<OpenAICLIP>] = [
      Parameter("vision_model.embeddings.class_embedding", \.classEmbedding),
      Parameter("vision_model.embeddings.patch_embedding.weight", \.patchEmbed.weight),
      Parameter("vision_model.embeddings.position_embedding.weight", \.visionPositions),
      Parameter("vision_model.pre_layrnorm.weight", \.lnPre.weight),  // sic: Hugging Face's spelling
      Parameter("vision_model.pre_layrnorm.bias", \.lnPre.bias),
    ]
    for i in 0..<c.visionLayers { table += blockKeys("vision_model.encoder.layers.\(i)", \.visionBlocks, i, c.visionWidth) }
    table += [
      Parameter("vision_model.post_layernorm.weight", \.lnPost.weight),
      Parameter("vision_model.post_layernorm.bias", \.lnPost.bias),
      Parameter("visual_projection.weight", \.visualProjection.weight),
      Parameter("text_model.embeddings.token_embedding.weight", \.tokenEmbedding),
      Parameter("text_model.embeddings.position_embedding.weight", \.textPositions),
    ]
    for i in 0..<c.textLayers { table += blockKeys("text_model.encoder.layers.\(i)", \.textBlocks, i, c.textWidth) }
    table += [
      Parameter("text_model.final_layer_norm.weight", \.lnFinal.weight),
      Parameter("text_model.final_layer_norm.bias", \.lnFinal.bias),
      Parameter("text_projection.weight", \.textProjection.weight),
      Parameter("logit_scale", \.logitScale),
    ]
    return table
  }

  static func openCLIPTable(_ c: OpenAICLIPConfig) -> [Parameter<OpenAICLIP>] {
    func blockKeys(_ prefix: String, _ blocks: WritableKeyPath<OpenAICLIP, [PreNormBlock]>, _ i: Int) -> [Parameter<OpenAICLIP>] {
      let b = blocks.appending(path: \[PreNormBlock][i])
      return [
        Parameter("\(prefix).ln_1.weight", b.appending(path: \.norm1.weight)),
        Parameter("\(prefix).ln_1.bias", b.appending(path: \.norm1.bias)),
        Parameter("\(prefix).attn.in_proj_weight", b.appending(path: \.attn.qkv.weight)),  // (3D, D): q, k, v stacked
        Parameter("\(prefix).attn.in_proj_bias", b.appending(path: \.attn.qkv.bias)),
        Parameter("\(prefix).attn.out_proj.weight", b.appending(path: \.attn.proj.weight)),
        Parameter("\(prefix).attn.out_proj.bias", b.appending(path: \.attn.proj.bias)),
        Parameter("\(prefix).ln_2.weight", b.appending(path: \.norm2.weight)),
        Parameter("\(prefix).ln_2.bias", b.appending(path: \.norm2.bias)),
        Parameter("\(prefix).mlp.c_fc.weight", b.appending(path: \.mlp.fc1.weight)),
        Parameter("\(prefix).mlp.c_fc.bias", b.appending(path: \.mlp.fc1.bias)),
        Parameter("\(prefix).mlp.c_proj.weight", b.appending(path: \.mlp.fc2.weight)),
        Parameter("\(prefix).mlp.c_proj.bias", b.appending(path: \.mlp.fc2.bias)),
      ]
    }
    // open_clip stores the projections (D, E) and multiplies x·proj; our Linear holds (E, D): transposed.
    func transposed(_ key: String, _ path: WritableKeyPath<OpenAICLIP, Tensor>) -> Parameter<OpenAICLIP> {
      Parameter(key, get: { $0[keyPath: path].transposed() }, set: { $0[keyPath: path] = $1.transposed() })
    }
    var table: [Parameter<OpenAICLIP>] = [
      Parameter("visual.class_embedding", \.classEmbedding),
      Parameter("visual.positional_embedding", \.visionPositions),
      Parameter("visual.conv1.weight", \.patchEmbed.weight),
      Parameter("visual.ln_pre.weight", \.lnPre.weight),
      Parameter("visual.ln_pre.bias", \.lnPre.bias),
    ]
    for i in 0..<c.visionLayers { table += blockKeys("visual.transformer.resblocks.\(i)", \.visionBlocks, i) }
    table += [
      Parameter("visual.ln_post.weight", \.lnPost.weight),
      Parameter("visual.ln_post.bias", \.lnPost.bias),
      transposed("visual.proj", \.visualProjection.weight),
      Parameter("token_embedding.weight", \.tokenEmbedding),
      Parameter("positional_embedding", \.textPositions),
    ]
    for i in 0..<c.textLayers { table += blockKeys("transformer.resblocks.\(i)", \.textBlocks, i) }
    table += [
      Parameter("ln_final.weight", \.lnFinal.weight),
      Parameter("ln_final.bias", \.lnFinal.bias),
      transposed("text_projection", \.textProjection.weight),
      Parameter("logit_scale", \.logitScale),
    ]
    return table
  }
}

// MARK: - Forward

extension OpenAICLIP {
  /// pixels (B, 3, S, S), CLIP-normalised → image features (B, E), not normalised.
  public func encodeImage(_ pixels: Tensor, onBlock: ((Int, Tensor, Double) -> Void)? = nil) -> OpenAICLIPOutput {
    imageForward(pixels, keepCaches: false, onBlock: onBlock).output
  }

  /// `encodeImage`, keeping what `backwardImage` needs.
  public func encodeImageForTraining(_ pixels: Tensor) -> OpenAICLIPImageTrace { imageForward(pixels, keepCaches: true, onBlock: nil) }

  func imageForward(_ pixels: Tensor, keepCaches: Bool, onBlock: ((Int, Tensor, Double) -> Void)?) -> OpenAICLIPImageTrace {
    precondition(towers.contains(.image), "this model was loaded without its image tower: it embeds sentences only")
    let s = config.imageSize
    precondition(pixels.rank == 4 && pixels.shape[1] == 3 && pixels.shape[2] == s && pixels.shape[3] == s,
                 "CLIP expects pixels (B, 3, \(s), \(s)), got \(pixels.shape)")
    let b = pixels.shape[0]
    let (patchTokens, patchCache) = patchEmbed.forward(pixels)  // (B, N, D)
    let x = prependClassToken(patchTokens, classToken: classEmbedding, positions: visionPositions)  // (B, T, D)
    let (normed, preCache) = lnPre.forward(x)
    let (output, tower) = runTower(normed, blocks: visionBlocks, pooledIndex: [Int](repeating: 0, count: b), norm: lnPost,
                                   projection: visualProjection, keepCaches: keepCaches, onBlock: onBlock)
    return OpenAICLIPImageTrace(output: output, tower: tower, patch: patchCache, preNorm: preCache, beforePreNorm: x)
  }

  // ANCHOR: encodeText
  /// Token rows (B, L ≤ context), each with its <|endoftext|> → text features (B, E), not normalised.
  /// Each row is read at the first `endOfText` id (Hugging Face's rule: the tokenizer's own end token,
  /// wherever a vocab.json puts it) or, with nil, at its largest id (open_clip's `argmax`: the same
  /// place when <|endoftext|> is the last id, as in OpenAI's vocabulary). Tokens after the end of text
  /// cannot change the result (the mask is causal), so the rows are cut after the latest one.
  public func encodeText(_ ids: [[Int]], endOfText: Int? = nil, onBlock: ((Int, Tensor, Double) -> Void)? = nil) -> OpenAICLIPOutput {
    textForward(ids, endOfText: endOfText, keepCaches: false, onBlock: onBlock).output
  }

  /// `encodeText`, keeping what `backwardText` needs.
  public func encodeTextForTraining(_ ids: [[Int]], endOfText: Int? = nil) -> OpenAICLIPTextTrace {
    textForward(ids, endOfText: endOfText, keepCaches: true, onBlock: nil)
  }

  func textForward(_ ids: [[Int]], endOfText: Int?, keepCaches: Bool, onBlock: ((Int, Tensor, Double) -> Void)?) -> OpenAICLIPTextTrace {
    let ends = ids.map { row in
      if let endOfText { return row.firstIndex(of: endOfText) ?? row.count - 1 }
      return row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) } ?? 0
    }
    return textForward(ids, ends: ends, keepCaches: keepCaches, onBlock: onBlock)
  }

  /// The text tower on rows read at `ends` (each row's <|endoftext|> position).
  func textForward(_ ids: [[Int]], ends: [Int], keepCaches: Bool, onBlock: ((Int, Tensor, Double) -> Void)?) -> OpenAICLIPTextTrace {
    let b = ids.count, d = config.textWidth
    precondition(towers.contains(.text), "this model was loaded without its text tower: it embeds images only")
    precondition(b > 0, "encodeText needs at least one row")
    let l = (ends.max() ?? 0) + 1
    if l > config.contextLength { fatalError("a row is \(l) tokens long; the model reads \(config.contextLength)") }
    var x = Tensor.zeros([b, l, d])
    for bi in 0..<b {
      for t in 0..<l {
        let id = t < ids[bi].count ? ids[bi][t] : 0
        if id < 0 || id >= config.vocabSize { fatalError("token id \(id) is outside the vocabulary of \(config.vocabSize)") }
        for k in 0..<d { x.storage[(bi * l + t) * d + k] = tokenEmbedding.storage[id * d + k] + textPositions.storage[t * d + k] }
      }
    }
    let (output, tower) = runTower(x, blocks: textBlocks, pooledIndex: ends, norm: lnFinal, projection: textProjection,
                                   keepCaches: keepCaches, onBlock: onBlock)
    return OpenAICLIPTextTrace(output: output, tower: tower, ids: ids)
  }
  // ANCHOR_END: encodeText

  /// The blocks, then the final LayerNorm on one row per sequence, then the projection. Without
  /// `keepCaches` the block caches are dropped as the blocks run (the cache returned holds none).
  func runTower(_ input: Tensor, blocks: [PreNormBlock], pooledIndex: [Int], norm: LayerNorm, projection: Linear,
                keepCaches: Bool, onBlock: ((Int, Tensor, Double) -> Void)?) -> (OpenAICLIPOutput, OpenAICLIPTowerCache) {
    let b = input.shape[0], t = input.shape[1], d = input.shape[2]
    let (x, caches) = forwardBlocks(input, blocks, keepCaches: keepCaches, onBlock: onBlock)
    var rows = Tensor.zeros([b, d])  // (B, D) the pooled token of each sequence
    for bi in 0..<b { for k in 0..<d { rows.storage[bi * d + k] = x.storage[(bi * t + pooledIndex[bi]) * d + k] } }
    let (pooled, normCache) = norm.forward(rows)
    let features = projection.forward(pooled)  // (B, E) (its bias is zero)
    return (OpenAICLIPOutput(features: features, pooled: pooled),
            OpenAICLIPTowerCache(embedded: input, blocks: caches, beforeNorm: rows, norm: normCache, pooledIndex: pooledIndex))
  }

  /// exp(logit_scale) · normalise(images) · normalise(texts)ᵀ: (B_images, B_texts), CLIPModel's logits_per_image.
  public func logits(imageFeatures: Tensor, textFeatures: Tensor) -> Tensor {
    let i = l2Normalize(imageFeatures).unit, t = l2Normalize(textFeatures).unit
    var logits = i.matmul(t, transposeOther: true)
    let scale = Foundation.exp(logitScale.storage[0])
    for k in 0..<logits.count { logits.storage[k] *= scale }
    return logits
  }
}

// MARK: - Backward

extension OpenAICLIP {
  /// From d(features) of `encodeImageForTraining` to every vision parameter, accumulated into `grads`.
  ///   features = lnPost(x_L[:, 0])·projᵀ, so the gradient enters the blocks at token 0 only; below them,
  ///   ln_pre, then [class; patches] + pos splits it into the class embedding (token 0), the positions
  ///   (every token) and the conv (tokens 1…N).
  public func backwardImage(_ dFeatures: Tensor, trace: OpenAICLIPImageTrace, grads: inout OpenAICLIP) {
    var dx = towerBackward(dFeatures, output: trace.output, cache: trace.tower, blocks: visionBlocks, norm: lnPost, projection: visualProjection,
                           blockGrads: \.visionBlocks, normGrads: \.lnPost, projectionGrads: \.visualProjection, grads: &grads)
    dx = lnPre.backward(dx, input: trace.beforePreNorm, cache: trace.preNorm, grads: &grads.lnPre)
    let dTokens = prependClassTokenBackward(dx, classToken: &grads.classEmbedding, positions: &grads.visionPositions)
    patchEmbed.backward(dTokens, cache: trace.patch, grads: &grads.patchEmbed)
  }

  /// From d(features) of `encodeTextForTraining` to every text parameter, accumulated into `grads`:
  /// through the projection, ln_final at the end-of-text rows, the causal blocks, then the position
  /// rows and the token embedding rows the ids picked (scatter-added).
  public func backwardText(_ dFeatures: Tensor, trace: OpenAICLIPTextTrace, grads: inout OpenAICLIP) {
    let dx = towerBackward(dFeatures, output: trace.output, cache: trace.tower, blocks: textBlocks, norm: lnFinal, projection: textProjection,
                           blockGrads: \.textBlocks, normGrads: \.lnFinal, projectionGrads: \.textProjection, grads: &grads)
    let b = dx.shape[0], l = dx.shape[1], d = config.textWidth
    for bi in 0..<b {
      for t in 0..<l {
        let id = t < trace.ids[bi].count ? trace.ids[bi][t] : 0
        for k in 0..<d {
          let g = dx.storage[(bi * l + t) * d + k]
          grads.textPositions.storage[t * d + k] += g
          grads.tokenEmbedding.storage[id * d + k] += g
        }
      }
    }
  }

  /// The shared part: projection, final LayerNorm on the pooled rows, scatter to the pooled tokens, blocks.
  func towerBackward(_ dFeatures: Tensor, output: OpenAICLIPOutput, cache: OpenAICLIPTowerCache, blocks: [PreNormBlock], norm: LayerNorm,
                     projection: Linear, blockGrads: WritableKeyPath<OpenAICLIP, [PreNormBlock]>, normGrads: WritableKeyPath<OpenAICLIP, LayerNorm>,
                     projectionGrads: WritableKeyPath<OpenAICLIP, Linear>, grads: inout OpenAICLIP) -> Tensor {
    let b = cache.embedded.shape[0], t = cache.embedded.shape[1], d = cache.embedded.shape[2]
    let dPooled = projection.backward(dFeatures, input: output.pooled, grads: &grads[keyPath: projectionGrads])
    let dRows = norm.backward(dPooled, input: cache.beforeNorm, cache: cache.norm, grads: &grads[keyPath: normGrads])
    var dx = Tensor.zeros([b, t, d])
    for bi in 0..<b { for k in 0..<d { dx.storage[(bi * t + cache.pooledIndex[bi]) * d + k] = dRows.storage[bi * d + k] } }
    return backwardBlocks(dx, blocks, caches: cache.blocks, grads: &grads[keyPath: blockGrads])
  }

  /// A gradient container: this model's shape, all zeros.
  public func zeroGradients() -> OpenAICLIP { zerosLike(self, table: Self.parameterTable(config, format: .openCLIP)) }
}

// MARK: - The contrastive-model interface

/// One training forward pass of both towers.
public struct OpenAICLIPForward: ContrastiveForward {
  public var image: OpenAICLIPImageTrace
  public var text: OpenAICLIPTextTrace
  public var features: ContrastiveFeatures { ContrastiveFeatures(image: image.output.features, text: text.output.features) }
}

extension OpenAICLIP: ContrastiveModel {
  public typealias Tokenizer = CLIPTokenizer
  /// open_clip's keys: q, k, v fused, so the optimiser updates each block's qkv in place.
  public var parameters: [Parameter<OpenAICLIP>] { Self.parameterTable(config, format: .openCLIP) }
  public var lossKind: ContrastiveLossKind { .standard }
  public var imageSide: Int { config.imageSize }
  public var maxTextLength: Int { config.contextLength }
  public var embedDim: Int { config.embedDim }
  public var headDropout: Float { 0 }
  public var vocabularySize: Int { config.vocabSize }

  /// The rows of a batch (B, L) and where each is read: its last real token, the <|endoftext|> that
  /// `CLIPTokenizer.tokenBatch` ends every row with.
  func rowsAndEnds(_ batch: TokenBatch) -> (rows: [[Int]], ends: [Int]) {
    let l = batch.length
    let rows = (0..<batch.batchSize).map { Array(batch.inputIds[($0 * l)..<(($0 + 1) * l)]) }
    let ends = (0..<batch.batchSize).map { i in max(0, batch.attentionMask[(i * l)..<((i + 1) * l)].reduce(0, +) - 1) }
    return (rows, ends)
  }

  public func trainingForward(pixels: Tensor, batch: TokenBatch, dropoutMasks: DropoutMasks?) -> OpenAICLIPForward {
    precondition(dropoutMasks == nil, "OpenAI's CLIP has no projection heads to drop out")
    precondition(pixels.shape[0] == batch.batchSize, "\(pixels.shape[0]) images but \(batch.batchSize) captions")
    let (rows, ends) = rowsAndEnds(batch)
    return OpenAICLIPForward(image: imageForward(pixels, keepCaches: true, onBlock: nil),
                             text: textForward(rows, ends: ends, keepCaches: true, onBlock: nil))
  }

  public func backward(_ forward: OpenAICLIPForward, loss: ContrastiveLossOutput, grads: inout OpenAICLIP, trainImage: Bool, trainText: Bool) {
    grads.logitScale.storage[0] += loss.dLogitScale
    if trainImage { backwardImage(loss.dImage, trace: forward.image, grads: &grads) }
    if trainText { backwardText(loss.dText, trace: forward.text, grads: &grads) }
  }

  public func features(pixels: Tensor, batch: TokenBatch) -> ContrastiveFeatures {
    let (rows, ends) = rowsAndEnds(batch)
    return ContrastiveFeatures(image: encodeImage(pixels).features, text: textForward(rows, ends: ends, keepCaches: false, onBlock: nil).output.features)
  }

  public func embedImages(_ pixels: Tensor) -> Tensor { l2Normalize(encodeImage(pixels).features).unit }

  public func embedTexts(_ texts: [String], tokenizer: CLIPTokenizer) -> Tensor {
    inBatches(texts, of: 256, rowShape: [config.embedDim]) { chunk in
      l2Normalize(encodeText(tokenizer.batch(chunk, contextLength: config.contextLength), endOfText: tokenizer.endId).features).unit
    }
  }
}
