// BERT's basic tokenizer — the text clean-up and splitting in front of WordPiece — written to give
// exactly what Hugging Face's BertTokenizerFast (the Rust `tokenizers` BertNormalizer and
// BertPreTokenizer) gives, character for character:
//
//   1. clean:      drop NUL, U+FFFD and "other" characters (Cc, Cf, Cs, Co — controls, zero-width
//                  marks, …; not unassigned ones) except \t \n \r; map every White_Space character to ' '
//   2. CJK:        put spaces around CJK ideographs, so each becomes its own word
//   3. accents:    NFD, then drop nonspacing marks (Mn)            (uncased vocabularies only)
//   4. lower-case: per character, Unicode's full lowercase mapping  (uncased vocabularies only)
//   5. split:      on whitespace (dropped) and around every punctuation character (kept, alone);
//                  ASCII symbols such as $ + < = > ^ ` | ~ count as punctuation, as in BERT
//
// Everything works on Unicode scalars, never on Swift Characters (grapheme clusters), because that is
// what the reference does.

import Foundation

public struct BasicTokenizer: Sendable {
  /// Lower-case and strip accents (true for bert-base-uncased and MiniLM).
  public var lowercase: Bool
  public init(lowercase: Bool = true) { self.lowercase = lowercase }

  // MARK: - Character classes

  /// "Other" as the reference's `unicode_categories` crate defines it: Cc, Cf, Cs, Co — but not Cn
  /// (unassigned code points are kept, and make their word [UNK]) — except tab, newline, return.
  @inline(__always)
  static func isControl(_ s: Unicode.Scalar) -> Bool {
    if s == "\t" || s == "\n" || s == "\r" { return false }
    switch s.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse: return true
    default: return false
    }
  }

  @inline(__always)
  static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
    s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace
  }

  /// CJK ideograph blocks, as BERT defines them (Hangul, Hiragana and Katakana are not included).
  @inline(__always)
  static func isCJK(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
      0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
      return true
    default: return false
    }
  }

  /// ASCII punctuation (all of !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~) or a Unicode punctuation category.
  @inline(__always)
  static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
    let v = s.value
    if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
    switch s.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
      .finalPunctuation, .otherPunctuation:
      return true
    default: return false
    }
  }

  // MARK: - Normalise and split

  /// Steps 1–4: the normalised text.
  public func normalize(_ text: String) -> String {
    if text.utf8.allSatisfy({ $0 < 0x80 }) { return normalizeASCII(text) }
    var cleaned = String.UnicodeScalarView()
    for s in text.unicodeScalars {
      if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
      let c: Unicode.Scalar = Self.isWhitespace(s) ? " " : s
      if Self.isCJK(c) {
        cleaned.append(" ")
        cleaned.append(c)
        cleaned.append(" ")
      } else {
        cleaned.append(c)
      }
    }
    guard lowercase else { return String(cleaned) }
    // NFD, drop nonspacing marks, then lower-case each scalar.
    let decomposed = String(cleaned).decomposedStringWithCanonicalMapping
    var out = String.UnicodeScalarView()
    for s in decomposed.unicodeScalars where s.properties.generalCategory != .nonspacingMark {
      out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
    }
    return String(out)
  }

  /// Steps 1–4 for pure ASCII text, byte by byte — the same result as `normalize` (ASCII has no
  /// CJK, NFD leaves it alone, and lower-casing is A–Z → a–z), without a String per scalar: a
  /// megabyte of ASCII costs milliseconds, not seconds, in a debug or sanitizer build.
  func normalizeASCII(_ text: String) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count)
    for b in text.utf8 {
      switch b {
      case 9, 10, 13: out.append(32)  // tab, newline, return: whitespace → ' '
      case 0..<32, 127: continue  // NUL and the other C0 controls, DEL: dropped
      case 65...90 where lowercase: out.append(b + 32)
      default: out.append(b)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Splits raw text at the characters step 1 turns into ' ' into chunks that normalise
  /// independently: no step of `normalize` looks across such a character, and `split` drops it.
  /// (A whitespace *control*, such as U+0085, is dropped by step 1, not turned into a space, so it
  /// does not split: "c1\u{85}next" is one word.) Tokenizing chunk by chunk lets a caller stop
  /// once it has enough tokens without normalising the rest.
  public func whitespaceChunks(_ text: String) -> [Substring] {
    var chunks: [Substring] = []
    var start = text.unicodeScalars.startIndex
    var i = start
    let scalars = text.unicodeScalars
    while i < scalars.endIndex {
      let s = scalars[i]
      if Self.isWhitespace(s) && !Self.isControl(s) {
        if start < i { chunks.append(Substring(scalars[start..<i])) }
        start = scalars.index(after: i)
      }
      i = scalars.index(after: i)
    }
    if start < scalars.endIndex { chunks.append(Substring(scalars[start...])) }
    return chunks
  }

  /// Step 5: words and punctuation marks, each as its list of scalars.
  public func split(_ normalized: String) -> [[Unicode.Scalar]] {
    var words: [[Unicode.Scalar]] = []
    var current: [Unicode.Scalar] = []
    for s in normalized.unicodeScalars {
      if s.properties.isWhitespace {
        if !current.isEmpty { words.append(current); current = [] }
      } else if Self.isPunctuation(s) {
        if !current.isEmpty { words.append(current); current = [] }
        words.append([s])
      } else {
        current.append(s)
      }
    }
    if !current.isEmpty { words.append(current) }
    return words
  }

  /// Normalise and split: the basic tokens of `text`.
  public func tokenize(_ text: String) -> [String] {
    split(normalize(text)).map { String(String.UnicodeScalarView($0)) }
  }
}
