// Chapter 08 — training CLIP: both towers, both heads and the logit scale learn together from
// captioned images. Generates the embedded shapes dataset if needed, trains the tiny configuration
// (minutes on 2 cores), evaluates retrieval every epoch, and ends with zero-shot classification on
// held-out images — including colour–shape combinations never seen in training.
//
// Library: Sources/Shared/Training (Trainer, Data, AdamW, Schedulers, ShapesDataset),
// Evaluation (Retrieval, ZeroShot). Walkthrough: Walkthroughs/08-Training.md.

import ArgumentParser
import Foundation
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch08-training",
                                                  abstract: "Chapter 08: train CLIP from scratch on the generated shapes dataset (or your own).")
  @Option(help: "tiny (default) or seed (ViT-B/16 + BERT-base).") var config: String?
  @Option(help: "Folder with captions.csv and the images (default: OUT/data, generated).") var data: String?
  @Option(help: "The captions file, if not DATA/captions.csv.") var csv: String?
  @Option(help: "Output folder.") var out = "output/ch08-training"
  @Option(parsing: .unconditional, help: "Epochs.") var epochs: Int?
  @Option(parsing: .unconditional, help: "Batch size (at least 2).") var batchSize: Int?
  @Option(help: "Continue from a checkpoint written by this chapter.") var resume: String?
  @Option(parsing: .unconditional, help: "One learning rate for every group.") var lr: Float?
  @Flag(help: "LiT: a frozen, pretrained MiniLM text tower.") var lit = false
  @Flag(help: "Reproduce the seed's bug: the image tower at the text tower's learning rate.") var seedFaithfulLr = false
  @Flag(help: "Fail on the first malformed CSV row or missing image.") var strict = false
  @Flag(help: "Replace a run already in OUT (best.safetensors, last.safetensors, log.jsonl).") var overwrite = false

  func validate() throws {
    if let config, TrainingConfig.named(config) == nil { throw ValidationError("unknown --config '\(config)' (use tiny or seed)") }
    if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    if let batchSize, batchSize < 2 || batchSize > 1 << 20 { throw ValidationError("--batch-size must be between 2 and \(1 << 20), got \(batchSize)") }
    if let epochs, epochs > 1 << 30 { throw ValidationError("--epochs must be at most \(1 << 30), got \(epochs)") }
    if let lr, !(lr.isFinite && lr > 0) { throw ValidationError("--lr must be a positive number, got \(lr)") }
    if resume != nil && overwrite { throw ValidationError("--resume continues a run; --overwrite starts a new one: pick one") }
  }
}
let args = Options.parseOrExit()
let outDir = args.out
let dataDir = args.data ?? (outDir + "/data")
let csvPath = args.csv ?? (dataDir + "/captions.csv")
let generate = args.data == nil && !FileManager.default.fileExists(atPath: csvPath)
let notebook = Notebook(title: "Chapter 08 · training CLIP", steps: generate ? 7 : 6)

