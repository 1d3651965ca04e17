// The text tower: a BERT encoder (Hugging Face BertModel) with mean pooling and L2 normalisation —
// the seed's sentence-transformers/bert-base-nli-mean-tokens, and all-MiniLM-L6-v2.
//
//   B batch, L tokens, V vocabulary, D width, H heads, Hm intermediate width
//
//   x = LayerNorm(word[ids] + position[0..<L] + tokenType[types])      (B, L, D)   eps 1e-12
//   repeat for each layer (post-norm):
//     x = LayerNorm(x + attention(x, mask))                            attention.output.LayerNorm
//     x = LayerNorm(x + output(GELU(intermediate(x))))                 output.LayerNorm
//   sentence = normalize(meanPool(x, mask))                           (B, D)

import TensorCore
import Kernels
import Layers
import Text
import IO
import Foundation

public struct BERTConfigError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { "\(path): \(reason)" }
}

/// A BERT configuration; `init(huggingFaceConfig:)` reads an HF `config.json`.
public struct BERTConfig: Sendable, Equatable, Codable {
  public var vocabSize = 30522  // V
  public var hiddenSize = 768  // D
  public var layers = 12  // encoder layers
  public var heads = 12  // H
  public var intermediateSize = 3072  // Hm
  public var maxPositions = 512  // learned position embeddings
  public var typeVocabSize = 2  // token type (segment) embeddings
  public var layerNormEps: Float = 1e-12

  public init() {}

  /// BERT-base (the seed's bert-base-nli-mean-tokens).
  public static let base = BERTConfig()
  /// all-MiniLM-L6-v2: 6 layers, width 384, 12 heads, intermediate 1536.
  public static let miniLM: BERTConfig = {
    var c = BERTConfig()
    c.hiddenSize = 384; c.layers = 6; c.intermediateSize = 1536
    return c
  }()

  public static func named(_ name: String) -> BERTConfig? {
    switch name {
    case "base", "bert-base": return .base
    case "minilm", "miniLM", "all-MiniLM-L6-v2": return .miniLM
    default: return nil
    }
  }

  /// Reads `vocab_size`, `hidden_size`, `num_hidden_layers`, `num_attention_heads`,
  /// `intermediate_size`, `max_position_embeddings`, `type_vocab_size`, `layer_norm_eps`.
  public init(huggingFaceConfig path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw BERTConfigError(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
    }
    let json: Any
    do { json = try JSONSerialization.jsonObject(with: data) } catch {
      throw BERTConfigError(path: path, reason: describeJSONError(error))
    }
    guard let object = json as? [String: Any] else { throw BERTConfigError(path: path, reason: "not a JSON object") }
    func int(_ key: String) throws -> Int {
      guard let n = object[key] as? NSNumber, n.doubleValue == n.doubleValue.rounded(), n.doubleValue > 0, n.doubleValue < 1e9 else {
        throw BERTConfigError(path: path, reason: "'\(key)' is missing or not a positive integer")
      }
      return n.intValue
    }
    self.init()
    vocabSize = try int("vocab_size")
    hiddenSize = try int("hidden_size")
    layers = try int("num_hidden_layers")
    heads = try int("num_attention_heads")
    intermediateSize = try int("intermediate_size")
    maxPositions = try int("max_position_embeddings")
    if object["type_vocab_size"] != nil { typeVocabSize = try int("type_vocab_size") }
    if let eps = object["layer_norm_eps"] {
      guard let n = eps as? NSNumber else { throw BERTConfigError(path: path, reason: "'layer_norm_eps' is not a number") }
      layerNormEps = n.floatValue
    }
    if let kind = object["position_embedding_type"] as? String, kind != "absolute" {
      throw BERTConfigError(path: path, reason: "position_embedding_type '\(kind)' is not supported (only 'absolute')")
    }
    if let act = object["hidden_act"] as? String, act != "gelu" {
      throw BERTConfigError(path: path, reason: "hidden_act '\(act)' is not supported (only exact 'gelu')")
    }
    guard hiddenSize % heads == 0 else {
      throw BERTConfigError(path: path, reason: "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(heads)")
    }
    try validate(source: path)
  }
}

