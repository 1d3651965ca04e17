// Chapter 08 — training CLIP: both towers, both heads and the logit scale learn together from
// captioned images. Generates the shapes dataset if needed (shapes anywhere, varied sizes, noisy
// backgrounds, one image in three with two shapes and captions that say where), trains the tiny
// configuration for a few minutes on 2 cores with the loop written out below, and measures zero-shot
// accuracy after every epoch — on test images and on colour–shape pairs never seen in training.
//
// Library: Sources/Shared/Training (Trainer's pieces, TrainStep, AdamW, Schedulers), Runs (the run
// config, CaptionDataset, BatchLoader, ShapesDataset), Evaluation (ZeroShotProbe, Retrieval). Walkthrough: Walkthroughs/08-Training.md.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch08-training",
                                                  abstract: "Chapter 08: train CLIP from scratch on the generated shapes dataset (or your own).")
  @Option(help: "tiny (default) or seed (ViT-B/16 + BERT-base).") var config: String?
  @Option(help: "Change one field of the configuration: --set model.vit.depth=3 (repeatable; JSON values).") var set: [String] = []
  @Option(help: "Folder with captions.csv and the images (default: OUT/data, generated).") var data: String?
  @Option(help: "The captions file, if not DATA/captions.csv.") var csv: String?
  @Option(name: .customLong("out"), help: "Output folder (default: output/ch08-training, or with --resume the checkpoint's own folder).") var outOption: String?
  /// --out, else a resumed checkpoint's own folder, else output/ch08-training.
  var out: String { outOption ?? resume.map { parentPath($0).isEmpty ? "." : parentPath($0) } ?? "output/ch08-training" }
  @Option(parsing: .unconditional, help: "Epochs (alone: exactly this many, no time budget; with --seconds: a cap).") var epochs: Int?
  @Option(parsing: .unconditional, help: "Batch size (at least 2).") var batchSize: Int?
  @Option(parsing: .unconditional, help: "Seconds of training (evaluation not counted; default 300): the cosine spans them, so the run ends decayed on any machine.") var seconds: Double?
  @Option(help: "Generated data: where a shape sits, centred or anywhere.") var placement: ShapesDatasetConfig.Placement?
  @Option(help: "Generated data: flat, noisy or gradient backgrounds.") var background: ShapesDatasetConfig.Background?
  @Option(help: "Generated data: change one field of the shapes dataset: --shapes twoShapeFraction=0 (repeatable; see OUT/data/dataset.json).") var shapes: [String] = []
  @Option(help: "Continue from a checkpoint written by this chapter.") var resume: String?
  @Option(parsing: .unconditional, help: "One learning rate for every group.") var lr: Float?
  @Flag(help: "A frozen, pretrained MiniLM text tower: only the image tower and the heads learn.") var frozenText = false
  /// The old name of --frozen-text, refused with a pointer: "LiT" is locked-*image* tuning, the opposite.
  @Flag(help: .hidden) var lit = false
  @Flag(help: "Reproduce the seed's bug: the image tower at the text tower's learning rate.") var seedFaithfulLr = false
  @Flag(help: "Fail on the first malformed CSV row or missing image.") var strict = false
  @Flag(help: "Also write OUT/initial.safetensors, the untrained weights (the PyTorch twin starts from them).") var saveInitial = false
  @Flag(help: "On --resume: continue although the data differs from the data the checkpoint was trained on.") var allowOtherData = false
  @Flag(help: "Replace a run already in OUT (best.safetensors, last.safetensors, log.jsonl).") var overwrite = false

  func validate() throws {
    if let config, TrainingConfig.named(config) == nil { throw ValidationError("unknown --config '\(config)' (use tiny or seed)") }
    if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    if let epochs, epochs > 1 << 30 { throw ValidationError("--epochs must be at most \(1 << 30), got \(epochs)") }
    if let batchSize, batchSize < 2 || batchSize > 1 << 20 { throw ValidationError("--batch-size must be between 2 and \(1 << 20), got \(batchSize)") }
    // Ranges checked here, before any conversion: Int(1e300) would stop the program.
    if let seconds, !(seconds > 0 && seconds <= 1e7) {
      throw ValidationError("--seconds must be a number of seconds between 0 and 10000000 (about 116 days), got \(seconds)")
    }
    if let lr, !(lr > 0 && lr <= 10) {
      throw ValidationError("--lr must be a learning rate in (0, 10] (1e-3 is typical), got \(lr.isNaN ? "nan" : lr.isFinite ? "\(lr)" : "a number too large for a Float")")
    }
    // --set and --shapes are part of the command line: a bad one is exit 64 with its message, like any flag.
    if !set.isEmpty, let base = TrainingConfig.named(config ?? "tiny") {
      do { _ = try base.setting(set) } catch { throw ValidationError("\(error)") }
    }
    if !shapes.isEmpty {
      do { _ = try applyingAssignments(shapes, to: ShapesDatasetConfig(), flag: "--shapes") } catch { throw ValidationError("\(error)") }
    }
    if allowOtherData && resume == nil { throw ValidationError("--allow-other-data is for --resume: a new run trains on whatever data it is given") }
    if resume != nil && overwrite { throw ValidationError("--resume continues a run; --overwrite starts a new one: pick one") }
    if resume != nil && !set.isEmpty { throw ValidationError("--resume continues a run with its own configuration: --set cannot change it") }
    if (data != nil || csv != nil) && (placement != nil || background != nil || !shapes.isEmpty) {
      throw ValidationError("--placement, --background and --shapes shape generated data, not --data or --csv")
    }
    if lit {
      throw ValidationError("--lit is now --frozen-text (a frozen MiniLM text tower). LiT, locked-image tuning, locks the image tower instead: clip train --clip MODEL --locked-image")
    }
    if frozenText, let field = set.first(where: { $0.hasPrefix("model.text.") }) {
      throw ValidationError("--frozen-text takes the text tower from MiniLM: --set \(field) cannot change it")
    }
  }
}
extension ShapesDatasetConfig.Placement: ExpressibleByArgument {}
extension ShapesDatasetConfig.Background: ExpressibleByArgument {}

