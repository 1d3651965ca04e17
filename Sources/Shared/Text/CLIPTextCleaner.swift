// What open_clip does to a caption before BPE (its "lower" clean):
//
//   ftfy.fix_text(text)  →  html.unescape twice  →  strip  →  runs of whitespace to one space  →  lower()
//
// ftfy's fix_text is a loop of small fixes until nothing changes. This file ports every one of them
// except the mojibake detector (`fix_encoding`: "cafÃ©" → "café", which guesses at how text was
// mis-decoded with a statistical badness score). Text that was never mis-decoded — nearly all
// captions — comes out the same; Walkthrough 11 shows an example where it does not.

import Foundation

public struct CLIPTextCleaner: Sendable {
  public init() {}

  /// The caption as open_clip's tokenizer sees it.
  public func clean(_ text: String) -> String {
    var s = fixText(text)
    s = htmlUnescape(htmlUnescape(s))
    s = collapseWhitespace(s)
    return pythonLower(s)
  }

  // MARK: ftfy.fix_text without fix_encoding

  /// ftfy's loop: entities (only on lines before the first "<", which may be markup), C1 controls read as
  /// Windows-1252, Latin ligatures taken apart, full/half-width forms to normal width, curly quotes
  /// straightened, line breaks to \n, terminal colour escapes and stray control characters removed,
  /// NFC — repeated until the text stops changing.
  public func fixText(_ text: String) -> String {
    // ftfy fixes the text line by line (each segment ends after a "\n"), and stops unescaping entities
    // from the first line that holds a "<" (it may be markup) to the end.
    var out = ""
    var unescape = true
    var segment = String.UnicodeScalarView()
    func flush() {
      if segment.isEmpty { return }
      if segment.contains("<") { unescape = false }
      out += fixSegment(String(segment), unescape: unescape)
      segment = String.UnicodeScalarView()
    }
    for c in text.unicodeScalars {
      segment.append(c)
      if c == "\n" { flush() }
    }
    flush()
    return out
  }

  /// ftfy's fix loop on one line.
  func fixSegment(_ text: String, unescape: Bool) -> String {
    var s = text
    while true {
      let before = s
      if unescape { s = ftfyUnescapeHTML(s) }
      var out = String.UnicodeScalarView()
      for c in s.unicodeScalars {
        let v = c.value
        if (0x80...0x9F).contains(v) {  // fix_c1_controls
          out.append(windows1252C1[Int(v - 0x80)])
        } else {
          out.append(c)
        }
      }
      s = String(out)
      s = mapScalars(s) { c in  // fix_latin_ligatures, then fix_character_width
        if let l = latinLigatures[c.value] { return l }
        if c.value == 0x3000 { return " " }
        if (0xFF01..<0xFFF0).contains(c.value) {
          let nfkc = String(c).precomposedStringWithCompatibilityMapping
          return nfkc
        }
        return nil
      }
      s = mapScalars(s) { c in  // uncurl_quotes
        if c.value == 0x02BC || (0x2018...0x201B).contains(c.value) { return "'" }
        if (0x201C...0x201F).contains(c.value) { return "\"" }
        return nil
      }
      s = fixLineBreaks(s)
      s = removeTerminalEscapes(s)
      s = mapScalars(s) { c in isRemovedControl(c.value) ? "" : nil }  // remove_control_chars
      s = s.precomposedStringWithCanonicalMapping  // NFC
      if s.unicodeScalars.elementsEqual(before.unicodeScalars) { return s }
    }
  }

  /// Replaces scalars for which `f` returns a string; keeps the others.
  func mapScalars(_ s: String, _ f: (Unicode.Scalar) -> String?) -> String {
    var out = String.UnicodeScalarView()
    for c in s.unicodeScalars {
      if let r = f(c) { out.append(contentsOf: r.unicodeScalars) } else { out.append(c) }
    }
    return String(out)
  }

  /// \r\n, \r, U+2028, U+2029 and U+0085 become \n.
  func fixLineBreaks(_ s: String) -> String {
    var out = String.UnicodeScalarView()
    let scalars = Array(s.unicodeScalars)
    var i = 0
    while i < scalars.count {
      let v = scalars[i].value
      if v == 0x0D {
        out.append("\n")
        if i + 1 < scalars.count && scalars[i + 1] == "\n" { i += 1 }
      } else if v == 0x2028 || v == 0x2029 || v == 0x85 {
        out.append("\n")
      } else {
        out.append(scalars[i])
      }
      i += 1
    }
    return String(out)
  }

