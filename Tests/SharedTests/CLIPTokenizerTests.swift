// The CLIP BPE tokenizer against open_clip's SimpleTokenizer (and a record of where Hugging Face's
// CLIPTokenizer, which skips ftfy and HTML unescaping, disagrees with it).

import Foundation
import Shared
import Testing

@Suite("CLIP tokenizer")
struct CLIPTokenizerTests {
  static let tokenizer: CLIPTokenizer = try! CLIPTokenizer.bundled()

  struct Entry {
    var text: String
    var ids: [Int]
    var row: [Int]?
    var hf: [Int]?
    var unfixed: [Int]?
  }

  static func entries() throws -> [Entry] {
    let text = try String(contentsOfFile: Fixtures.path("ch11-tokenizer.jsonl"), encoding: .utf8)
    return try text.split(separator: "\n").map { line in
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
      func ids(_ key: String) -> [Int]? { (object[key] as? [NSNumber])?.map(\.intValue) }
      return Entry(text: object["text"] as! String, ids: ids("ids")!, row: ids("row"), hf: ids("hf"), unfixed: ids("unfixed"))
    }
  }

  @Test("ids identical to open_clip on 5,000+ strings; where ftfy repairs mojibake, identical to open_clip without that repair")
  func openClip() throws {
    let entries = try Self.entries()
    var mismatches: [String] = []
    var mojibake = 0
    for entry in entries {
      let expected = entry.unfixed ?? entry.ids
      if entry.unfixed != nil { mojibake += 1 }
      let ids = Self.tokenizer.tokenIds(entry.text)
      if ids != expected && mismatches.count < 10 {
        mismatches.append("\(entry.text.debugDescription):\n  ours \(Self.tokenizer.pieces(ids))\n  open_clip \(Self.tokenizer.pieces(expected))")
      }
    }
    #expect(entries.count >= 5000)
    #expect(mojibake <= 8, "the fixture's mojibake examples are the handful written for it")
    #expect(mismatches.isEmpty, "\(mismatches.count) mismatches of \(entries.count):\n\(mismatches.joined(separator: "\n"))")
  }

  @Test("rows of 77 as open_clip's tokenize() makes them: the cut keeps the first 75 pieces and ends in <|endoftext|>, then zeros")
  func rows() throws {
    var checked = 0
    for entry in try Self.entries() {
      guard let row = entry.row, entry.unfixed == nil else { continue }
      #expect(Self.tokenizer.batch([entry.text])[0] == row, "\(entry.text.debugDescription)")
      checked += 1
    }
    #expect(checked >= 100)
    let long = Self.tokenizer.encode(String(repeating: "photo ", count: 200))
    #expect(long.count == 77 && long.first == 49406 && long.last == 49407)
    #expect(Self.tokenizer.encode("") == [49406, 49407])
  }

  @Test("Hugging Face's CLIPTokenizer differs from open_clip only where ftfy or HTML unescaping changes the text")
  func huggingFace() throws {
    // Hugging Face's tokenizers backend normalises with NFC, whitespace and a per-character lower case
    // only (no final "ς"). Where it disagrees with open_clip, the text must be one that ftfy, html.unescape
    // or Python's lower() changes beyond that (the cleaner's output differs from NFC + whitespace +
    // per-character lower case), mojibake, one spelling the special tokens, or a contraction with a long s.
    let cleaner = CLIPTextCleaner()
    var differ = 0, unexplained: [String] = []
    for entry in try Self.entries() {
      guard entry.hf != nil else { continue }
      differ += 1
      let collapsed = cleaner.collapseWhitespace(entry.text.precomposedStringWithCanonicalMapping)
      let plain = String(String.UnicodeScalarView(collapsed.unicodeScalars.flatMap { $0.properties.lowercaseMapping.unicodeScalars }))
      let special = entry.text.lowercased().contains("start_of_text") || entry.text.lowercased().contains("end_of_text")
        || entry.text.contains("<|")
        || entry.text.unicodeScalars.contains("\u{017F}")  // "'ſ": Python's IGNORECASE folds ſ to s in a contraction, Rust's regex does not
      if plain == cleaner.clean(entry.text) && !special && entry.unfixed == nil && unexplained.count < 10 {
        unexplained.append(entry.text.debugDescription)
      }
    }
    #expect(differ > 0)
    #expect(unexplained.isEmpty, "Hugging Face differs on texts no cleaning step changes: \(unexplained)")
  }

  @Test("the cleaner: ftfy's fixes, HTML entities twice, whitespace, Python's lower()")
  func cleaner() {
    let c = CLIPTextCleaner()
    #expect(c.clean("don\u{2019}t  STOP\n") == "don't stop")
    #expect(c.clean("fish &amp;amp; chips") == "fish & chips")
    #expect(c.clean("\u{FB01}sh \u{FF21}\u{FF22}") == "fish ab")
    #expect(c.clean("ΟΔΥΣΣΕΥΣ") == "οδυσσευς")
    #expect(c.clean("\u{1B}[36mblue\u{1B}[0m") == "blue")
    #expect(c.clean("c1\u{85}") == "c1\u{2026}")
    #expect(c.htmlUnescape("&ampx &notit; &#0; &#x110000; &#128;") == "&x ¬it; \u{FFFD} \u{FFFD} \u{20AC}")
  }