let args = Options.parseOrExit()
let outDir = args.out
let dataDir = args.data ?? (outDir + "/data")
let csvPath = args.csv ?? (dataDir + "/captions.csv")
let notebook = Notebook(title: "Chapter 08 · training CLIP", steps: 6)

// MARK: 1. configuration
var config = TrainingConfig.named(args.config ?? "tiny")!
// A time budget (--seconds, 300 by default) or a number of epochs: --epochs alone trains that many
// epochs; with both, whichever ends first (the cosine follows the seconds).
if let n = args.epochs { config.epochs = n; if args.seconds == nil { config.seconds = nil } }
if let s = args.seconds { config.seconds = s }
if let n = args.batchSize { config.batchSize = n }
if let v = args.lr { config.optimizer.imageLearningRate = v; config.optimizer.textLearningRate = v; config.optimizer.headLearningRate = v }
if args.seedFaithfulLr { config.optimizer.seedFaithfulImageLearningRate = true }
do { config = try config.setting(args.set) } catch { fail("\(error)") }
if let resume = args.resume {
  // A resumed run keeps its checkpoint's configuration: flags that would change it are an error.
  do {
    config = try resumedConfiguration(checkpoint: resume, epochs: args.epochs, name: args.config, batchSize: args.batchSize) { optimizer in
      if let v = args.lr { optimizer.imageLearningRate = v; optimizer.textLearningRate = v; optimizer.headLearningRate = v }
      if args.seedFaithfulLr { optimizer.seedFaithfulImageLearningRate = true }
      if args.frozenText { optimizer.freezeText = true }
    }
    if let s = args.seconds { config.seconds = s }  // a time budget is the run's total, as --epochs is
  } catch { fail("\(error)") }
}
var initialText: BERT? = nil
if args.frozenText {
  guard MiniLM.isAvailable else { fail("--frozen-text needs all-MiniLM-L6-v2: run \(MiniLM.fetchCommand)") }
  do { initialText = try BERT(directory: MiniLM.directory) } catch { fail("\(error)") }
  config.model.text = initialText!.config
  config.optimizer.freezeText = true
  config.textFromMiniLM = true
}
notebook.step("configuration", config.name)
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
notebook.note(String(decoding: try! encoder.encode(config), as: UTF8.self))
if config.optimizer.seedFaithfulImageLearningRate {
  notebook.note("seed-faithful: the image tower trains at the TEXT tower's learning rate, reproducing the seed's bug")
} else {
  notebook.note("note: the seed gave the image tower the text tower's learning rate by mistake; fixed here (--seed-faithful-lr restores it)")
}

