// WordPiece: split each basic token into vocabulary pieces, greedy longest-match-first, with "##"
// marking a piece that continues a word ("playing" → "play", "##ing"). A word with any part that
// matches nothing, or longer than 100 characters, becomes [UNK] as a whole — as in BERT.

import TensorCore
import Foundation

public struct VocabularyError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { "\(path): \(reason)" }
}

/// A WordPiece vocabulary: one token per line, the line number is the id.
///
/// Read as Hugging Face's tokenizers library reads a `vocab.txt` (`WordPiece::read_file`): lines end
/// at "\n" (so "\r\n" files read the same), trailing whitespace is trimmed off each token, and a
/// token that appears twice keeps its *last* line's id (the earlier id is left unused).
public struct Vocabulary: Sendable {
  /// Tokens by id (line).
  public let tokens: [String]
  /// Ids by the token's UTF-8 bytes (byte-exact lookup: Swift's String equality would treat
  /// canonically equivalent spellings as equal, the reference does not).
  let ids: [[UInt8]: Int]

  public init(tokens: [String]) {
    self.tokens = tokens
    var ids: [[UInt8]: Int] = [:]
    for (i, t) in tokens.enumerated() { ids[Array(t.utf8)] = i }  // the last line of a duplicate wins
    self.ids = ids
  }

  /// Loads a `vocab.txt` (one token per line; a trailing newline is allowed).
  public init(path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      var isDirectory: ObjCBool = false
      let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
      throw VocabularyError(path: path, reason: !exists ? "no such file" : isDirectory.boolValue ? "is a directory" : "cannot read the file")
    }
    var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    if lines.last?.isEmpty == true { lines.removeLast() }  // the newline that ends the last line
    var tokens: [String] = []
    tokens.reserveCapacity(lines.count)
    for (number, line) in lines.enumerated() {
      guard let text = String(validating: line, as: UTF8.self) else {
        throw VocabularyError(path: path, reason: "line \(number + 1) is not UTF-8 text")
      }
      var scalars = Substring(text).unicodeScalars
      while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
      tokens.append(String(scalars))
    }
    guard !tokens.isEmpty else { throw VocabularyError(path: path, reason: "empty vocabulary") }
    self.init(tokens: tokens)
  }

  /// Ids in use: one past the last line (a duplicated token leaves a hole but keeps its line).
  public var count: Int { tokens.count }

  public func id(_ token: String) -> Int? { ids[Array(token.utf8)] }
  func id(bytes: [UInt8]) -> Int? { ids[bytes] }
}

public struct WordPiece: Sendable {
  public var vocabulary: Vocabulary
  public var unknownToken = "[UNK]"
  public var continuationPrefix = "##"
  public var maxCharactersPerWord = 100

  public init(vocabulary: Vocabulary) { self.vocabulary = vocabulary }

  // ANCHOR: wordpiece
  /// The ids of one basic token.
  public func ids(for word: [Unicode.Scalar]) -> [Int] {
    let unknown = vocabulary.id(unknownToken) ?? 0
    if word.count > maxCharactersPerWord { return [unknown] }
    var pieces: [Int] = []
    var start = 0
    let prefix = Array(continuationPrefix.utf8)
    // UTF-8 bytes of each scalar, so candidates are built by concatenation.
    let utf8 = word.map { Array(String(String.UnicodeScalarView([$0])).utf8) }
    while start < word.count {
      var end = word.count
      var found: Int? = nil
      while start < end {
        var candidate: [UInt8] = start > 0 ? prefix : []
        for i in start..<end { candidate += utf8[i] }
        if let id = vocabulary.id(bytes: candidate) {
          found = id
          break
        }
        end -= 1
      }
      guard let id = found else { return [unknown] }
      pieces.append(id)
      start = end
    }
    return pieces
  }
  // ANCHOR_END: wordpiece
}