  /// "\u{1B}[" digits-and-semicolons one letter: ANSI colour and cursor codes.
  func removeTerminalEscapes(_ s: String) -> String {
    let scalars = Array(s.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0
    while i < scalars.count {
      if scalars[i] == "\u{1B}" && i + 1 < scalars.count && scalars[i + 1] == "[" {
        var j = i + 2
        while j < scalars.count && (("0"..."9").contains(scalars[j]) || scalars[j] == ";") { j += 1 }
        if j < scalars.count && scalars[j].isASCII && scalars[j].properties.isAlphabetic {
          i = j + 1
          continue
        }
      }
      out.append(scalars[i])
      i += 1
    }
    return String(out)
  }

  func isRemovedControl(_ v: UInt32) -> Bool {
    v < 0x09 || v == 0x0B || (0x0E..<0x20).contains(v) || v == 0x7F || (0x206A..<0x2070).contains(v) || v == 0xFEFF
      || (0xFFF9..<0xFFFD).contains(v)
  }

  /// ftfy's unescape_html: only "&name;" / "&#…;" of 1–24 ASCII letters and digits, decoded when
  /// HTML5 names it (or an all-caps spelling of a lower-case name, "&EACUTE;" → "É"), or numeric.
  func ftfyUnescapeHTML(_ s: String) -> String {
    let scalars = Array(s.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0
    while i < scalars.count {
      if scalars[i] == "&" {
        var j = i + 1
        if j < scalars.count && scalars[j] == "#" { j += 1 }
        let nameStart = j
        while j < scalars.count && j - nameStart < 24 && isASCIIAlphanumeric(scalars[j]) { j += 1 }
        if j > nameStart && j < scalars.count && scalars[j] == ";" {
          let entity = String(String.UnicodeScalarView(scalars[i...j]))
          if let r = ftfyEntity(entity) {
            out.append(contentsOf: r.unicodeScalars)
            i = j + 1
            continue
          }
        }
      }
      out.append(scalars[i])
      i += 1
    }
    return String(out)
  }

  func ftfyEntity(_ entity: String) -> String? {
    let name = String(entity.dropFirst())  // "amp;" or "#38;"
    if let r = html5Entities[name] { return r }
    if name.hasPrefix("#") {
      let r = htmlUnescape(entity)
      return r.contains(";") ? nil : r
    }
    // The all-caps spelling of a lower-case name, when that spelling is not an entity of its own.
    // (ftfy adds these only where Python's html.unescape leaves the all-caps spelling alone.)
    let lower = name.lowercased()
    if name == lower.uppercased(), lower != name, let r = html5Entities[lower], htmlUnescape(entity) == entity {
      return r.uppercased()
    }
    return nil
  }

  // MARK: Python's html.unescape

  /// Python's html.unescape: "&" then "#" digits, "#x" hex digits, or up to 32 name characters, the ";"
  /// optional. Names are HTML5's; a name without ";" matches its longest known prefix ("&ampx" → "&x").
  /// Numbers follow HTML5: 0 and surrogates → U+FFFD, 0x80–0x9F → Windows-1252, a few → "".
  public func htmlUnescape(_ s: String) -> String {
    guard s.unicodeScalars.contains("&") else { return s }
    let scalars = Array(s.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0
    while i < scalars.count {
      guard scalars[i] == "&", i + 1 < scalars.count else {
        out.append(scalars[i])
        i += 1
        continue
      }
      if scalars[i + 1] == "#" {
        var j = i + 2
        let hex = j < scalars.count && (scalars[j] == "x" || scalars[j] == "X")
        if hex { j += 1 }
        let digitsStart = j
        while j < scalars.count && (hex ? scalars[j].properties.isASCIIHexDigit : ("0"..."9").contains(scalars[j])) { j += 1 }
        if j > digitsStart {
          let digits = String(String.UnicodeScalarView(scalars[digitsStart..<j]))
          out.append(contentsOf: numericCharacter(digits, radix: hex ? 16 : 10).unicodeScalars)
          if j < scalars.count && scalars[j] == ";" { j += 1 }
          i = j
          continue
        }
        out.append(scalars[i])
        i += 1
        continue
      }
      // A name: up to 32 characters that are not \t \n \f space < & # ;, then an optional ";".
      var j = i + 1
      while j < scalars.count && j - (i + 1) < 32 && !"\t\n\u{0C} <&#;".unicodeScalars.contains(scalars[j]) { j += 1 }
      if j == i + 1 {
        out.append(scalars[i])
        i += 1
        continue
      }
      let withSemicolon = j < scalars.count && scalars[j] == ";"
      let name = String(String.UnicodeScalarView(scalars[(i + 1)..<j])) + (withSemicolon ? ";" : "")
      if let r = html5Entities[name] {
        out.append(contentsOf: r.unicodeScalars)
        i = j + (withSemicolon ? 1 : 0)
        continue
      }
      // The longest prefix that is an entity (names without ";" are the legacy ones), else as it was.
      let nameScalars = Array(name.unicodeScalars)
      var matched = false
      var x = nameScalars.count - 1
      while x > 1 {
        let prefix = String(String.UnicodeScalarView(nameScalars[0..<x]))
        if let r = html5Entities[prefix] {
          out.append(contentsOf: r.unicodeScalars)
          out.append(contentsOf: nameScalars[x...])
          matched = true
          break
        }
        x -= 1
      }
      if !matched {
        out.append("&")
        out.append(contentsOf: nameScalars)
      }
      i = j + (withSemicolon ? 1 : 0)
    }
    return String(out)
  }

  func numericCharacter(_ digits: String, radix: Int) -> String {
    // Python converts the whole run, however long; anything past U+10FFFF is U+FFFD.
    var value: UInt64 = 0
    var overflow = false
    for d in digits.unicodeScalars {
      let v = UInt64(Int(String(d), radix: radix)!)
      if value > 0x10FFFF { overflow = true } else { value = value * UInt64(radix) + v }
    }
    if overflow || value > 0x10FFFF { return "\u{FFFD}" }
    if value == 0 { return "\u{FFFD}" }
    if value == 0x0D { return "\r" }
    if (0x80...0x9F).contains(value) { return String(windows1252C1[Int(value - 0x80)]) }
    if (0xD800...0xDFFF).contains(value) { return "\u{FFFD}" }
    if invalidCodepoints(UInt32(value)) { return "" }
    return String(Unicode.Scalar(UInt32(value))!)
  }

  /// Python's html._invalid_codepoints: C0/C1 controls other than whitespace, noncharacters.
  func invalidCodepoints(_ v: UInt32) -> Bool {
    (0x1...0x8).contains(v) || (0xE...0x1F).contains(v) || (0x7F...0x9F).contains(v) || (0xFDD0...0xFDEF).contains(v)
      || v == 0xB || (v & 0xFFFF) == 0xFFFE || (v & 0xFFFF) == 0xFFFF
  }

  // MARK: Whitespace and case

  /// Strips, then turns each run of whitespace into one space (open_clip's whitespace_clean after
  /// basic_clean's strip).
  public func collapseWhitespace(_ s: String) -> String {
    var out = String.UnicodeScalarView()
    var pendingSpace = false
    for c in s.unicodeScalars {
      if isSpace(c) {
        pendingSpace = !out.isEmpty
      } else {
        if pendingSpace { out.append(" ") }
        pendingSpace = false
        out.append(c)
      }
    }
    return String(out)
  }

  /// Python's str.lower(): each scalar's full lower-case mapping ("İ" → "i̇"), and capital sigma as
  /// final "ς" at the end of a word (preceded by a cased letter, not followed by one; case-ignorable
  /// characters in between are skipped), "σ" elsewhere.
  public func pythonLower(_ s: String) -> String {
    let scalars = Array(s.unicodeScalars)
    var out = String.UnicodeScalarView()
    for (i, c) in scalars.enumerated() {
      if c.value == 0x03A3 {
        var j = i - 1
        while j >= 0 && scalars[j].properties.isCaseIgnorable { j -= 1 }
        var final = j >= 0 && scalars[j].properties.isCased
        if final {
          var k = i + 1
          while k < scalars.count && scalars[k].properties.isCaseIgnorable { k += 1 }
          final = k == scalars.count || !scalars[k].properties.isCased
        }
        out.append(final ? "\u{03C2}" : "\u{03C3}")
      } else {
        out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
      }
    }
    return String(out)
  }
}

func isASCIIAlphanumeric(_ c: Unicode.Scalar) -> Bool {
  ("0"..."9").contains(c) || ("a"..."z").contains(c) || ("A"..."Z").contains(c)
}

/// Windows-1252's characters for the bytes 0x80–0x9F (undefined ones stay as the C1 control).
let windows1252C1: [Unicode.Scalar] = [
  "\u{20AC}", "\u{81}", "\u{201A}", "\u{0192}", "\u{201E}", "\u{2026}", "\u{2020}", "\u{2021}",
  "\u{02C6}", "\u{2030}", "\u{0160}", "\u{2039}", "\u{0152}", "\u{8D}", "\u{017D}", "\u{8F}",
  "\u{90}", "\u{2018}", "\u{2019}", "\u{201C}", "\u{201D}", "\u{2022}", "\u{2013}", "\u{2014}",
  "\u{02DC}", "\u{2122}", "\u{0161}", "\u{203A}", "\u{0153}", "\u{9D}", "\u{017E}", "\u{0178}",
]

/// ftfy's LIGATURES: Latin typographic ligatures and legacy digraphs, taken apart.
let latinLigatures: [UInt32: String] = [
  0x0132: "IJ", 0x0133: "ij", 0x0149: "\u{02BC}n", 0x01F1: "DZ", 0x01F2: "Dz", 0x01F3: "dz",
  0x01C4: "D\u{017D}", 0x01C5: "D\u{017E}", 0x01C6: "d\u{017E}", 0x01C7: "LJ", 0x01C8: "Lj", 0x01C9: "lj",
  0x01CA: "NJ", 0x01CB: "Nj", 0x01CC: "nj",
  0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "\u{017F}t", 0xFB06: "st",
]
