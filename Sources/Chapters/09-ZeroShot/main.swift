// Chapter 09 — using what chapter 08 learned: zero-shot classification (no classifier, just class
// names written into sentences), prompt ensembling, and retrieval in both directions — including
// colour–shape combinations the model never saw in training.
//
// Library: Sources/Shared/Evaluation (Embedder, ZeroShot, Retrieval, ImageIndex).
// Walkthrough: Walkthroughs/09-Zero-Shot.md.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch09-zero-shot",
                                                  abstract: "Chapter 09: zero-shot classification, retrieval and search with a trained CLIP.")
  @Option(help: "A checkpoint from chapter 08 (default: output/ch08-training/best.safetensors).") var model: String?
  @Option(help: "The captioned-image folder (default: output/ch08-training/data).") var data: String?
  @Option(help: "Where the pictures go.") var out = "output/ch09-zero-shot"
  @Option(help: "The sentence to search for.") var query = "a picture of a yellow star"
  @Flag(help: "Train the tiny model first when there is no checkpoint.") var train = false
}
let args = Options.parseOrExit()
let notebook = Notebook(title: "Chapter 09 · zero-shot classification and retrieval", steps: 7)
let outDir = args.out
do { try ensureDirectory(outDir) } catch { fail("cannot create output folder \(outDir): \(error)") }
let chapter08 = "output/ch08-training"
var checkpoint = args.model ?? chapter08 + "/best.safetensors"
let dataDir = args.data ?? chapter08 + "/data"

// MARK: 1. the trained model
if !FileManager.default.fileExists(atPath: checkpoint) {
  guard args.train else {
    fail("""
      no checkpoint at \(checkpoint).
      Make one with chapter 08 (about 5 minutes):  swift run -c release ch08-training
      or let this chapter train the tiny model now: swift run -c release ch09-zero-shot --train
      """)
  }
  notebook.step("train the tiny model first", "no checkpoint at \(checkpoint): running chapter 08's trainer")
  do {
    let csv = dataDir + "/captions.csv"
    if try ShapesDataset.needsGenerating(ShapesDatasetConfig(), in: dataDir, customised: false) {
      try ShapesDataset.generate(ShapesDatasetConfig(), into: dataDir)
    }
    let trainer = try Trainer(config: .tiny, dataset: try CaptionDataset(csvPath: csv), tokenizer: .bundledUncased(),
                              outputDirectory: chapter08)
    try trainer.run()
    checkpoint = chapter08 + "/best.safetensors"
  } catch { fail("training failed: \(error)") }
}
let embedder: Embedder = notebook.step("load the checkpoint", checkpoint) {
  do { return try Embedder(checkpoint: checkpoint) } catch { fail("\(error)") }
}
let config = embedder.config
notebook.note("\(embedder.model.parameterCount) parameters · \(config.model.vit.imageSize)-px images · shared space of \(embedder.dimension) · "
  + String(format: "logit scale exp(%.3f) = %.1f", embedder.logitScale, exp(embedder.logitScale)))

// MARK: 2. the held-out images
let labelsPath = dataDir + "/labels.csv"
let labels: [ShapesLabel]
let dataset: CaptionDataset
do {
  labels = try ShapesDataset.readLabels(labelsPath)
  dataset = try CaptionDataset(csvPath: dataDir + "/captions.csv")
} catch { fail("\(error) — chapter 09 reads the shapes dataset chapter 08 generated (--data DIR)") }
let validation = splitByImage(dataset.images, validationFraction: config.validationFraction, seed: config.seed).validation
let validationSet = Set(validation)
// The classes of the data chapter 08 generated (dataset.json), not of today's defaults.
let shapesConfig: ShapesDatasetConfig
do { shapesConfig = try ShapesDatasetConfig.read(directory: dataDir) ?? ShapesDatasetConfig() } catch { fail("\(error)") }
let classes = shapesConfig.classes
// Held-out images of seen pairs: the test split when the folder has one, else one-shape validation images.
let testRows = labels.filter { !$0.label.isEmpty && $0.split == "test" }
let heldOut = !testRows.isEmpty ? testRows : labels.filter { !$0.label.isEmpty && $0.split == "seen" && validationSet.contains($0.image) }
let unseen = labels.filter { !$0.label.isEmpty && $0.split == "unseen" }
notebook.step("the held-out images", "never trained on")
notebook.note(!testRows.isEmpty ? "\(heldOut.count) one-shape test images (the test split: generated apart, never trained on)"
  : "\(heldOut.count) one-shape validation images (of \(validation.count) validation images, split by image with seed \(config.seed))")
