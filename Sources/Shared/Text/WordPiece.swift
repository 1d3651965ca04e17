// WordPiece: split each basic token into vocabulary pieces, greedy longest-match-first, with "##"
// marking a piece that continues a word ("playing" → "play", "##ing"). A word with any part that
// matches nothing, or longer than 100 characters, becomes [UNK] as a whole — as in BERT.

import Foundation

public struct VocabularyError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { "\(path): \(reason)" }
}

/// A WordPiece vocabulary: one token per line, the line number is the id.
public struct Vocabulary: Sendable {
  /// Tokens by id.
  public let tokens: [String]
  /// Ids by the token's UTF-8 bytes (byte-exact lookup: Swift's String equality would treat
  /// canonically equivalent spellings as equal, the reference does not).
  let ids: [[UInt8]: Int]

  public init(tokens: [String]) {
    self.tokens = tokens
    var ids: [[UInt8]: Int] = [:]
    for (i, t) in tokens.enumerated() where ids[Array(t.utf8)] == nil { ids[Array(t.utf8)] = i }
    self.ids = ids
  }

  /// Loads a `vocab.txt` (one token per line; a trailing newline is allowed).
  public init(path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw VocabularyError(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
    }
    guard let text = String(data: data, encoding: .utf8) else { throw VocabularyError(path: path, reason: "not UTF-8 text") }
    var lines = text.components(separatedBy: "\n").map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
    if lines.last == "" { lines.removeLast() }
    guard !lines.isEmpty else { throw VocabularyError(path: path, reason: "empty vocabulary") }
    self.init(tokens: lines)
  }

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
}
