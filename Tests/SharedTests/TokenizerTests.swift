// The tokenizer against Hugging Face's BertTokenizerFast: 100% identical ids on the corpus.

import Foundation
import Shared
import Testing

@Suite("Tokenizer")
struct TokenizerTests {
  static let tokenizer: BertTokenizer = {
    try! BertTokenizer(vocabularyPath: Fixtures.repositoryRoot + "/Assets/bert-base-uncased-vocab.txt")
  }()

  @Test("identical ids to BertTokenizerFast on the whole corpus (accents, CJK, emoji, controls, long words, …)")
  func corpus() throws {
    let text = try String(contentsOfFile: Fixtures.path("ch04-tokenizer.jsonl"), encoding: .utf8)
    var total = 0, mismatches: [String] = []
    for line in text.split(separator: "\n") {
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
      let input = object["text"] as! String
      let expected = (object["ids"] as! [NSNumber]).map(\.intValue)
      let maxLength = (object["max_length"] as? NSNumber)?.intValue
      let ids = Self.tokenizer.encode(input, maxLength: maxLength)
      total += 1
      if ids != expected && mismatches.count < 10 {
        mismatches.append("\(input.debugDescription): ours \(ids) vs HF \(expected)")
      }
    }
    #expect(total >= 5000)
    let report = mismatches.joined(separator: "\n")
    #expect(mismatches.isEmpty, "\(mismatches.count) mismatches of \(total):\n\(report)")
  }

  @Test("normalising chunk by chunk (at whitespace) gives the same words as normalising the whole text, ASCII fast path included")
  func chunkedNormalisation() throws {
    let text = try String(contentsOfFile: Fixtures.path("ch04-tokenizer.jsonl"), encoding: .utf8)
    var inputs: [String] = []
    for line in text.split(separator: "\n") {
      inputs.append((try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["text"] as! String)
    }
    inputs += ["c1\u{85}next", "a\u{0B}b\u{0C}c\u{1C}d", "tab\tnew\nline\rret", "MiXeD \u{7F}DEL", " \u{301}mark", "\u{3000}ideographic\u{3000}space"]
    for basic in [BasicTokenizer(lowercase: true), BasicTokenizer(lowercase: false)] {
      var differ: [String] = []
      for input in inputs {
        let whole = basic.split(basic.normalize(input))
        let chunked = basic.whitespaceChunks(input).flatMap { basic.split(basic.normalize(String($0))) }
        if whole != chunked { differ.append(input.debugDescription) }
      }
      #expect(differ.isEmpty, "lowercase \(basic.lowercase): \(differ.prefix(5))")
    }
    // The ASCII fast path equals the general path on every ASCII byte.
    let ascii = String(decoding: (0..<128).map { UInt8($0) } + Array("Hello, World!".utf8), as: UTF8.self)
    for basic in [BasicTokenizer(lowercase: true), BasicTokenizer(lowercase: false)] {
      #expect(basic.normalize(ascii) == basic.normalize(ascii + "é").dropLast().description)
    }
  }

  @Test("a padded batch with attention mask and token types equals HF's")
  func batch() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("ch04-tokenizer-batch.json")))
    let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    let texts = object["texts"] as! [String]
    let flat = { (key: String) in (object[key] as! [[NSNumber]]).flatMap { $0.map(\.intValue) } }
    let batch = Self.tokenizer.batch(texts)
    #expect(batch.inputIds == flat("input_ids"))
    #expect(batch.attentionMask == flat("attention_mask"))
    #expect(batch.tokenTypeIds == flat("token_type_ids"))
    #expect(batch.ids(row: 2) == [101, 102])
  }

  @Test func basicSteps() {
    let basic = BasicTokenizer()
    #expect(basic.tokenize("Héllo, WORLD!") == ["hello", ",", "world", "!"])
    #expect(basic.tokenize("a\u{200B}b\u{0}c") == ["abc"])
    #expect(basic.tokenize("中文") == ["中", "文"])
    #expect(basic.tokenize("$5+x") == ["$", "5", "+", "x"])
    let t = Self.tokenizer
    #expect(t.tokens(t.tokenIds("unaffable")) == ["una", "##ffa", "##ble"])
    #expect(t.tokenIds(String(repeating: "a", count: 101)) == [100])
    #expect(t.tokenIds("") == [])
    #expect(t.batch([]).batchSize == 0)
  }

  @Test("a missing or empty vocabulary file is a clear error")
  func badVocabulary() throws {
    #expect(throws: VocabularyError.self) { try Vocabulary(path: "/nonexistent/vocab.txt") }
    let path = temporaryDirectory() + "/empty.txt"
    _ = FileManager.default.createFile(atPath: path, contents: Data())
    #expect(throws: VocabularyError.self) { try Vocabulary(path: path) }
  }
}
