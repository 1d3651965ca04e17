// The CLIP tokenizer: byte-level BPE, as OpenAI's CLIP and open_clip's SimpleTokenizer do it.
//
//   "A photo of a Dog!"
//     → clean (CLIPTextCleaner: ftfy's fixes, HTML entities, whitespace, lower case)   "a photo of a dog!"
//     → pre-tokenise (contractions, letter runs, single digits, punctuation runs)      a | photo | of | a | dog | !
//     → each piece's UTF-8 bytes as printable characters, the last one ending in </w>  d o g</w>
//     → BPE: merge the adjacent pair with the lowest rank until no pair has a rank    dog</w>
//     → ids, between <|startoftext|> 49406 and <|endoftext|> 49407, 77 in all          49406 320 1125 539 320 1929 256 49407
//
// The vocabulary is the merge list: 256 byte characters, the same 256 ending a word (</w>), one token
// per merge (48,894 of them), then the two special tokens — 49,408 ids. It ships in Assets as
// clip-bpe-merges.txt (the first 48,894 merges of open_clip's bpe_simple_vocab_16e6.txt.gz, MIT); a
// Hugging Face CLIP folder carries the same list as merges.txt beside vocab.json.

import CLIPAssets
import Foundation
import IO
import TensorCore

/// One adjacent pair of BPE symbols (each a token's UTF-8 bytes: compared byte for byte).
struct BPEPair: Hashable, Sendable {
  var first: [UInt8]
  var second: [UInt8]
}

public struct CLIPTokenizer: Sendable {
  /// OpenAI's CLIP reads 77 tokens: <|startoftext|>, up to 75 pieces, <|endoftext|>, then zeros.
  public static let contextLength = 77
  /// How many merges the vocabulary uses (open_clip and Hugging Face both read exactly these).
  public static let mergeCount = 49152 - 256 - 2

  /// Token (as UTF-8 bytes) → id.
  let encoder: [[UInt8]: Int]
  /// Id → token, for printing.
  public let tokens: [String]
  /// Merge → its rank (lower merges first).
  let ranks: [BPEPair: Int]
  public let startId: Int  // <|startoftext|>, 49406
  public let endId: Int  // <|endoftext|>, 49407
  public let cleaner = CLIPTextCleaner()
  public var vocabularySize: Int { tokens.count }

  /// bytes_to_unicode: every byte gets a printable character, so a token is a plain string. The printable
  /// bytes (! … ~, ¡ … ¬, ® … ÿ) stand for themselves; the other 68 take U+0100 upwards, in byte order.
  /// The order of this list is the order of the first 256 ids.
  public static let byteCharacters: [(byte: UInt8, character: Unicode.Scalar)] = {
    var printable = Array(33...126) + Array(161...172) + Array(174...255)
    var characters = printable
    var next = 0
    for b in 0..<256 where !printable.contains(b) {
      printable.append(b)
      characters.append(256 + next)
      next += 1
    }
    return zip(printable, characters).map { (UInt8($0), Unicode.Scalar(UInt32($1))!) }
  }()
  /// The same mapping indexed by byte: the UTF-8 of each byte's character.
  static let byteEncoder: [[UInt8]] = {
    var table = [[UInt8]](repeating: [], count: 256)
    for (byte, character) in byteCharacters { table[Int(byte)] = Array(String(character).utf8) }
    return table
  }()
  static let wordEnd = Array("</w>".utf8)

  // MARK: Loading

  /// Builds the vocabulary from a merge list, as open_clip does (ids in the order described above).
  /// `source` names the file in errors.
  public init(merges: [(String, String)], source: String) throws {
    guard merges.count == Self.mergeCount else {
      throw VocabularyError(path: source, reason: "has \(merges.count) merges; CLIP's vocabulary is built from the first \(Self.mergeCount)")
    }
    var tokens = Self.byteCharacters.map { String($0.character) }
    tokens += tokens.map { $0 + "</w>" }
    tokens += merges.map { $0.0 + $0.1 }
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    var encoder: [[UInt8]: Int] = [:]
    for (id, token) in tokens.enumerated() where encoder[Array(token.utf8)] == nil { encoder[Array(token.utf8)] = id }
    try self.init(tokens: tokens, encoder: encoder, merges: merges, source: source)
  }