// MARK: 2. data
// Shapes are generated only into an OUT/data that has no captions yet: a folder someone filled is never
// overwritten. One generated before is reused as it is, or refused when --placement, --background or
// --shapes ask for other settings than it was made with.
var generate: ShapesDatasetConfig? = nil  // the shapes to generate first, when OUT/data has none yet
if args.data == nil && args.csv == nil {
  var shapes = ShapesDatasetConfig()
  if let p = args.placement { shapes.placement = p }
  if let b = args.background { shapes.background = b }
  do { shapes = try applyingAssignments(args.shapes, to: shapes, flag: "--shapes") } catch { fail("\(error)") }
  let customised = args.placement != nil || args.background != nil || !args.shapes.isEmpty
  do { if try ShapesDataset.needsGenerating(shapes, in: dataDir, customised: customised) { generate = shapes } } catch { fail("\(error) (--out)") }
}
let dataset: CaptionDataset = notebook.step("the data", csvPath) {
  if let shapes = generate {
    let start = now()
    do { try ShapesDataset.generate(shapes, into: dataDir) } catch { fail("cannot generate the dataset: \(error)") }
    notebook.note("generated \(shapes.images) + \(shapes.testImages) test + \(shapes.unseenImages) unseen images into \(dataDir) "
      + "in \(formatDuration(now() - start))")
  }
  if args.data == nil && args.csv == nil, let made = (try? ShapesDatasetConfig.read(directory: dataDir)) ?? nil {
    notebook.note("shapes \(made.placement.rawValue), radius \(made.radius[0])–\(made.radius[1]) of the side, \(made.background.rawValue) "
      + "backgrounds, \(Int(made.twoShapeFraction * 100))% two-shape images; held out of training: "
      + made.heldOut.map { $0.joined(separator: " ") }.joined(separator: ", "))
  }
  do { return try CaptionDataset(csvPath: csvPath, strict: args.strict) } catch { fail("\(error)") }
}
notebook.note("\(dataset.images.count) images, \(dataset.captionCount) captions, images in \(dataset.imageDirectory)")
for problem in dataset.problems.prefix(10) { notebook.note("warning: skipped \(problem)") }
if dataset.problems.count > 10 { notebook.note("… and \(dataset.problems.count - 10) more rows skipped") }
if let first = dataset.images.first { notebook.note("e.g. \(first): " + (dataset.captions[first] ?? []).map { "“\($0)”" }.joined(separator: " · ")) }