// MARK: 1. configuration
var config = TrainingConfig.named(args.config ?? "tiny")!
if let n = args.epochs { config.epochs = n }
if let n = args.batchSize { config.batchSize = n }
if let v = args.lr { config.optimizer.imageLearningRate = v; config.optimizer.textLearningRate = v; config.optimizer.headLearningRate = v }
if args.seedFaithfulLr { config.optimizer.seedFaithfulImageLearningRate = true }
if let resume = args.resume {
  // A resumed run keeps its checkpoint's configuration: flags that would change it are an error.
  do {
    config = try resumedConfiguration(checkpoint: resume, epochs: args.epochs, name: args.config, batchSize: args.batchSize) { optimizer in
      // The same flags as a fresh run applies, applied to the checkpoint's own settings.
      if let v = args.lr { optimizer.imageLearningRate = v; optimizer.textLearningRate = v; optimizer.headLearningRate = v }
      if args.seedFaithfulLr { optimizer.seedFaithfulImageLearningRate = true }
      if args.lit { optimizer.freezeText = true }
    }
  } catch { fail("\(error)") }
}
var initialText: BERT? = nil
if args.lit {
  guard MiniLM.isAvailable else { fail("--lit needs all-MiniLM-L6-v2: run \(MiniLM.fetchCommand)") }
  do { initialText = try BERT(directory: MiniLM.directory) } catch { fail("\(error)") }
  config.model.text = initialText!.config
  config.optimizer.freezeText = true
  config.textFromMiniLM = true
}
notebook.step("configuration", config.name) {}
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
notebook.note(String(decoding: try! encoder.encode(config), as: UTF8.self))
if config.optimizer.seedFaithfulImageLearningRate {
  notebook.note("seed-faithful: the image tower trains at the TEXT tower's learning rate, reproducing the seed's bug")
} else {
  notebook.note("note: the seed gave the image tower the text tower's learning rate by mistake; fixed here (--seed-faithful-lr restores it)")
}

// MARK: 2. data
if generate {
  notebook.step("generate the shapes dataset", dataDir) {
    do { try ShapesDataset.generate(ShapesDatasetConfig(), into: dataDir) } catch { fail("cannot generate the dataset: \(error)") }
  }
}
let dataset: CaptionDataset = notebook.step("read the captions", csvPath) {
  do { return try CaptionDataset(csvPath: csvPath, strict: args.strict) } catch { fail("\(error)") }
}
notebook.note("\(dataset.images.count) images, \(dataset.captionCount) captions, images in \(dataset.imageDirectory)")
for problem in dataset.problems.prefix(10) { notebook.note("warning: skipped \(problem)") }
if dataset.problems.count > 10 { notebook.note("… and \(dataset.problems.count - 10) more rows skipped") }

// MARK: 3. model and trainer
let tokenizer: BertTokenizer
do { tokenizer = try (args.lit ? BertTokenizer(vocabularyPath: MiniLM.directory + "/vocab.txt") : .bundledUncased()) } catch { fail("\(error)") }
let trainer: Trainer
do {
  let initial = initialText.map { CLIP(config: config.model, text: $0, seed: config.seed) }
  trainer = try Trainer(config: config, dataset: dataset, tokenizer: tokenizer, outputDirectory: outDir, resume: args.resume, overwrite: args.overwrite, initialModel: initial)
} catch { fail("\(error)") }
notebook.step("model", "\(trainer.model.parameterCount) parameters") {}
notebook.note("split by image (seed \(config.seed)): \(trainer.trainImages.count) train, \(trainer.validationImages.count) validation")
if let resume = args.resume { notebook.note("resumed from \(resume) after epoch \(trainer.state.epoch), step \(trainer.state.step)") }

// MARK: 4. train
let trainStart = now(), firstStep = trainer.state.step
let run = trainer.config  // a resumed run trains with its checkpoint's configuration
do {
  try notebook.step("train", "\(run.epochs) epochs × \((trainer.trainImages.count + run.batchSize - 1) / run.batchSize) steps of \(run.batchSize)") {
    try trainer.run()
  }
} catch { fail("\(error)") }
let trainSeconds = now() - trainStart
let stepsRun = trainer.state.step - firstStep
notebook.note(String(format: "%@ for %d steps (%.0f ms/step, with validation); the step waited %@ in total for the data thread",
                     formatDuration(trainSeconds) as NSString, stepsRun, trainSeconds / Double(max(stepsRun, 1)) * 1000,
                     formatDuration(trainer.dataWaitSeconds) as NSString))
