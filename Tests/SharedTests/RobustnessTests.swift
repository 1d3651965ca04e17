// Bad and strange inputs: each gets a result or a clear error, never a crash. (Images, safetensors,
// CSV and training have their own suites; this one covers text, empty batches and the CLI.)

import Foundation
import Shared
import Testing

@Suite("Robustness")
struct RobustnessTests {
  let tokenizer = try! BertTokenizer.bundledUncased()

  @Test("any Unicode tokenizes: combining marks, RTL, zero-width, NUL, lone surrogates' replacement, 1 MB")
  func strangeText() {
    let texts = [
      "", " ", "\u{0}", "e\u{301}\u{301}\u{301}", "שלום עולם", "مرحبا بالعالم", "a\u{200B}b\u{200D}c\u{FEFF}", "\u{FFFD}\u{FFFD}",
      String(decoding: [0xED, 0xA0, 0x80, 0x41] as [UInt8], as: UTF8.self),  // an encoded surrogate: repaired to U+FFFD
      "👩‍👩‍👧‍👦🏳️‍🌈", String(repeating: "\u{0301}", count: 10_000), String(repeating: "x", count: 1_000_000),
      String(repeating: "the dog ", count: 125_000),
    ]
    let batch = tokenizer.batch(texts, maxLength: 32)
    #expect(batch.batchSize == texts.count && batch.length <= 32)
    for r in 0..<batch.batchSize {
      let row = Array(batch.inputIds[(r * batch.length)..<((r + 1) * batch.length)])
      #expect(row[0] == 101, "row \(r) starts with [CLS]")
      let used = batch.attentionMask[(r * batch.length)..<((r + 1) * batch.length)].reduce(0, +)
      #expect(row[used - 1] == 102, "row \(r) ends with [SEP]")
    }
    // The 1 MB word is over 100 characters: one [UNK].
    #expect(tokenizer.encode(String(repeating: "x", count: 1_000_000)) == [101, 100, 102])
  }

  @Test("empty batches: no texts, no images, no files embed to (0, P)")
  func emptyBatches() throws {
    #expect(tokenizer.batch([]).batchSize == 0)
    let model = CLIP(config: .testTiny)
    let embedder = Embedder(model: model, config: TrainingConfig(name: "t", model: .testTiny), tokenizer: tokenizer)
    #expect(embedder.embedTexts([]).shape == [0, CLIPConfig.testTiny.projectionDim])
    let files = embedder.embedImageFiles([])
    #expect(files.embeddings.shape == [0, CLIPConfig.testTiny.projectionDim] && files.skipped.isEmpty)
    let retrieval = retrievalMetrics(ranks: [])
    #expect(retrieval.queries == 0 && retrieval.meanRank == 0)
  }

  @Test("wrong flags and missing arguments give argument-parser's usage and a non-zero exit")
  func commandLine() throws {
    for arguments in [["train", "--bogus"], ["search"], ["index"], ["zero-shot", "--model", "m"], ["train", "--epochs", "zero"],
                      ["train", "--epochs", "0"], ["search", "i", "q", "-k", "0"], ["no-such-command"]] {
      let result = try runProduct("clip", arguments)
      #expect(result.status != 0, "clip \(arguments) exited 0")
      #expect(result.stderr.contains("Usage:") || result.stderr.contains("Error:"), "clip \(arguments): \(result.stderr)")
    }
    let missingIndex = try runProduct("clip", ["search", "/nonexistent.index", "a dog"])
    #expect(missingIndex.status == 1 && missingIndex.stderr.hasPrefix("error: "), "\(missingIndex.stderr)")
  }
}