extension BERTConfig: CheckedConfiguration {
  /// Sizes positive, heads dividing the width, eps > 0.
  public func check(_ c: inout ConfigurationCheck) {
    c.atLeast(vocabSize, "vocabSize")
    c.atLeast(hiddenSize, "hiddenSize", maximum: 1 << 16)
    c.atLeast(layers, "layers", maximum: 1 << 10)
    c.atLeast(heads, "heads")
    c.require(heads < 1 || hiddenSize % heads == 0, "heads", "must divide hiddenSize \(hiddenSize), got \(heads)")
    c.atLeast(intermediateSize, "intermediateSize", maximum: 1 << 20)
    c.atLeast(maxPositions, "maxPositions", maximum: 1 << 20)
    c.atLeast(typeVocabSize, "typeVocabSize")
    c.positive(layerNormEps, "layerNormEps")
  }

  /// The largest terms of the parameter count (a lower bound): checked against a file before the
  /// model is allocated, so a config that claims a huge width is an error, not an out-of-memory kill.
  public var parameterLowerBound: Double {
    let h = Double(hiddenSize)
    return Double(layers) * (4 * h * h + 2 * h * Double(intermediateSize))
      + (Double(vocabSize) + Double(maxPositions) + Double(typeVocabSize)) * h
  }
}

// MARK: - Layer

public struct BERTLayerCache: Sendable {
  public var input: Tensor  // (B, L, D)
  public var attention: AttentionCache
  public var attentionSum: Tensor  // (B, L, D) x + attention(x)
  public var attentionNorm: LayerNormCache
  public var afterAttention: Tensor  // (B, L, D)
  public var mlp: MLPCache
  public var outputSum: Tensor  // (B, L, D)
  public var outputNorm: LayerNormCache
}

/// One post-norm encoder layer.
public struct BERTLayer: Sendable {
  public var attention: MultiHeadAttention  // qkv fused from attention.self.{query,key,value}; proj = attention.output.dense
  public var attentionNorm: LayerNorm  // attention.output.LayerNorm
  public var mlp: MLP  // fc1 = intermediate.dense, fc2 = output.dense
  public var outputNorm: LayerNorm  // output.LayerNorm

  // MARK: Forward
  public func forward(_ x: Tensor, mask: Tensor) -> (Tensor, BERTLayerCache) {
    let (a, ca) = attention.forward(x, keyMask: mask)
    let s1 = x + a
    let (x1, n1) = attentionNorm.forward(s1)
    let (m, cm) = mlp.forward(x1)
    let s2 = x1 + m
    let (x2, n2) = outputNorm.forward(s2)
    return (x2, BERTLayerCache(input: x, attention: ca, attentionSum: s1, attentionNorm: n1, afterAttention: x1, mlp: cm,
                               outputSum: s2, outputNorm: n2))
  }

  // MARK: Backward
  /// forward: s₁ = x + attn(x), x₁ = LN₁(s₁), s₂ = x₁ + mlp(x₁), y = LN₂(s₂); so
  /// ds₂ = LN₂ᵀ(dy), dx₁ = ds₂ + mlpᵀ(ds₂), ds₁ = LN₁ᵀ(dx₁), dx = ds₁ + attnᵀ(ds₁).
  public func backward(_ dy: Tensor, cache: BERTLayerCache, grads: inout BERTLayer) -> Tensor {
    let ds2 = outputNorm.backward(dy, input: cache.outputSum, cache: cache.outputNorm, grads: &grads.outputNorm)
    var dx1 = mlp.backward(ds2, cache: cache.mlp, grads: &grads.mlp)
    dx1 += ds2
    let ds1 = attentionNorm.backward(dx1, input: cache.attentionSum, cache: cache.attentionNorm, grads: &grads.attentionNorm)
    var dx = attention.backward(ds1, cache: cache.attention, grads: &grads.attention)
    dx += ds1
    return dx
  }
}

// MARK: - Model