if trainer.stepsTimed > 0 {
  let perStep = trainer.stepSeconds / Double(trainer.stepsTimed)
  notebook.note(String(format: "%.0f ms per training step alone; a full epoch of %d steps would take about %@", perStep * 1000,
                       trainer.fullEpochSteps, formatDuration(perStep * Double(trainer.fullEpochSteps)) as NSString))
}
notebook.note("checkpoints: \(outDir)/last.safetensors, \(outDir)/best.safetensors (best validation loss \(String(format: "%.4f", trainer.state.bestValidationLoss)))")
notebook.note("log: \(outDir)/log.jsonl · loss curve: \(outDir)/loss-curve.png")

// MARK: 5. zero-shot on held-out images
let labelsPath = dataDir + "/labels.csv"
if FileManager.default.fileExists(atPath: labelsPath), let rows = try? ShapesDataset.readLabels(labelsPath) {
  notebook.step("zero-shot classification", "no classifier: class names in prompt templates") {}
  let classes = ShapesDatasetConfig().classes
  // The trained model through the same Embedder chapter 09 and `clip` use (batched; unreadable images
  // are skipped and named, not classified).
  let embedder = Embedder(model: trainer.model, config: run, tokenizer: tokenizer)
  let zeroShot = ZeroShotClassifier(classes: classes, templates: ShapesDatasetConfig.zeroShotTemplates, logitScale: embedder.logitScale) {
    embedder.embedTexts($0)
  }
  let validation = Set(trainer.validationImages)
  for (name, filter) in [("held-out validation images", { (r: (image: String, label: String, split: String)) in r.split == "seen" && validation.contains(r.image) }),
                         ("unseen colour–shape combinations", { (r: (image: String, label: String, split: String)) in r.split == "unseen" })] {
    // The seed config's demo validates on a few images only; zero-shot likewise.
    let candidates = Array(rows.filter { !$0.label.isEmpty && filter($0) }.prefix(run.maxValidationImages ?? Int.max))
    let embedded = embedder.embedImageFiles(candidates.map { dataDir + "/images/" + $0.image })
    for s in embedded.skipped { notebook.note("warning: skipped \(s.path): \(s.reason)") }
    let chosen = embedded.embedded.map { candidates[$0] }
    guard !chosen.isEmpty else { continue }
    let predicted = zeroShot.predict(embedded.embeddings)
    let pairs = zip(chosen, predicted).map { ($0.0.label.split(separator: " "), classes[$0.1].split(separator: " ")) }
    let correct = pairs.filter { $0.0 == $0.1 }.count
    let colourRight = pairs.filter { $0.0[0] == $0.1[0] }.count, shapeRight = pairs.filter { $0.0[1] == $0.1[1] }.count
    notebook.note(String(format: "%@: %d/%d = %.1f%% over %d classes (colour right %.1f%%, shape right %.1f%%)", name as NSString, correct,
                         chosen.count, 100 * Double(correct) / Double(chosen.count), classes.count,
                         100 * Double(colourRight) / Double(chosen.count), 100 * Double(shapeRight) / Double(chosen.count)))
    if name.hasPrefix("held-out") {
      // Which shapes are mistaken for which (colour ignored).
      let shapes = ShapesDatasetConfig().shapes
      let truth = pairs.map { p in shapes.firstIndex(of: String(p.0[1])) ?? 0 }, guess = pairs.map { p in shapes.firstIndex(of: String(p.1[1])) ?? 0 }
      notebook.note("shape confusion (rows: true shape, columns: predicted):\n" + formatConfusion(confusionMatrix(truth: truth, predicted: guess, classes: shapes.count), names: shapes))
    }
  }
}

// MARK: 6. summary
if let last = trainer.state.history.last {
  notebook.step("summary", "last epoch") {}
  notebook.note(String(format: "validation loss %.4f · image→text R@1 %.1f%% R@5 %.1f%% · text→image R@1 %.1f%% R@5 %.1f%%",
                       last.validationLoss, 100 * last.imageToTextR1, 100 * last.imageToTextR5, 100 * last.textToImageR1, 100 * last.textToImageR5))
}
notebook.finish(next: "ch09-zero-shot — classify and search with the trained model")
