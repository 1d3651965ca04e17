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
import Layers
import Text
import IO
import Foundation

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
  /// `keepCaches: false` is inference: each layer's cache is dropped when the layer is done (see ViT).
  public func forward(_ batch: TokenBatch, keepCaches: Bool = true, onLayer: ((Int, Tensor, Double) -> Void)? = nil) -> BERTOutput {
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
      if keepCaches { caches.append(cache) }
      onLayer?(i, x, now() - t0)
    }
    let pooled = meanPool(x, mask: mask)
    let normalized = l2Normalize(pooled)
    return BERTOutput(hidden: x, pooled: pooled, embedding: normalized.unit, norms: normalized.norms,
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
    if output.cache.layers.count != layers.count { fatalError("BERT.backward needs an output of forward(keepCaches: true)") }
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