public struct BERTOutput: Sendable {
  public var hidden: Tensor  // (B, L, D) last layer
  public var pooled: Tensor  // (B, D) mean over real tokens
  public var embedding: Tensor  // (B, D) pooled / ‖pooled‖
  public var norms: [Float]  // (B) ‖pooled‖
  public var cache: BERTCache
}

public struct BERTCache: Sendable {
  public var embeddingSum: Tensor  // (B, L, D) before the embedding LayerNorm
  public var embeddingNorm: LayerNormCache
  public var embedded: Tensor  // (B, L, D)
  public var layers: [BERTLayerCache]
  public var mask: Tensor  // (B, L)
}

public struct BERT: Sendable {
  public var config: BERTConfig
  public var wordEmbeddings: Tensor  // (V, D)
  public var positionEmbeddings: Tensor  // (P, D)
  public var tokenTypeEmbeddings: Tensor  // (types, D)
  public var embeddingNorm: LayerNorm  // embeddings.LayerNorm
  public var layers: [BERTLayer]

  // MARK: Checkpoint keys (Hugging Face names) → properties

  public static func parameterTable(_ config: BERTConfig) -> [Parameter<BERT>] {
    let d = config.hiddenSize
    var table: [Parameter<BERT>] = [
      Parameter("embeddings.word_embeddings.weight", \.wordEmbeddings),
      Parameter("embeddings.position_embeddings.weight", \.positionEmbeddings),
      Parameter("embeddings.token_type_embeddings.weight", \.tokenTypeEmbeddings),
      Parameter("embeddings.LayerNorm.weight", \.embeddingNorm.weight),
      Parameter("embeddings.LayerNorm.bias", \.embeddingNorm.bias),
    ]
    for i in 0..<config.layers {
      let p = "encoder.layer.\(i)."
      // query, key and value are rows [0, D), [D, 2D), [2D, 3D) of the fused qkv projection.
      for (j, name) in ["query", "key", "value"].enumerated() {
        let rows = (j * d)..<((j + 1) * d)
        table.append(Parameter(p + "attention.self.\(name).weight", rows: rows, of: \.layers[i].attention.qkv.weight))
        table.append(Parameter(p + "attention.self.\(name).bias", rows: rows, of: \.layers[i].attention.qkv.bias))
      }
      table += [
        Parameter(p + "attention.output.dense.weight", \.layers[i].attention.proj.weight),
        Parameter(p + "attention.output.dense.bias", \.layers[i].attention.proj.bias),
        Parameter(p + "attention.output.LayerNorm.weight", \.layers[i].attentionNorm.weight),
        Parameter(p + "attention.output.LayerNorm.bias", \.layers[i].attentionNorm.bias),
        Parameter(p + "intermediate.dense.weight", \.layers[i].mlp.fc1.weight),
        Parameter(p + "intermediate.dense.bias", \.layers[i].mlp.fc1.bias),
        Parameter(p + "output.dense.weight", \.layers[i].mlp.fc2.weight),
        Parameter(p + "output.dense.bias", \.layers[i].mlp.fc2.bias),
        Parameter(p + "output.LayerNorm.weight", \.layers[i].outputNorm.weight),
        Parameter(p + "output.LayerNorm.bias", \.layers[i].outputNorm.bias),
      ]
    }
    return table
  }

  /// Keys a BertModel checkpoint may carry that the encoder does not use.
  public static func isUnusedKey(_ key: String) -> Bool {
    key.hasSuffix("embeddings.position_ids") || key.contains("pooler.") || key.hasPrefix("cls.")
  }

  // MARK: Construction

