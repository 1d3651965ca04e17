// The full text pipeline in front of BERT: special tokens kept whole, basic tokenizer, WordPiece,
// [CLS] … [SEP], truncation, and batches padded to their longest row with an attention mask.
//
//   "A dog runs."  →  [CLS] a dog runs . [SEP]  →  101 1037 3899 3216 1012 102

import TensorCore
import CLIPAssets
import Foundation

/// A batch ready for BERT. All arrays are (B, L) row-major, L = the longest row.
public struct TokenBatch: Sendable, Equatable {
  public var inputIds: [Int]  // (B, L)  padded with [PAD] = 0
  public var attentionMask: [Int]  // (B, L)  1 for real tokens, 0 for padding
  public var tokenTypeIds: [Int]  // (B, L)  all 0 for single sentences
  public var batchSize: Int
  public var length: Int

  public init(inputIds: [Int], attentionMask: [Int], tokenTypeIds: [Int], batchSize: Int, length: Int) {
    precondition(inputIds.count == batchSize * length && attentionMask.count == inputIds.count && tokenTypeIds.count == inputIds.count,
                 "TokenBatch arrays must all be (B, L) = (\(batchSize), \(length))")
    self.inputIds = inputIds
    self.attentionMask = attentionMask
    self.tokenTypeIds = tokenTypeIds
    self.batchSize = batchSize
    self.length = length
  }

  /// Row b's ids without padding.
  public func ids(row b: Int) -> [Int] {
    (0..<length).filter { attentionMask[b * length + $0] == 1 }.map { inputIds[b * length + $0] }
  }

  /// The attention mask as a float tensor (B, L), the form the attention layer takes.
  public var maskTensor: Tensor { Tensor(shape: [batchSize, length], storage: attentionMask.map(Float.init)) }
}

public struct BertTokenizer: Sendable {
  public var basic: BasicTokenizer
  public var wordPiece: WordPiece
  /// Special tokens found verbatim in the raw text are kept whole (before any normalisation).
  public var specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

  public var vocabulary: Vocabulary { wordPiece.vocabulary }
  public let clsId: Int  // [CLS], first in every row
  public let sepId: Int  // [SEP], last
  public let padId: Int  // [PAD], after [SEP] up to the batch's length

