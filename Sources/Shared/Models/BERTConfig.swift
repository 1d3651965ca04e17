// BERT's configuration, read from a Hugging Face config.json (the keys BertModel's config uses) and
// checked where it comes in: every size a layer divides by or indexes with.

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
    let object: [String: Any]
    do { object = try readJSONObject(path) } catch let error as ConfigurationError {
      throw BERTConfigError(path: path, reason: error.problems.joined(separator: "; "))
    }
    func int(_ key: String) throws -> Int {
      guard let value = object[key], let n = jsonInteger(value), n > 0, n < 1_000_000_000 else {
        throw BERTConfigError(path: path, reason: "'\(key)' is missing or not a positive integer"
          + (object[key].map { " (it is \(describeJSONValue($0)))" } ?? ""))
      }
      return n
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
      guard let n = jsonDouble(eps) else { throw BERTConfigError(path: path, reason: "'layer_norm_eps' is \(describeJSONValue(eps)), not a number") }
      layerNormEps = Float(n)
    }
    for (key, only) in [("position_embedding_type", "absolute"), ("hidden_act", "gelu")] {
      guard let value = object[key] else { continue }
      guard let name = value as? String else { throw BERTConfigError(path: path, reason: "'\(key)' is \(describeJSONValue(value)), not a name") }
      guard name == only else {
        throw BERTConfigError(path: path, reason: key == "hidden_act" ? "hidden_act '\(name)' is not supported (only exact 'gelu')"
          : "position_embedding_type '\(name)' is not supported (only 'absolute')")
      }
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