  /// Deterministic (untrained) weights, reproducible in PyTorch.
  public init(config: BERTConfig, seed: UInt64 = 0) {
    self.config = config
    let d = config.hiddenSize
    func z(_ s: [Int]) -> Tensor { Tensor.zeros(s) }
    func linear(_ o: Int, _ i: Int) -> Linear { Linear(weight: z([o, i]), bias: z([o])) }
    func ln() -> LayerNorm { LayerNorm(weight: z([d]), bias: z([d]), eps: config.layerNormEps) }
    wordEmbeddings = z([config.vocabSize, d])
    positionEmbeddings = z([config.maxPositions, d])
    tokenTypeEmbeddings = z([config.typeVocabSize, d])
    embeddingNorm = ln()
    layers = (0..<config.layers).map { _ in
      BERTLayer(attention: MultiHeadAttention(qkv: linear(3 * d, d), proj: linear(d, d), heads: config.heads),
                attentionNorm: ln(), mlp: MLP(fc1: linear(config.intermediateSize, d), fc2: linear(d, config.intermediateSize)),
                outputNorm: ln())
    }
    fillDeterministic(&self, table: Self.parameterTable(config), seed: seed)
  }

  /// Loads HF weights; keys may carry a `bert.` prefix (detected); pooler/MLM-head keys are ignored.
  public init(config: BERTConfig, checkpoint: SafetensorsFile) throws {
    let prefix = checkpoint.entries["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
    try checkpoint.requireParameters(atLeast: config.parameterLowerBound, prefix: prefix)
    self.init(config: config)
    try checkpoint.load(into: &self, table: Self.parameterTable(config), prefix: prefix,
                        ignoring: { Self.isUnusedKey($0) })
  }

  /// Loads a Hugging Face model folder: `config.json` + `model.safetensors`.
  public init(directory: String) throws {
    let config = try BERTConfig(huggingFaceConfig: directory + "/config.json")
    let weights = directory + "/model.safetensors"
    let file = try naming(weights) { try SafetensorsFile(path: weights) }
    do { try self.init(config: config, checkpoint: file) } catch { throw CheckpointError(path: weights, reason: "\(error)") }
  }

  public var parameterCount: Int { Self.parameterTable(config).reduce(0) { $0 + $1.get(self).count } }

  // MARK: Forward

  /// A token batch → last hidden states, mean-pooled and L2-normalised sentence embeddings.
  public func forward(_ batch: TokenBatch, onLayer: ((Int, Tensor, Double) -> Void)? = nil) -> BERTOutput {
    let b = batch.batchSize, l = batch.length, d = config.hiddenSize
    // Loaders check these at the door (BertTokenizer.checkFits, CLIPConfig.maxTextLength); fatalError,
    // unlike precondition, survives -Ounchecked, so a slip is a clear trap and never a read past a table.
    if l > config.maxPositions { fatalError("sequence length \(l) is over the \(config.maxPositions) positions") }
    var sum = Tensor.zeros([b, l, d])
    for bi in 0..<b {
      for t in 0..<l {
        let id = batch.inputIds[bi * l + t], type = batch.tokenTypeIds[bi * l + t]
        if id < 0 || id >= config.vocabSize { fatalError("token id \(id) is outside the vocabulary of \(config.vocabSize)") }
        if type < 0 || type >= config.typeVocabSize { fatalError("token type \(type) is outside the \(config.typeVocabSize) types") }
        let row = (bi * l + t) * d
        for k in 0..<d {
          sum.storage[row + k] = wordEmbeddings.storage[id * d + k] + positionEmbeddings.storage[t * d + k]
            + tokenTypeEmbeddings.storage[type * d + k]
        }
      }
    }
    let (embedded, embeddingNormCache) = embeddingNorm.forward(sum)
    let mask = batch.maskTensor
    var x = embedded
    var caches: [BERTLayerCache] = []
    for (i, layer) in layers.enumerated() {
      let t0 = now()
      let (y, cache) = layer.forward(x, mask: mask)
      x = y
      caches.append(cache)
      onLayer?(i, x, now() - t0)
    }
    let pooled = meanPool(x, mask: mask)
    let (normalized, norms) = l2Normalize(pooled)
    return BERTOutput(hidden: x, pooled: pooled, embedding: normalized, norms: norms,
                      cache: BERTCache(embeddingSum: sum, embeddingNorm: embeddingNormCache, embedded: embedded, layers: caches, mask: mask))
  }
}

// MARK: - Backward

extension BERT {
  /// Backpropagates from the gradient of the normalised sentence embedding (B, D) to every parameter.
  /// forward: sum = word[ids] + pos + type → LN → layers → meanPool → normalise; the embedding
  /// tables get their rows' gradients scatter-added (a word used twice collects both).
  public func backward(dEmbedding: Tensor, output: BERTOutput, batch: TokenBatch, grads: inout BERT) {
    let b = batch.batchSize, l = batch.length, d = config.hiddenSize
    let dPooled = l2NormalizeBackward(dEmbedding, output: output.embedding, norms: output.norms)
    var dx = meanPoolBackward(dPooled, mask: output.cache.mask, length: l)
    for i in stride(from: layers.count - 1, through: 0, by: -1) {
      dx = layers[i].backward(dx, cache: output.cache.layers[i], grads: &grads.layers[i])
    }
    let dSum = embeddingNorm.backward(dx, input: output.cache.embeddingSum, cache: output.cache.embeddingNorm,
                                      grads: &grads.embeddingNorm)
    for bi in 0..<b {
      for t in 0..<l {
        let id = batch.inputIds[bi * l + t], type = batch.tokenTypeIds[bi * l + t]
        let row = (bi * l + t) * d
        for k in 0..<d {
          let g = dSum.storage[row + k]
          grads.wordEmbeddings.storage[id * d + k] += g
          grads.positionEmbeddings.storage[t * d + k] += g
          grads.tokenTypeEmbeddings.storage[type * d + k] += g
        }
      }
    }
  }