  init(tokens: [String], encoder: [[UInt8]: Int], merges: [(String, String)], source: String) throws {
    var ranks: [BPEPair: Int] = [:]
    for (rank, merge) in merges.enumerated() {
      let pair = BPEPair(first: Array(merge.0.utf8), second: Array(merge.1.utf8))
      if ranks[pair] == nil { ranks[pair] = rank }
      guard encoder[pair.first + pair.second] != nil else {
        throw VocabularyError(path: source, reason: "merge \(rank + 1) (\(merge.0) \(merge.1)) makes a token the vocabulary does not have")
      }
    }
    guard let start = encoder[Array("<|startoftext|>".utf8)], let end = encoder[Array("<|endoftext|>".utf8)] else {
      throw VocabularyError(path: source, reason: "has no <|startoftext|> / <|endoftext|> token")
    }
    for (byte, _) in Self.byteCharacters {
      guard encoder[Self.byteEncoder[Int(byte)]] != nil, encoder[Self.byteEncoder[Int(byte)] + Self.wordEnd] != nil else {
        throw VocabularyError(path: source, reason: "lacks the token for byte \(byte): every byte must be spellable")
      }
    }
    self.tokens = tokens
    self.encoder = encoder
    self.ranks = ranks
    startId = start
    endId = end
  }