// MARK: 3. model, optimiser, and what we measure
let tokenizer: BertTokenizer
do { tokenizer = try (args.frozenText ? BertTokenizer(vocabularyPath: MiniLM.directory + "/vocab.txt") : .bundledUncased()) } catch { fail("\(error)") }
let trainer: Trainer
do {
  let initial = initialText.map { CLIP(config: config.model, text: $0, seed: config.seed) }
  trainer = try Trainer(config: config, dataset: dataset, tokenizer: tokenizer, outputDirectory: outDir, resume: args.resume,
                        overwrite: args.overwrite, initialModel: initial, allowOtherData: args.allowOtherData)
} catch { fail("\(error)") }
let run = trainer.config  // a resumed run trains with its checkpoint's configuration
notebook.step("model", "\(trainer.model.parameterCount) parameters")
notebook.note("split by image (seed \(run.seed)): \(trainer.trainImages.count) train, \(trainer.validationImages.count) validation")
notebook.note("optimiser: AdamW, groups " + trainer.optimizer.groups.map { "\($0.name) lr \($0.learningRate) wd \($0.weightDecay)" }.joined(separator: " · ")
  + "; schedule \(run.schedule.rawValue)" + (run.schedule != .cosine ? ""
    : run.seconds.map { String(format: " (warm-up %d steps, the cosine over %.0f s of training)", run.warmupSteps, $0) }
      ?? " (warm-up \(run.warmupSteps) of \(trainer.totalSteps) steps)"))
if args.saveInitial && args.resume == nil {
  do { notebook.note("untrained weights: \(try trainer.saveInitial())") } catch { fail("\(error)") }
}
if let resume = args.resume { notebook.note("resumed from \(resume) after epoch \(trainer.state.epoch), step \(trainer.state.step)") }
// Zero-shot on images never trained on, after every epoch (not counted in the training clock).
// (Any folder with the shapes generator's dataset.json and labels.csv; other data has no classes. The
// seed config's demo cuts validation to a few images, and zero-shot likewise.)
let probe: ZeroShotProbe? = args.csv == nil && FileManager.default.fileExists(atPath: dataDir + "/dataset.json")
  ? { do { return try ZeroShotProbe(directory: dataDir, config: run, limit: run.maxValidationImages ?? .max) } catch { fail("\(error)") } }() : nil
if let probe { notebook.note("zero-shot after each epoch: " + probe.sets.map { "\($0.truth.count) \($0.name) images" }.joined(separator: ", ")
  + " over \(probe.classes.count) classes, templates " + probe.templates.map { "“\($0)”" }.joined(separator: " ")) }

// MARK: 4. the training loop
notebook.step("train", run.seconds.map { String(format: "%.0f s of training (the cosine spans them), epochs of %d steps of %d", $0, trainer.stepsPerEpoch, run.batchSize) }
  ?? "\(run.epochs) epochs × \(trainer.stepsPerEpoch) steps of \(run.batchSize)")
// The loop is `trainer.run` (Sources/Shared/Training/TrainingLoop.swift, on the walkthrough's page):
// epoch → batch → trainStep → log → validate → [zero-shot, below] → schedule → checkpoint. The same loop
// trains OpenAI's CLIP in `clip train --clip`. The training clock runs only in its steps: validation
// and zero-shot stop it.
var curve: [(seconds: Double, test: Double, unseen: Double)] = []
var lastScores: [String: ZeroShotEvaluation]? = nil
do {
  try trainer.run { trainer in
    guard let probe else { return .init() }
    let scores = probe.evaluate(trainer.model, tokenizer: tokenizer)
    lastScores = scores
    let (seconds, test, unseen) = (trainer.state.trainingSeconds, scores["test"]?.accuracy ?? 0, scores["unseen"]?.accuracy ?? 0)
    curve.append((seconds, test, unseen))
    var lines = [String(format: "  zero-shot at %.0f s of training: test %.1f%%  unseen pairs %.1f%%", seconds, 100 * test, 100 * unseen)]
    if let unseen = scores["unseen"], !unseen.truth.isEmpty {
      lines.append(String(format: "  (unseen pairs: %d images, 95%% interval %.1f–%.1f%%)", unseen.truth.count, 100 * unseen.interval.lowerBound,
                          100 * unseen.interval.upperBound))
    }
    return .init(log: ["zero_shot_test": test, "zero_shot_unseen": unseen], lines: lines)
  }
} catch { fail("\(error)") }
let trainingSeconds = trainer.state.trainingSeconds
notebook.note(String(format: "%@ of training for %d steps (%.0f ms per step, %.0f images/s); the steps waited %@ for the data thread",
                     formatDuration(trainingSeconds) as NSString, trainer.stepsTimed, trainer.stepSeconds / Double(max(trainer.stepsTimed, 1)) * 1000,
                     Double(trainer.stepsTimed * run.batchSize) / max(trainer.stepSeconds, 1e-9), formatDuration(trainer.dataWaitSeconds) as NSString))
