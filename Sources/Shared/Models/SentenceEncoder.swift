// Tokenizer + BERT: sentences in, unit-length embeddings out (sentence-transformers' mean pooling).

import TensorCore
import Text
import Foundation

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
    inBatches(texts, of: batchSize, rowShape: [model.config.hiddenSize]) { model.forward(tokenizer.batch($0, maxLength: maxLength), keepCaches: false).embedding }
  }
}
