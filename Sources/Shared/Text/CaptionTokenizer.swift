// What a contrastive model's text side asks of a tokenizer: captions in, (B, L) id rows out. BERT's
// WordPiece (chapter 04) and CLIP's byte-level BPE (chapter 11) both answer it, so the batch loader,
// validation and the tools take either.

public protocol CaptionTokenizer: Sendable {
  /// (B, L ≤ maxLength) ids with their attention mask: each row as the model reads it, padded to the longest.
  func tokenBatch(_ texts: [String], maxLength: Int) -> TokenBatch
  /// Tokens in the vocabulary (the model's embedding table must have at least as many rows).
  var vocabularySize: Int { get }
}

extension CaptionTokenizer {
  /// Throws unless every id this tokenizer can produce has a row in a table of `vocabSize`.
  public func checkFits(vocabSize: Int, vocabularySource: String, modelSource: String) throws {
    guard vocabularySize <= vocabSize else {
      throw VocabularyError(path: vocabularySource, reason: "has \(vocabularySize) tokens but the model (\(modelSource)) has "
                              + "only \(vocabSize) rows in its word embedding table (vocab_size)")
    }
  }
}

extension BertTokenizer: CaptionTokenizer {
  public func tokenBatch(_ texts: [String], maxLength: Int) -> TokenBatch { batch(texts, maxLength: maxLength) }
  public var vocabularySize: Int { vocabulary.count }
}

extension CLIPTokenizer: CaptionTokenizer {
  /// open_clip's rows (<|startoftext|> … <|endoftext|>, zeros after), cut to the longest row's length:
  /// the text tower reads each row at its <|endoftext|> and the mask is causal, so the zeros after it
  /// change nothing.
  public func tokenBatch(_ texts: [String], maxLength: Int) -> TokenBatch {
    let rows = texts.map { encode($0, contextLength: maxLength) }
    let length = rows.map(\.count).max() ?? 0
    var ids = [Int](repeating: 0, count: rows.count * length), mask = ids
    for (i, row) in rows.enumerated() {
      for (t, id) in row.enumerated() {
        ids[i * length + t] = id
        mask[i * length + t] = 1
      }
    }
    return TokenBatch(inputIds: ids, attentionMask: mask, tokenTypeIds: [Int](repeating: 0, count: ids.count), batchSize: rows.count, length: length)
  }
}
