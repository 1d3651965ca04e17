// BERT against transformers (a small random BertModel, every layer) and the real all-MiniLM-L6-v2
// against sentence-transformers.

import Foundation
import Shared
import Testing

/// Tests that need the real all-MiniLM-L6-v2 weights: reported as skipped (with how to get them) when absent.
let miniLMAvailable = Testing.ConditionTrait.enabled(if: MiniLM.isAvailable, "all-MiniLM-L6-v2 not found in \(MiniLM.directory) — run bash Scripts/fetch-minilm.sh")

@Suite("BERT")
struct BERTTests {
  func smallBatch(_ fixture: SafetensorsFile) throws -> TokenBatch {
    let ids = try fixture.integers("small.input_ids").values
    let mask = try fixture.integers("small.attention_mask").values
    return TokenBatch(inputIds: ids, attentionMask: mask, tokenTypeIds: [Int](repeating: 0, count: ids.count), batchSize: 2, length: 9)
  }

  @Test("small BertModel: embeddings, every layer, mean pooling and normalisation")
  func small() throws {
    let fixture = try Fixtures.load("ch05-bert")
    let config = try BERTConfig(huggingFaceConfig: Fixtures.path("ch05-bert-small-config.json"))
    #expect(config.hiddenSize == 32 && config.layers == 2 && config.heads == 4 && config.vocabSize == 1000)
    let model = try BERT(config: config, checkpoint: SafetensorsFile(path: Fixtures.path("ch05-bert-small-weights.safetensors")))
    var layerOutputs: [Tensor] = []
    let out = model.forward(try smallBatch(fixture)) { _, x, _ in layerOutputs.append(x) }
    expectClose(out.cache.embedded, try fixture.tensor("small.embeddings"), atol: 1e-5, rtol: 1e-5, "embeddings")
    for (i, y) in layerOutputs.enumerated() {
      // Padding positions' outputs are computed too (HF computes them the same way).
      expectClose(y, try fixture.tensor("small.layer\(i)"), atol: 1e-5, rtol: 1e-4, "layer \(i)")
    }
    expectClose(out.pooled, try fixture.tensor("small.pooled"), atol: 1e-5, rtol: 1e-4, "mean pooled")
    expectClose(out.embedding, try fixture.tensor("small.embedding"), atol: 1e-5, rtol: 1e-4, "normalised")
    // Inference (no caches kept) is the same arithmetic: equal to the bit, and nothing kept for backward.
    let inference = model.forward(try smallBatch(fixture), keepCaches: false)
    #expect(inference.embedding.storage == out.embedding.storage && inference.hidden.storage == out.hidden.storage)
    #expect(inference.cache.layers.isEmpty && out.cache.layers.count == model.layers.count)
  }

  @Test("all-MiniLM-L6-v2 equals sentence-transformers on 60 sentences: cosine ≥ 0.99999, max abs ≤ 1e-5", miniLMAvailable)
  func miniLM() throws {
    let fixture = try Fixtures.load("ch05-bert")
    let sentences = try JSONSerialization.jsonObject(with: Data(fixture.metadata["minilm_sentences"]!.utf8)) as! [String]
    #expect(sentences.count >= 50)
    let encoder = try SentenceEncoder(directory: MiniLM.directory, maxLength: 256)
    #expect(encoder.model.config == .miniLM)
    let ours = encoder.embed(sentences, batchSize: 16)
    let expected = try fixture.tensor("minilm.embeddings")
    expectClose(ours, expected, atol: 1e-5, rtol: 0, "MiniLM embeddings")
    var worstCosine: Float = 1
    for i in 0..<sentences.count {
      var dot: Float = 0
      for k in 0..<384 { dot += ours[i, k] * expected[i, k] }
      worstCosine = min(worstCosine, dot)
    }
    #expect(worstCosine >= 0.99999, "worst cosine \(worstCosine)")
  }

  @Test("config.json problems and mismatched checkpoints are clear errors")
  func badInputs() throws {
    let dir = temporaryDirectory()
    #expect(throws: BERTConfigError.self) { try BERTConfig(huggingFaceConfig: dir + "/missing.json") }
    try Data("{\"hidden_size\": 32}".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
    do {
      _ = try BERTConfig(huggingFaceConfig: dir + "/config.json")
      Issue.record("incomplete config accepted")
    } catch let error as BERTConfigError {
      #expect(error.description.contains("'vocab_size' is missing"))
    }
    try Data("not json".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
    #expect(throws: BERTConfigError.self) { try BERTConfig(huggingFaceConfig: dir + "/config.json") }
    var config = try BERTConfig(huggingFaceConfig: Fixtures.path("ch05-bert-small-config.json"))
    config.layers = 3
    do {
      _ = try BERT(config: config, checkpoint: SafetensorsFile(path: Fixtures.path("ch05-bert-small-weights.safetensors")))
      Issue.record("mismatched checkpoint accepted")
    } catch let error as CheckpointMismatch {
      #expect(error.missing.contains("encoder.layer.2.attention.self.query.weight"))
      #expect(error.unexpected.isEmpty)  // pooler and position_ids are known extras
    }
  }

  @Test("a `bert.` prefix on every key is accepted")
  func prefixedKeys() throws {
    let file = try SafetensorsFile(path: Fixtures.path("ch05-bert-small-weights.safetensors"))
    var writer = SafetensorsWriter()
    for name in file.names where file.entries[name]!.dtype.isFloatingPoint { writer.add("bert." + name, try file.tensor(name)) }
    let path = temporaryDirectory() + "/prefixed.safetensors"
    try writer.write(to: path)
    let config = try BERTConfig(huggingFaceConfig: Fixtures.path("ch05-bert-small-config.json"))
    let a = try BERT(config: config, checkpoint: file)
    let b = try BERT(config: config, checkpoint: SafetensorsFile(path: path))
    #expect(a.layers[1].attention.qkv.weight == b.layers[1].attention.qkv.weight)
  }
}