  /// Reads a merge list: Hugging Face's merges.txt or the first lines of open_clip's
  /// bpe_simple_vocab_16e6.txt (gunzipped). The first line is a "#version" header and is skipped; then
  /// the first `mergeCount` lines are used, each two symbols separated by one space.
  public static func readMerges(path: String) throws -> [(String, String)] {
    let text = try readText(path)
    let bytes = Array(text.utf8)
    // Lines end in \n, \r\n or a lone \r (Python's universal newlines, as Hugging Face opens the file).
    // Only the first `mergeCount` lines after the header are read: open_clip's file has 262,145 merges and
    // CLIP uses the first 48,894. Work on the UTF-8 bytes: a line is a range of them.
    return try bytes.withUnsafeBufferPointer { b -> [(String, String)] in
      var position = 0
      /// The next line's bytes (without its end), or nil at the end of the file.
      func nextLine() -> Range<Int>? {
        guard position < b.count else { return nil }
        let start = position
        while position < b.count, b[position] != 0x0A, b[position] != 0x0D { position += 1 }
        let line = start..<position
        if position < b.count {
          position += (b[position] == 0x0D && position + 1 < b.count && b[position + 1] == 0x0A) ? 2 : 1
        }
        return line
      }
      func string(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self) }
      guard let header = nextLine(), string(header).contains("#version") else {
        throw VocabularyError(path: path, reason: "does not start with a #version line (not a BPE merges file)")
      }
      var lines: [Range<Int>] = []
      lines.reserveCapacity(mergeCount)
      while lines.count < mergeCount, let line = nextLine() { lines.append(line) }
      // Blank lines at the very end of the file are not merges (a final newline is common); a blank line
      // followed by merges is an error below.
      if lines.last?.isEmpty == true {
        var restBlank = true
        while restBlank, let line = nextLine() { restBlank = line.isEmpty }
        if restBlank { while lines.last?.isEmpty == true { lines.removeLast() } }
      }
      guard !lines.isEmpty else {
        throw VocabularyError(path: path, reason: "has no merges after its #version line: every word would be spelt byte by byte")
      }
      var merges: [(String, String)] = []
      merges.reserveCapacity(lines.count)
      for (i, line) in lines.enumerated() {
        // Python's split(): runs of blanks (space, tab), none at the ends.
        var parts: [Range<Int>] = []
        var j = line.lowerBound
        while j < line.upperBound && parts.count <= 2 {
          while j < line.upperBound, b[j] == 0x20 || b[j] == 0x09 { j += 1 }
          let partStart = j
          while j < line.upperBound, b[j] != 0x20, b[j] != 0x09 { j += 1 }
          if j > partStart { parts.append(partStart..<j) }
        }
        guard parts.count == 2 else {
          throw VocabularyError(path: path, reason: "line \(i + 2) is not two symbols separated by a space: \(string(line).prefix(60).debugDescription)")
        }
        merges.append((string(parts[0]), string(parts[1])))
      }
      return merges
    }
  }

  /// The merge list shipped in Assets (open_clip's vocabulary).
  public static func bundled() throws -> CLIPTokenizer {
    guard let path = BundledAssets.path(BundledAssets.clipMerges) else {
      throw VocabularyError(path: BundledAssets.clipMerges, reason: "not found in " + BundledAssets.searchPath.joined(separator: " or "))
    }
    return try CLIPTokenizer(merges: try readMerges(path: path), source: path)
  }

  /// The tokenizer of a CLIP checkpoint: a folder's own vocab.json + merges.txt, or the bundled merges
  /// for a folder with neither (or a single file). One without the other is an error naming the missing
  /// file: silently falling back to the bundled vocabulary would change every id.
  public static func forCheckpoint(_ path: String) throws -> CLIPTokenizer {
    let fm = FileManager.default
    let vocab = fm.fileExists(atPath: path + "/vocab.json"), merges = fm.fileExists(atPath: path + "/merges.txt")
    if vocab && merges { return try CLIPTokenizer(huggingFaceDirectory: path) }
    if vocab || merges {
      throw VocabularyError(path: path + (vocab ? "/merges.txt" : "/vocab.json"), reason: "no such file, though \(vocab ? "vocab.json" : "merges.txt") "
        + "is there: a Hugging Face CLIP tokenizer needs both (copy the missing one from the model's folder, or remove both to use the bundled vocabulary)")
    }
    return try bundled()
  }

  /// A Hugging Face CLIP folder's tokenizer: vocab.json (token → id) and merges.txt. The ids are
  /// vocab.json's; every merge must make a token it has.
  public init(huggingFaceDirectory directory: String) throws {
    let vocabPath = directory + "/vocab.json", mergesPath = directory + "/merges.txt"
    let merges = try Self.readMerges(path: mergesPath)
    let object: [String: Any]
    do { object = try readJSONObject(vocabPath) } catch let error as ConfigurationError {
      throw VocabularyError(path: vocabPath, reason: error.problems.joined(separator: "; ") + " (vocab.json maps each token to its id)")
    }
    var tokens = [String](repeating: "", count: object.count)
    var encoder: [[UInt8]: Int] = [:]
    for (token, value) in object {
      guard let id = jsonInteger(value), id >= 0, id < object.count, tokens[id].isEmpty else {
        throw VocabularyError(path: vocabPath, reason: "token \(token.debugDescription) has id \(describeJSONValue(value)), "
          + "not a fresh whole number in 0..<\(object.count)")
      }
      tokens[id] = token
      encoder[Array(token.utf8)] = id
    }
    // Every token past the 512 byte tokens and the 2 special ones is made by one merge: fewer merges than
    // that (a cut-off merges.txt) leave tokens no word can reach, and every text tokenizes differently.
    let madeByMerges = tokens.count - 2 * Self.byteCharacters.count - 2
    guard merges.count >= madeByMerges else {
      throw VocabularyError(path: mergesPath, reason: "has \(merges.count) merges, but \(vocabPath) has \(tokens.count) tokens, "
        + "which take \(madeByMerges): is it cut short?")
    }
    try self.init(tokens: tokens, encoder: encoder, merges: merges, source: vocabPath)
  }

  // MARK: Encoding

  /// BPE ids of `text` (no start/end tokens); with a `limit`, the first `limit` of them. A long text is
  /// then cleaned and split only as far as the limit needs: no cleaning rule, entity or pre-token
  /// reaches across an ASCII space, so a prefix cut at a space (and not inside a line that goes on to a
  /// "<", which switches entities off for that whole line) starts with the same tokens as the whole.
  public func tokenIds(_ text: String, limit: Int? = nil) -> [Int] {
    guard let limit else { return ids(cleaned: cleaner.clean(text), limit: Int.max) }
    let scalars = Array(text.unicodeScalars)
    var size = 4096
    while size < scalars.count {
      var end = size
      while end < scalars.count && scalars[end] != " " && scalars[end] != "\n" { end += 1 }
      var lineEnd = end
      while lineEnd < scalars.count && scalars[lineEnd] != "\n" { lineEnd += 1 }
      if scalars[end..<lineEnd].contains("<") { end = min(scalars.count, lineEnd + 1) }
      let ids = ids(cleaned: cleaner.clean(String(String.UnicodeScalarView(scalars[0..<end]))), limit: limit + 1)
      if ids.count > limit { return Array(ids.prefix(limit)) }
      size *= 4
    }
    return ids(cleaned: cleaner.clean(text), limit: limit)
  }

  /// BPE ids of an already-cleaned text, stopping after the piece that reaches `limit`, cut to `limit`.
  func ids(cleaned: String, limit: Int) -> [Int] {
    var ids: [Int] = []
    for piece in pretokenize(cleaned) {
      if ids.count >= limit { break }
      switch piece {
      case .special(let id): ids.append(id)
      case .text(let scalars):
        var word: [[UInt8]] = []
        for byte in String(String.UnicodeScalarView(scalars)).utf8 { word.append(Self.byteEncoder[Int(byte)]) }
        for symbol in bpe(word) { ids.append(encoder[symbol]!) }  // every merge result and byte is in the vocabulary (init checks)
      }
    }
    return ids.count > limit ? Array(ids.prefix(limit)) : ids
  }

  /// <|startoftext|> + ids + <|endoftext|>, at most `contextLength`: a longer text keeps its first 75
  /// tokens and still ends in <|endoftext|> (the text tower reads its feature there).
  public func encode(_ text: String, contextLength: Int = CLIPTokenizer.contextLength) -> [Int] {
    precondition(contextLength >= 2, "the context must hold <|startoftext|> and <|endoftext|>")
    return [startId] + tokenIds(text, limit: contextLength - 2) + [endId]
  }

  /// (B, contextLength) ids padded with 0 after <|endoftext|>, as open_clip's `tokenize` returns them.
  public func batch(_ texts: [String], contextLength: Int = CLIPTokenizer.contextLength) -> [[Int]] {
    texts.map { text in
      let ids = encode(text, contextLength: contextLength)
      return ids + [Int](repeating: 0, count: contextLength - ids.count)
    }
  }

  /// The tokens of ids, for printing.
  public func pieces(_ ids: [Int]) -> [String] {
    ids.map { $0 >= 0 && $0 < tokens.count ? tokens[$0] : "<\($0)>" }
  }

  // ANCHOR: bpe
  /// Merges one pre-token's symbols: the last symbol carries </w>; then, while some adjacent pair is a
  /// merge, join every occurrence of the lowest-ranked one (left to right, not overlapping).
  func bpe(_ symbols: [[UInt8]], onMerge: (([[UInt8]]) -> Void)? = nil) -> [[UInt8]] {
    if symbols.isEmpty { return [] }
    var word = symbols
    word[word.count - 1] += Self.wordEnd
    onMerge?(word)
    while word.count > 1 {
      var best: (rank: Int, pair: BPEPair)? = nil
      for i in 0..<(word.count - 1) {
        let pair = BPEPair(first: word[i], second: word[i + 1])
        if let rank = ranks[pair], rank < (best?.rank ?? Int.max) { best = (rank, pair) }
      }
      guard let (_, pair) = best else { break }
      var merged: [[UInt8]] = []
      var i = 0
      while i < word.count {
        if i < word.count - 1 && word[i] == pair.first && word[i + 1] == pair.second {
          merged.append(pair.first + pair.second)
          i += 2
        } else {
          merged.append(word[i])
          i += 1
        }
      }
      word = merged
      onMerge?(word)
    }
    return word
  }
  // ANCHOR_END: bpe

  /// One pre-token's way through BPE, for printing (chapter 11).
  public struct PieceTrace: Sendable {
    public var piece: String  // as pre-tokenised
    public var stages: [[String]]  // the symbols before any merge, then after each merge
    public var ids: [Int]
  }

  /// The cleaned text and each piece's merges, step by step.
  public func trace(_ text: String) -> (cleaned: String, pieces: [PieceTrace]) {
    let cleaned = cleaner.clean(text)
    var pieces: [PieceTrace] = []
    for piece in pretokenize(cleaned) {
      switch piece {
      case .special(let id): pieces.append(PieceTrace(piece: tokens[id], stages: [[tokens[id]]], ids: [id]))
      case .text(let scalars):
        let word = Array(String(String.UnicodeScalarView(scalars)).utf8).map { Self.byteEncoder[Int($0)] }
        var stages: [[String]] = []
        let merged = bpe(word) { stages.append($0.map { String(decoding: $0, as: UTF8.self) }) }
        pieces.append(PieceTrace(piece: String(String.UnicodeScalarView(scalars)), stages: stages, ids: merged.map { encoder[$0]! }))
      }
    }
    return (cleaned, pieces)
  }

  // MARK: Pre-tokenising

  enum Piece: Equatable {
    case special(Int)
    case text([Unicode.Scalar])
  }

  /// open_clip's pattern, alternatives tried in this order at each position:
  ///   <start_of_text> | <end_of_text> | 's | 't | 're | 've | 'm | 'll | 'd | \p{L}+ | \p{N} | [^\s\p{L}\p{N}]+
  /// Whitespace matches nothing and is skipped. (A literal <start_of_text> in a caption is that token,
  /// as in open_clip; Hugging Face spells its specials <|startoftext|> and matches those instead.)
  func pretokenize(_ text: String) -> [Piece] {
    let s = Array(text.unicodeScalars)
    var pieces: [Piece] = []
    var i = 0
    func matches(_ literal: String, at i: Int) -> Bool {
      let l = Array(literal.unicodeScalars)
      return i + l.count <= s.count && Array(s[i..<(i + l.count)]) == l
    }
    // open_clip compiles the pattern with IGNORECASE: after lower-casing, that still lets "ſ" (long s,
    // which case-folds to s) end a contraction: "dog'ſ" is dog + 'ſ.
    func matchesIgnoringCase(_ literal: String, at i: Int) -> Bool {
      let l = Array(literal.unicodeScalars)
      guard i + l.count <= s.count else { return false }
      return zip(s[i..<(i + l.count)], l).allSatisfy { a, b in a == b || (b == "s" && a == "\u{017F}") }
    }
    outer: while i < s.count {
      for (literal, id) in [("<start_of_text>", startId), ("<end_of_text>", endId)] where matches(literal, at: i) {
        pieces.append(.special(id))
        i += literal.unicodeScalars.count
        continue outer
      }
      if s[i] == "'" {
        for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] where matchesIgnoringCase(suffix, at: i + 1) {
          let end = i + 1 + suffix.unicodeScalars.count
          pieces.append(.text(Array(s[i..<end])))
          i = end
          continue outer
        }
      }
      let start = i
      if isLetter(s[i]) {
        while i < s.count && isLetter(s[i]) { i += 1 }
      } else if isNumber(s[i]) {
        i += 1
      } else if !isSpace(s[i]) {
        while i < s.count && !isSpace(s[i]) && !isLetter(s[i]) && !isNumber(s[i]) { i += 1 }
      } else {
        i += 1
        continue
      }
      pieces.append(.text(Array(s[start..<i])))
    }
    return pieces
  }
}

/// \p{L}: any letter (Lu, Ll, Lt, Lm, Lo).
func isLetter(_ c: Unicode.Scalar) -> Bool {
  switch c.properties.generalCategory {
  case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
  default: return false
  }
}

/// \p{N}: any number (Nd, Nl, No) — "½" and "²" are numbers too, one piece each.
func isNumber(_ c: Unicode.Scalar) -> Bool {
  switch c.properties.generalCategory {
  case .decimalNumber, .letterNumber, .otherNumber: return true
  default: return false
  }
}

/// \s: Unicode White_Space.
func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }

func readText(_ path: String) throws -> String {
  guard let data = FileManager.default.contents(atPath: path) else {
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    throw VocabularyError(path: path, reason: !exists ? "no such file" : isDirectory.boolValue ? "is a directory" : "cannot read the file")
  }
  guard let text = String(data: data, encoding: .utf8) else { throw VocabularyError(path: path, reason: "is not UTF-8 text") }
  return text
}