notebook.note("checkpoints: \(outDir)/last.safetensors, \(outDir)/best.safetensors (best validation loss \(String(format: "%.4f", trainer.state.bestValidationLoss)))")
notebook.note("log: \(outDir)/log.jsonl · loss curve: \(outDir)/loss-curve.svg")

// MARK: 5. zero-shot with the final model
if let probe {
  let scores = probe.evaluate(trainer.model, tokenizer: tokenizer)
  notebook.step("zero-shot classification", "no classifier: class names in prompt templates")
  trainer.appendLog(["kind": "final", "train_seconds": trainingSeconds, "steps": trainer.state.step,
                     "images_per_second": Double(trainer.stepsTimed * run.batchSize) / max(trainer.stepSeconds, 1e-9),
                     "zero_shot_test": scores["test"]?.accuracy ?? 0, "zero_shot_unseen": scores["unseen"]?.accuracy ?? 0])
  for (name, title) in [("test", "test images (seen pairs, never trained on)"), ("unseen", "held-out colour–shape pairs")] {
    guard let score = scores[name], !score.truth.isEmpty else { continue }
    let parts = probe.dataset.colours.count, shapes = probe.dataset.shapes.count
    let colourRight = zip(score.truth, score.predicted).filter { $0.0 / shapes == $0.1 / shapes }.count
    let shapeRight = zip(score.truth, score.predicted).filter { $0.0 % shapes == $0.1 % shapes }.count
    notebook.note(String(format: "%@: %d/%d = %.1f%% (95%% interval %.1f–%.1f%%) over %d classes (colour right %.1f%%, shape right %.1f%%)", title as NSString,
                         score.correct, score.truth.count, 100 * score.accuracy, 100 * score.interval.lowerBound, 100 * score.interval.upperBound, parts * shapes,
                         100 * Double(colourRight) / Double(score.truth.count), 100 * Double(shapeRight) / Double(score.truth.count)))
    if name == "test" {
      notebook.note("shape confusion (rows: true shape, columns: predicted):\n" + formatConfusion(
        confusionMatrix(truth: score.truth.map { $0 % shapes }, predicted: score.predicted.map { $0 % shapes }, classes: shapes),
        names: probe.dataset.shapes))
    }
  }
  if curve.count > 1 {
    let test = curve.map { (x: $0.seconds, y: 100 * $0.test) }, unseen = curve.map { (x: $0.seconds, y: 100 * $0.unseen) }
    let chance = 100 / Double(probe.classes.count)
    try? lineChart(title: "Zero-shot accuracy while training (\(probe.classes.count) classes, chance \(String(format: "%.1f", chance))%)",
                   xLabel: "seconds of training", yLabel: "zero-shot accuracy (%)",
                   series: [LineSeries("test images (seen pairs)", points: test, colour: "#2a5ac8", markers: true),
                            LineSeries("unseen colour–shape pairs", points: unseen, colour: "#e07828", dashed: true, markers: true)])
      .write(to: outDir + "/zero-shot-curve.svg")
    notebook.note("zero-shot accuracy against training seconds: \(outDir)/zero-shot-curve.svg")
  }
}

// MARK: 6. summary
if let last = trainer.state.history.last {
  notebook.step("summary", "last epoch")
  notebook.note(String(format: "validation loss %.4f · image→text R@1 %.1f%% R@5 %.1f%% · text→image R@1 %.1f%% R@5 %.1f%%",
                       last.validationLoss, 100 * last.imageToTextR1, 100 * last.imageToTextR5, 100 * last.textToImageR1, 100 * last.textToImageR5))
}
notebook.finish(next: "ch09-zero-shot — classify and search with the trained model")