  @Test("Hugging Face's vocab.json + merges.txt give the same ids; broken vocabulary files are clear errors")
  func vocabularyFiles() throws {
    let folder = temporaryDirectory("clip-vocab")
    let merges = try String(contentsOfFile: BundledAssets.path(BundledAssets.clipMerges)!, encoding: .utf8)
    try merges.write(toFile: folder + "/merges.txt", atomically: true, encoding: .utf8)
    var vocab: [String: Int] = [:]
    for (id, token) in Self.tokenizer.tokens.enumerated() { vocab[token] = id }
    try JSONSerialization.data(withJSONObject: vocab).write(to: URL(fileURLWithPath: folder + "/vocab.json"))
    let hf = try CLIPTokenizer(huggingFaceDirectory: folder)
    for text in ["A photo of a Dog!", "naïve café 😀", "日本語のテキスト", "x²"] {
      #expect(hf.encode(text) == Self.tokenizer.encode(text))
    }
    // Broken files: each a clear error naming the file.
    try "not a merges file\n".write(toFile: folder + "/merges.txt", atomically: true, encoding: .utf8)
    #expect { try CLIPTokenizer(huggingFaceDirectory: folder) } throws: { "\($0)".contains("merges.txt: does not start with a #version") }
    try "#version: 0.2\na b\nthree parts here\n".write(toFile: folder + "/merges.txt", atomically: true, encoding: .utf8)
    #expect { try CLIPTokenizer(huggingFaceDirectory: folder) } throws: { "\($0)".contains("line 3 is not two symbols") }
    try merges.write(toFile: folder + "/merges.txt", atomically: true, encoding: .utf8)
    try "[1, 2]".write(toFile: folder + "/vocab.json", atomically: true, encoding: .utf8)
    #expect { try CLIPTokenizer(huggingFaceDirectory: folder) } throws: { "\($0)".contains("vocab.json: holds a list of 2, not a JSON object") }
    vocab.removeValue(forKey: "<|endoftext|>")
    vocab["<|endoftext|>x"] = 49407
    try JSONSerialization.data(withJSONObject: vocab).write(to: URL(fileURLWithPath: folder + "/vocab.json"))
    #expect { try CLIPTokenizer(huggingFaceDirectory: folder) } throws: { "\($0)".contains("no <|startoftext|> / <|endoftext|>") }
    #expect { try CLIPTokenizer(huggingFaceDirectory: folder + "/missing") } throws: { "\($0)".contains("no such file") }
  }

  @Test("the 75-token cut of a long text equals the first 75 ids of the whole, without cleaning the whole")
  func longTexts() throws {
    var checked = 0
    for entry in try Self.entries() where entry.ids.count > 75 && entry.unfixed == nil {
      #expect(Self.tokenizer.tokenIds(entry.text, limit: 75) == Array(entry.ids.prefix(75)), "\(entry.text.prefix(40).debugDescription)…")
      checked += 1
    }
    #expect(checked >= 5)
    // A megabyte caption of words costs its first words, not the megabyte.
    let huge = String(repeating: "a photo of a dog &amp; a cat ", count: 40_000)
    let started = Date()
    #expect(Self.tokenizer.encode(huge).count == 77)
    #expect(Date().timeIntervalSince(started) < 60, "the cut should not clean all \(huge.count) characters")
  }

  @Test("a Hugging Face folder with a shorter merge list (and a final newline) is a vocabulary of its own")
  func smallVocabulary() throws {
    let folder = temporaryDirectory("clip-small-vocab")
    let all = try String(contentsOfFile: BundledAssets.path(BundledAssets.clipMerges)!, encoding: .utf8).split(separator: "\n")
    let merges = all.dropFirst().prefix(100).map { $0.split(separator: " ").map(String.init) }
    try ("#version: 0.2\n" + merges.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n")
      .write(toFile: folder + "/merges.txt", atomically: true, encoding: .utf8)
    var tokens = CLIPTokenizer.byteCharacters.map { String($0.character) }
    tokens += tokens.map { $0 + "</w>" }
    tokens += merges.map { $0[0] + $0[1] } + ["<|startoftext|>", "<|endoftext|>"]
    var vocab: [String: Int] = [:]
    for (id, token) in tokens.enumerated() where vocab[token] == nil { vocab[token] = id }
    try JSONSerialization.data(withJSONObject: vocab).write(to: URL(fileURLWithPath: folder + "/vocab.json"))
    let small = try CLIPTokenizer(huggingFaceDirectory: folder)
    let ids = small.encode("a dog")
    #expect(ids.first == small.startId && ids.last == small.endId && small.startId == tokens.count - 2)
    #expect(ids.dropFirst().dropLast().allSatisfy { $0 < tokens.count - 2 })
  }
}