  /// The four tokens BERT's input needs. Without [UNK] Hugging Face refuses the vocabulary; without
  /// [CLS], [SEP] or [PAD] it would give them new ids past the end of the model's embedding table.
  public static let requiredTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]

  /// `source` names the vocabulary in errors (its file).
  public init(vocabulary: Vocabulary, lowercase: Bool = true, source: String = "the vocabulary") throws {
    let missing = Self.requiredTokens.filter { vocabulary.id($0) == nil }
    guard missing.isEmpty else {
      let bom = vocabulary.tokens.first?.unicodeScalars.first == "\u{FEFF}"
        ? "; the file starts with a byte-order mark (U+FEFF), which becomes part of the first token — save it without one" : ""
      throw VocabularyError(path: source, reason: "has no \(missing.joined(separator: ", ")) token (a BERT vocabulary needs "
                              + Self.requiredTokens.joined(separator: ", ") + ")" + bom)
    }
    basic = BasicTokenizer(lowercase: lowercase)
    wordPiece = WordPiece(vocabulary: vocabulary)
    clsId = vocabulary.id("[CLS]")!
    sepId = vocabulary.id("[SEP]")!
    padId = vocabulary.id("[PAD]")!
  }

  public init(vocabularyPath: String, lowercase: Bool = true) throws {
    try self.init(vocabulary: try Vocabulary(path: vocabularyPath), lowercase: lowercase, source: vocabularyPath)
  }

  /// The bert-base-uncased vocabulary shipped in Assets/ (the same file as all-MiniLM-L6-v2's).
  public static func bundledUncased() throws -> BertTokenizer {
    guard let path = BundledAssets.path(BundledAssets.bertVocabulary) else {
      throw VocabularyError(path: BundledAssets.bertVocabulary, reason: "not found in " + BundledAssets.searchPath.joined(separator: " or "))
    }
    return try BertTokenizer(vocabularyPath: path)
  }

  // MARK: - One text

  /// Splits raw text into runs of ordinary text and special tokens (leftmost, longest match first).
  func splitSpecial(_ text: String) -> [(text: String, special: Int?)] {
    let scalars = Array(text.unicodeScalars)
    let patterns = specialTokens.compactMap { t in vocabulary.id(t).map { (Array(t.unicodeScalars), $0) } }
      .sorted { $0.0.count > $1.0.count }
    var parts: [(String, Int?)] = []
    var runStart = 0, i = 0
    while i < scalars.count {
      var matched: ([Unicode.Scalar], Int)? = nil
      if scalars[i] == "[" {
        for (pattern, id) in patterns where i + pattern.count <= scalars.count && Array(scalars[i..<(i + pattern.count)]) == pattern {
          matched = (pattern, id)
          break
        }
      }
      if let (pattern, id) = matched {
        if runStart < i { parts.append((String(String.UnicodeScalarView(scalars[runStart..<i])), nil)) }
        parts.append((String(String.UnicodeScalarView(pattern)), id))
        i += pattern.count
        runStart = i
      } else {
        i += 1
      }
    }
    if runStart < scalars.count { parts.append((String(String.UnicodeScalarView(scalars[runStart...])), nil)) }
    return parts
  }

  /// Word-piece ids of `text`, without [CLS]/[SEP]; with a `limit`, WordPiece stops once that many
  /// ids exist (the first `limit` ids are the same: a caption of a megabyte costs its first words).
  public func tokenIds(_ text: String, limit: Int? = nil) -> [Int] {
    var ids: [Int] = []
    let cap = limit ?? Int.max
    for part in splitSpecial(text) {
      if ids.count >= cap { break }
      if let special = part.special {
        ids.append(special)
      } else {
        // Chunk by chunk (at whitespace), so a long text is normalised only as far as it is needed.
        chunks: for chunk in basic.whitespaceChunks(part.text) {
          for word in basic.split(basic.normalize(String(chunk))) {
            ids += wordPiece.ids(for: word)
            if ids.count >= cap { break chunks }
          }
        }
      }
    }
    return ids
  }

  /// [CLS] + ids + [SEP], truncated so the whole is at most `maxLength` (≥ 2).
  public func encode(_ text: String, maxLength: Int? = nil) -> [Int] {
    if let maxLength { precondition(maxLength >= 2, "maxLength must leave room for [CLS] and [SEP]") }
    var ids = tokenIds(text, limit: maxLength.map { $0 - 2 })
    if let maxLength {
      if ids.count > maxLength - 2 { ids = Array(ids.prefix(maxLength - 2)) }
    }
    return [clsId] + ids + [sepId]
  }

  /// Tokens of the ids, for printing.
  public func tokens(_ ids: [Int]) -> [String] {
    ids.map { $0 >= 0 && $0 < vocabulary.count ? vocabulary.tokens[$0] : "<\($0)>" }
  }

  // MARK: - Batches

  /// Encodes texts and pads them to the longest row.
  public func batch(_ texts: [String], maxLength: Int = 128) -> TokenBatch {
    let rows = texts.map { encode($0, maxLength: maxLength) }
    let length = rows.map(\.count).max() ?? 0
    var ids = [Int](repeating: padId, count: rows.count * length)
    var mask = [Int](repeating: 0, count: rows.count * length)
    for (b, row) in rows.enumerated() {
      for (t, id) in row.enumerated() {
        ids[b * length + t] = id
        mask[b * length + t] = 1
      }
    }
    return TokenBatch(inputIds: ids, attentionMask: mask, tokenTypeIds: [Int](repeating: 0, count: rows.count * length),
                      batchSize: rows.count, length: length)
  }
}