notebook.note("\(unseen.count) images of combinations absent from every training caption: "
  + shapesConfig.heldOut.map { $0.joined(separator: " ") }.joined(separator: ", "))

@MainActor func embed(_ rows: [ShapesLabel]) -> (embeddings: Tensor, truth: [Int]) {
  let result = embedder.embedImageFiles(rows.map { dataDir + "/images/" + $0.image })
  for s in result.skipped { notebook.note("warning: skipped \(s.path): \(s.reason)") }
  return (result.embeddings, result.embedded.map { r in
    guard let truth = classes.firstIndex(of: rows[r].label) else {
      fail("\(labelsPath): '\(rows[r].label)' (for \(rows[r].image)) is not one of dataset.json's classes")
    }
    return truth
  })
}
let (heldOutEmbeddings, heldOutTruth) = embed(heldOut)
let (unseenEmbeddings, unseenTruth) = embed(unseen)

// MARK: 3. zero-shot, with and without prompt ensembling
notebook.step("zero-shot classification", "\(classes.count) classes = \(shapesConfig.colours.count) colours × \(shapesConfig.shapes.count) shapes")
let templateSets: [(String, [String])] = [
  ("one template \"a {}\"", ["a {}"]),
  ("ensemble of the dataset's phrasings", ShapesDatasetConfig.zeroShotTemplates),
  ("OpenAI-style \"a photo of a {}.\" ensemble", ZeroShotClassifier.defaultTemplates),
]
var best: (name: String, classifier: ZeroShotClassifier, accuracy: Double)? = nil
for (name, templates) in templateSets {
  let classifier = ZeroShotClassifier(classes: classes, templates: templates, logitScale: embedder.logitScale) { embedder.embedTexts($0) }
  let a = classifier.evaluate(heldOutEmbeddings, truth: heldOutTruth)
  let u = classifier.evaluate(unseenEmbeddings, truth: unseenTruth)
  notebook.note(String(format: "%-44@ held-out %5.1f%%   unseen combinations %5.1f%%   (%d templates × %d classes)", name as NSString,
                       100 * a.accuracy, 100 * u.accuracy, templates.count, classes.count))
  if best == nil || a.accuracy > best!.accuracy { best = (name, classifier, a.accuracy) }
}
let classifier = best!.classifier
notebook.note("chance: \(String(format: "%.1f%%", 100 / Double(classes.count))); using the best set (\(best!.name)) below")

// MARK: 4. where it goes wrong
let heldOutResult = classifier.evaluate(heldOutEmbeddings, truth: heldOutTruth)
let unseenResult = classifier.evaluate(unseenEmbeddings, truth: unseenTruth)
notebook.step("confusions", "rows: true class, columns: predicted")
for (name, r) in [("held-out", heldOutResult), ("unseen", unseenResult)] {
  let pairs = zip(r.truth, r.predicted).map { (classes[$0.0].split(separator: " "), classes[$0.1].split(separator: " ")) }
  let colour = pairs.filter { $0.0[0] == $0.1[0] }.count, shape = pairs.filter { $0.0[1] == $0.1[1] }.count
  notebook.note(String(format: "%@: %d/%d right (%.1f%%) · colour right %.1f%% · shape right %.1f%%", name as NSString, r.correct, r.truth.count,
                       100 * r.accuracy, 100 * Double(colour) / Double(max(r.truth.count, 1)), 100 * Double(shape) / Double(max(r.truth.count, 1))))
}
let shapes = shapesConfig.shapes
let shapeOf = { (k: Int) in shapes.firstIndex(of: String(classes[k].split(separator: " ")[1]))! }
notebook.note("held-out shapes (colour ignored):\n" + formatConfusion(confusionMatrix(truth: heldOutResult.truth.map(shapeOf),
  predicted: heldOutResult.predicted.map(shapeOf), classes: shapes.count), names: shapes))
// What the unseen combinations were taken for.
var taken: [String: [String: Int]] = [:]
for (t, p) in zip(unseenResult.truth, unseenResult.predicted) { taken[classes[t], default: [:]][classes[p], default: 0] += 1 }
for (truth, guesses) in taken.sorted(by: { $0.key < $1.key }) {
  let total = guesses.values.reduce(0, +)
  notebook.note("unseen \(truth) → " + guesses.sorted { $0.value > $1.value }.prefix(3).map { "\($0.key) \($0.value)/\(total)" }.joined(separator: ", "))
}
let confusion = confusionMatrix(truth: heldOutResult.truth + unseenResult.truth, predicted: heldOutResult.predicted + unseenResult.predicted,
                                classes: classes.count)