  public func zeroGradients() -> BERT { zerosLike(self, table: Self.parameterTable(config)) }
}

// MARK: - Sentence encoder

/// Tokenizer + BERT: sentences in, unit-length embeddings out.
public struct SentenceEncoder: Sendable {
  public var tokenizer: BertTokenizer
  public var model: BERT
  public var maxLength: Int

  public init(tokenizer: BertTokenizer, model: BERT, maxLength: Int = 128) {
    self.tokenizer = tokenizer
    self.model = model
    self.maxLength = maxLength
  }

  /// Loads a Hugging Face / sentence-transformers folder with config.json, model.safetensors, vocab.txt.
  public init(directory: String, maxLength: Int = 128) throws {
    let tokenizer = try BertTokenizer(vocabularyPath: directory + "/vocab.txt")
    let model = try BERT(directory: directory)
    try tokenizer.checkFits(vocabSize: model.config.vocabSize, vocabularySource: directory + "/vocab.txt",
                            modelSource: directory + "/config.json")
    guard maxLength >= 2 && maxLength <= model.config.maxPositions else {
      throw BERTConfigError(path: directory + "/config.json",
                            reason: "max_position_embeddings \(model.config.maxPositions) is below the \(maxLength) tokens asked for")
    }
    self.init(tokenizer: tokenizer, model: model, maxLength: maxLength)
  }

  /// (B, D) L2-normalised embeddings, computed in batches of `batchSize`.
  public func embed(_ texts: [String], batchSize: Int = 32) -> Tensor {
    var rows: [Float] = []
    var start = 0
    while start < texts.count {
      let chunk = Array(texts[start..<min(texts.count, start + batchSize)])
      rows += model.forward(tokenizer.batch(chunk, maxLength: maxLength)).embedding.storage
      start += batchSize
    }
    return Tensor(shape: [texts.count, model.config.hiddenSize], storage: rows)
  }
}

/// Where the all-MiniLM-L6-v2 files live: $CLIP_MINILM_DIR, else ~/.cache/clip-swift/all-MiniLM-L6-v2
/// (Scripts/fetch-minilm.sh puts them there).
public enum MiniLM {
  public static var directory: String {
    if let dir = ProcessInfo.processInfo.environment["CLIP_MINILM_DIR"], !dir.isEmpty { return dir }
    return NSHomeDirectory() + "/.cache/clip-swift/all-MiniLM-L6-v2"
  }

  /// True when config.json, model.safetensors and vocab.txt are all there.
  public static var isAvailable: Bool {
    ["config.json", "model.safetensors", "vocab.txt"].allSatisfy { FileManager.default.fileExists(atPath: directory + "/" + $0) }
  }

  public static let fetchCommand = "bash Scripts/fetch-minilm.sh"
}
