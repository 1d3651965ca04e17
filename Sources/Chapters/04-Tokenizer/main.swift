// Chapter 04 — the WordPiece tokenizer: from a caption to the integer ids BERT reads.
//
//   clean → basic tokens → word pieces → ids → [CLS] … [SEP] → padded batch + attention mask
//
// The code is Sources/Shared/Text (BasicTokenizer, WordPiece, BertTokenizer); it gives exactly the ids
// of Hugging Face's BertTokenizerFast. Walkthrough: Walkthroughs/04-Tokenizer.md.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch04-tokenizer",
                                                  abstract: "Chapter 04: BERT's basic tokenizer and WordPiece, step by step.")
  @Option(help: "Your own sentence instead of the four examples.") var text: String?
  @Option(help: "A vocab.txt (one token per line) instead of bert-base-uncased's.") var vocab: String?
}
let args = Options.parseOrExit()
let notebook = Notebook(title: "Chapter 04 · the WordPiece tokenizer", steps: 6)

let tokenizer: BertTokenizer = notebook.step("load the vocabulary", "bert-base-uncased, the same file as all-MiniLM-L6-v2") {
  do {
    if let path = args.vocab { return try BertTokenizer(vocabularyPath: path) }
    return try BertTokenizer.bundledUncased()
  } catch { fail("\(error)") }
}
let vocab = tokenizer.vocabulary
// The ids of this vocabulary's special tokens and of a few ordinary ones (another --vocab numbers them differently).
let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { t in vocab.id(t).map { "\(t) \($0)" } }
let examples = ["to", "hello", "##s"].compactMap { t in vocab.id(t).map { "\(t) \($0)" } }
notebook.note("\(vocab.count) tokens: special tokens (\(specials.joined(separator: ", "))),")
notebook.note("then characters, whole words, and '##' continuation pieces: e.g. \(examples.isEmpty ? "(none of to, hello, ##s)" : examples.joined(separator: ", "))")

let captions = args.text.map { [$0] } ?? [
  "A Dog runs through the GRASS.",
  "Two children play near the café's fountain!",
  "A woman in a red shirt is unboxing a supercalifragilistic gadget",
  "中文 and emoji 😀\tcontrol\u{0007}chars, zero\u{200B}width",
]

// MARK: 2. clean + normalise
let normalized = notebook.step("clean and normalise", "drop controls, spaces around CJK, NFD + strip accents, lower-case") {
  captions.map { tokenizer.basic.normalize($0) }
}
/// The text in quotes, with control and invisible format characters, quotes and backslashes escaped as in Swift source,
/// and everything else, apostrophes included, as it is.
func quoted(_ text: String) -> String {
  "\"" + text.unicodeScalars.map { c -> String in
    switch c {
    case "\"": return "\\\""
    case "\\": return "\\\\"
    case "\t": return "\\t"
    case "\n": return "\\n"
    case "\r": return "\\r"
    default:
      let category = c.properties.generalCategory
      return category == .control || category == .format ? "\\u{" + String(c.value, radix: 16, uppercase: true) + "}" : String(c)
    }
  }.joined() + "\""
}
for (raw, clean) in zip(captions, normalized) {
  notebook.note("\(quoted(raw))\n  → \(quoted(clean))")
}

// MARK: 3. basic tokens
let basicTokens = notebook.step("split on whitespace and punctuation", "each punctuation mark is its own token") {
  normalized.map { tokenizer.basic.split($0).map { String(String.UnicodeScalarView($0)) } }
}
for tokens in basicTokens { notebook.note(tokens.map { "'\($0)'" }.joined(separator: " ")) }

// MARK: 4. word pieces
notebook.step("WordPiece", "greedy longest match; '##' = continues the word; no match → [UNK]")
for tokens in basicTokens {
  var pieces: [String] = []
  for word in tokens {
    let ids = tokenizer.wordPiece.ids(for: Array(word.unicodeScalars))
    pieces.append(tokenizer.tokens(ids).joined(separator: " "))
  }
  notebook.note(pieces.joined(separator: " | "))
}
// The three classic cases, spelled out.
for word in ["unboxing", "café", "supercalifragilistic", "😀"] {
  let scalars = Array(tokenizer.basic.normalize(word).unicodeScalars)
  let ids = tokenizer.wordPiece.ids(for: scalars)
  notebook.note("\(word.padding(toLength: 22, withPad: " ", startingAt: 0)) → \(tokenizer.tokens(ids).joined(separator: " "))  \(ids)")
}

// MARK: 5. ids with [CLS] / [SEP]
let encoded = notebook.step("ids", "[CLS] pieces [SEP]") { captions.map { tokenizer.encode($0) } }
for ids in encoded { notebook.note("\(ids)") }

// MARK: 6. a padded batch
let batch = notebook.step("pad into a batch", "to the longest row; attention mask 1 = real token") {
  tokenizer.batch(captions)
}
notebook.note("input_ids (\(batch.batchSize) × \(batch.length)):")
for b in 0..<batch.batchSize {
  notebook.note("  " + (0..<batch.length).map { String(format: "%6d", batch.inputIds[b * batch.length + $0]) }.joined())
}
notebook.note("attention_mask:")
for b in 0..<batch.batchSize {
  notebook.note("  " + (0..<batch.length).map { String(format: "%6d", batch.attentionMask[b * batch.length + $0]) }.joined())
}
notebook.finish(next: "ch05-bert — the ids become sentence embeddings")