let rowTotals = confusion.map { max($0.reduce(0, +), 1) }
let confusionFractions = Tensor(shape: [classes.count, classes.count],
                                storage: confusion.enumerated().flatMap { r in r.element.map { Float($0) / Float(rowTotals[r.offset]) } })
try? heatmapChart(title: "Zero-shot confusion: held-out and unseen-pair images", matrix: confusionFractions, rowLabels: classes, columnLabels: classes,
                  xLabel: "predicted class", yLabel: "true class", colourLabel: "share of the row", range: 0...1, cell: 16)
  .write(to: outDir + "/confusion.svg")

// MARK: 5. retrieval in both directions
notebook.step("retrieval on the validation set", "every image against all five captions of every image")
let retrieval = evaluateRetrieval(embedder: embedder, dataset: dataset, images: validation,
                                  progress: ProgressBar(total: validation.count, label: "embedding"))
notebook.note("\(retrieval.kept.count) images × \(retrieval.captions.texts.count) captions")
notebook.note("image → text: \(retrieval.imageToText)")
notebook.note("text → image: \(retrieval.textToImage)")
// Many images share a class: how often is the best image at least the right colour and shape?
let labelOf = Dictionary(labels.map { ($0.image, $0.label) }, uniquingKeysWith: { a, _ in a })
var sameContent = 0, counted = 0
for t in 0..<retrieval.captions.texts.count {
  let truthLabel = labelOf[retrieval.kept[retrieval.captions.imageOfText[t]]] ?? ""
  guard !truthLabel.isEmpty else { continue }
  let column = (0..<retrieval.kept.count).map { retrieval.similarity.storage[$0 * retrieval.captions.texts.count + t] }
  let top = topK(column, k: 1)[0].index
  counted += 1
  if labelOf[retrieval.kept[top]] == truthLabel { sameContent += 1 }
}
notebook.note(String(format: "text → image, one-shape captions: the top image shows the caption's colour and shape %.1f%% of the time (%d queries)",
                     100 * Double(sameContent) / Double(max(counted, 1)), counted))

// MARK: 6. pictures: a text query, an image's classes
let query = args.query
notebook.step("search by a sentence", "\"\(query)\"")
let queryEmbedding = embedder.embedTexts([query])
let index = ImageIndex(files: retrieval.kept.map { IndexedFile(path: $0, size: 0, modified: 0) }, embeddings: retrieval.imageEmbeddings,
                       model: checkpoint)
let hits = index.search(queryEmbedding, k: 8)
for (rank, hit) in hits.enumerated() {
  notebook.note(String(format: "%d. %@  cosine %.3f  %@", rank + 1, retrieval.kept[hit.index] as NSString, hit.score,
                       (labelOf[retrieval.kept[hit.index]].map { $0.isEmpty ? "(two shapes)" : "(\($0))" } ?? "") as NSString))
}
let hitImages = hits.map { (try? JPEG.decode(path: dataDir + "/images/" + retrieval.kept[$0.index])) ?? RGBImage(width: 1, height: 1) }
try? imageGrid(title: "Search: \"\(query)\"", images: hitImages.map { $0.resized(width: 128, height: 128) },
               captions: hits.enumerated().map { String(format: "%d. cosine %.3f", $0.offset + 1, $0.element.score) })
  .write(to: outDir + "/search.svg")

if let example = unseen.first {
  let image = (try? JPEG.decode(path: dataDir + "/images/" + example.image)) ?? RGBImage(width: 1, height: 1)
  let probabilities = classifier.classify(embedder.embedImages([image])).probabilities.storage
  let top = topK(probabilities, k: 5)
  notebook.note("\(example.image) (an unseen \(example.label)): " + top.map { String(format: "%@ %.1f%%", classes[$0.index] as NSString, 100 * $0.score) }
    .joined(separator: ", "))
  try? barChart(title: "Zero-shot on an unseen pair: \(example.label)", labels: top.map { classes[$0.index] }, values: top.map(\.score),
                xLabel: "probability (softmax over \(classes.count) classes)", image: image.resized(width: 128, height: 128),
                imageCaption: example.image).write(to: outDir + "/classes.svg")
}

// MARK: 7. pictures
notebook.step("pictures", outDir)
notebook.note("""
  \(outDir)/search.svg      the 8 best validation images for "\(query)", with their cosines
  \(outDir)/classes.svg     an unseen-combination image and its top-5 classes
  \(outDir)/confusion.svg   \(classes.count)×\(classes.count) zero-shot confusion, rows = true class (row-normalised)
  """)
notebook.finish(next: "clip index / clip search — the same model on a folder of photos")
