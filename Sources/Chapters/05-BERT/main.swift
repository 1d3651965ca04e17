// Chapter 05 — BERT: token ids → contextual token vectors → one unit-length sentence embedding.
//
// Runs captions through the encoder layer by layer (Sources/Shared/Models/BERT.swift), mean-pools over
// the real tokens, L2-normalises, and compares sentences by cosine similarity. Uses the real
// all-MiniLM-L6-v2 when fetched (bash Scripts/fetch-minilm.sh); otherwise deterministic untrained
// weights. Walkthrough: Walkthroughs/05-BERT.md.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch05-bert",
                                                  abstract: "Chapter 05: the BERT text tower, mean pooling and sentence similarity.")
  @Option(help: "A Hugging Face BERT folder (config.json, model.safetensors, vocab.txt); default all-MiniLM-L6-v2.") var model: String?
  @Flag(help: "Use deterministic untrained weights even when MiniLM is there.") var untrained = false
  @Option(help: "Where the pictures go.") var out = "output/ch05-bert"
}
let args = Options.parseOrExit()
let outDir = args.out
do { try ensureDirectory(outDir) } catch { fail("cannot create output folder \(outDir): \(error)") }
let notebook = Notebook(title: "Chapter 05 · BERT sentence embeddings", steps: 6)

// MARK: 1. model
let modelDirectory = args.model ?? MiniLM.directory
let useReal = !args.untrained && (args.model != nil || MiniLM.isAvailable)
let encoder: SentenceEncoder = notebook.step("load the text encoder") {
  do {
    if useReal { return try SentenceEncoder(directory: modelDirectory) }
    return SentenceEncoder(tokenizer: try BertTokenizer.bundledUncased(), model: BERT(config: .miniLM))
  } catch { fail("\(error)") }
}
let c = encoder.model.config
if useReal {
  notebook.note("weights: \(modelDirectory) — real, pretrained (all-MiniLM-L6-v2 unless you chose another)")
} else {
  notebook.note("weights: deterministic, UNTRAINED (MiniLM-shaped). For the real all-MiniLM-L6-v2 run:  \(MiniLM.fetchCommand)")
}
notebook.note("\(c.layers) layers, width \(c.hiddenSize), \(c.heads) heads, intermediate \(c.intermediateSize), \(encoder.model.parameterCount) parameters")

let sentences = [
  "A dog runs across the grass.",
  "A puppy is sprinting over a lawn.",
  "Two children play in the snow.",
  "Kids are building a snowman.",
  "A red circle above a blue square.",
  "A blue square below a red circle.",
  "The stock market fell sharply today.",
]

// MARK: 2. tokens
let batch = notebook.step("tokenize", "\(sentences.count) sentences, padded") { encoder.tokenizer.batch(sentences) }
notebook.note("batch (\(batch.batchSize) × \(batch.length)); real tokens per row: "
  + (0..<batch.batchSize).map { b in String(batch.attentionMask[(b * batch.length)..<((b + 1) * batch.length)].reduce(0, +)) }.joined(separator: " "))

// MARK: 3. layer by layer
var lines: [String] = []
let output = notebook.step("encoder, layer by layer", "post-norm: x = LN(x + attn(x)); x = LN(x + mlp(x))") {
  encoder.model.forward(batch) { i, x, seconds in
    lines.append(String(format: "layer %d  %@  std %.3f  · %@", i, "\(x.shape)" as NSString, x.summary().std, formatDuration(seconds) as NSString))
  }
}
notebook.show("embeddings", output.cache.embedded)
for line in lines { notebook.note(line) }

// MARK: 4. pool + normalise
notebook.step("mean-pool over real tokens, L2-normalise", "padding is excluded by the mask")
notebook.show("pooled", output.pooled)
notebook.note("norms before normalising: " + output.norms.map { String(format: "%.3f", $0) }.joined(separator: " "))
notebook.show("embedding", output.embedding)

// MARK: 5. cosine similarity
let similarity = notebook.step("cosine similarity", "embeddings are unit length, so cos = dot product") {
  output.embedding.matmul(output.embedding, transposeOther: true)
}
notebook.note(formatMatrix(similarity, decimals: 2))
for (i, s) in sentences.enumerated() { notebook.note("  \(i): \(s)") }
let pairs = [(0, 1, "paraphrases"), (2, 3, "related"), (4, 5, "same scene, swapped words"), (0, 6, "unrelated")]
for (i, j, label) in pairs {
  notebook.note(String(format: "cos(%d, %d) = %.3f   %@", i, j, similarity[i, j], label as NSString))
}

// MARK: 6. picture
let picturePath = outDir + "/similarity.svg"
notebook.step("write the similarity matrix", picturePath) {
  let names = sentences.indices.map { "sentence \($0)" }
  try? heatmapChart(title: "Cosine similarity of \(sentences.count) sentence embeddings", matrix: similarity, rowLabels: names, columnLabels: names,
                    xLabel: "sentence (numbered as printed above)", yLabel: "sentence", colourLabel: "cosine", range: -0.2...1,
                    valueFormat: "%.2f").write(to: picturePath)
}
print("")
print("pictures:")
print("  \(picturePath)   cosine similarity of the \(sentences.count) sentences, each value in its cell")
notebook.finish(next: "ch06-projection — image and text features meet in one 512-d space")
