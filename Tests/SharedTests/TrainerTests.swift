// The trainer end to end on a very small generated dataset: bit-identical resume, the captions CSV
// reader's error reporting, NaN handling, and an unwritable output folder.

import Foundation
import Shared
import Testing

/// A model small enough to train in a test: 16-px images, one block per tower.
func microTrainingConfig() -> TrainingConfig {
  var vit = ViTConfig()
  vit.imageSize = 16; vit.patchSize = 8; vit.width = 16; vit.depth = 1; vit.heads = 2; vit.mlpDim = 32; vit.numClasses = 0
  var text = BERTConfig()
  text.hiddenSize = 16; text.layers = 1; text.heads = 2; text.intermediateSize = 32; text.maxPositions = 32
  var model = CLIPConfig(vit: vit, text: text)
  model.projectionDim = 8
  model.maxTextLength = 16
  var c = TrainingConfig(name: "micro", model: model)
  c.epochs = 2
  c.batchSize = 8
  c.optimizer.imageLearningRate = 1e-3
  c.optimizer.textLearningRate = 1e-3
  return c
}

/// 40 generated 16-px images (cached per test run).
let microDataset: (directory: String, dataset: CaptionDataset) = {
  let dir = temporaryDirectory("micro-shapes")
  var config = ShapesDatasetConfig()
  config.images = 40
  config.testImages = 8
  config.unseenImages = 4
  config.size = 16
  try! ShapesDataset.generate(config, into: dir)
  return (dir, try! CaptionDataset(csvPath: dir + "/captions.csv"))
}()

final class CollectingObserver: TrainingObserver {
  var lines: [String] = []
  func log(_ line: String) { lines.append(line) }
}

@Suite("Trainer", .serialized)
struct TrainerTests {
  let tokenizer = try! BertTokenizer.bundledUncased()

  @Test("N steps straight equal N/2 + save + load + N/2, bit for bit")
  func resumeIsBitIdentical() throws {
    let config = microTrainingConfig()
    let straightDir = temporaryDirectory("straight"), resumedDir = temporaryDirectory("resumed")
    let straight = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: straightDir,
                               observer: CollectingObserver())
    try straight.run()
    #expect(straight.state.step == 8)  // 32 training images / 8 × 2 epochs

    let first = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: resumedDir,
                            observer: CollectingObserver())
    try first.run(stopAfterSteps: 5)  // stops mid-epoch 2
    #expect(first.state.step == 5)
    let second = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: resumedDir,
                             resume: resumedDir + "/last.safetensors", observer: CollectingObserver())
    try second.run()
    #expect(second.state.step == 8)
    #expect(second.state.stepLosses.map(\.bitPattern) == straight.state.stepLosses.map(\.bitPattern))
    for p in CLIP.parameterTable(config.model) {
      #expect(p.get(second.model).storage.map(\.bitPattern) == p.get(straight.model).storage.map(\.bitPattern), "\(p.key)")
    }
    #expect(second.state.history.map(\.validationLoss) == straight.state.history.map(\.validationLoss))
  }

  @Test("a checkpoint written before any validation (best loss +∞) saves and resumes")
  func checkpointBeforeValidation() throws {
    let dir = temporaryDirectory("early")
    let first = try Trainer(config: microTrainingConfig(), dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: dir,
                            observer: CollectingObserver())
    try first.run(stopAfterSteps: 2)
    let loaded = try TrainingCheckpoint.load(dir + "/last.safetensors")
    #expect(loaded.state.step == 2 && loaded.state.bestValidationLoss == .infinity)
  }

  @Test("a NaN stops training with the step and the last good checkpoint, which still loads")
  func nanStops() throws {
    var config = microTrainingConfig()
    config.maxStepsPerEpoch = 1
    config.epochs = 3
    config.optimizer.headLearningRate = 1e30  // blow the heads up after the first step
    let dir = temporaryDirectory("nan")
    let trainer = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: dir,
                              observer: CollectingObserver())
    do {
      try trainer.run()
      Issue.record("training with lr 1e30 did not stop")
    } catch let error as TrainingError {
      #expect(error.message.contains("training stopped at step 2"), "\(error)")
      #expect(error.message.contains(dir + "/last.safetensors"), "\(error)")
    }
    _ = try TrainingCheckpoint.load(dir + "/last.safetensors")
  }

  @Test("an unwritable output folder is an error before training starts")
  func unwritableOutput() throws {
    let file = temporaryDirectory("unwritable") + "/a-file"
    _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
    #expect(throws: TrainingError.self) {
      _ = try Trainer(config: microTrainingConfig(), dataset: microDataset.dataset, tokenizer: tokenizer,
                      outputDirectory: file + "/out", observer: CollectingObserver())
    }
  }

  @Test("the split is by image, seeded, 20% validation")
  func split() {
    let images = (0..<50).map { "img\($0).jpg" }
    let (train, validation) = splitByImage(images, validationFraction: 0.2, seed: 42)
    #expect(validation.count == 10 && train.count == 40 && Set(train).isDisjoint(with: validation))
    #expect(splitByImage(images.reversed(), validationFraction: 0.2, seed: 42).validation == validation)
    #expect(splitByImage(images, validationFraction: 0.2, seed: 7).validation != validation)
  }
}

@Suite("Captions CSV")
struct CaptionsCSVTests {
  func write(_ text: String, images: [String] = ["a.jpg", "b.jpg"]) -> String {
    let dir = temporaryDirectory("csv")
    for name in images { _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data()) }
    let path = dir + "/captions.csv"
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    return path
  }

  @Test("quotes, commas and line breaks inside captions; blank lines")
  func quoting() throws {
    let path = write("image,caption_number,caption,id\r\na.jpg,0,\"a dog, running\",0\n\nb.jpg,0,\"she said \"\"hi\"\"\nthen left\",1\n")
    let d = try CaptionDataset(csvPath: path)
    #expect(d.images == ["a.jpg", "b.jpg"])
    #expect(d.captions["a.jpg"] == ["a dog, running"])
    #expect(d.captions["b.jpg"] == ["she said \"hi\"\nthen left"])
    #expect(d.problems.isEmpty)
  }

  @Test("malformed rows and missing images are reported with their line numbers; --strict makes them fatal")
  func problems() throws {
    let path = write("image,caption_number,caption,id\na.jpg,0,fine,0\na.jpg,1,too,many,fields\nmissing.jpg,0,no file,2\nb.jpg,0,,3\n")
    let d = try CaptionDataset(csvPath: path)
    #expect(d.captionCount == 1)
    #expect(d.problems.map(\.line) == [3, 4, 5])
    #expect(d.problems[0].message.contains("expected 4 fields"))
    #expect(d.problems[1].message.contains("image 'missing.jpg' not found"))
    #expect(d.problems[2].message == "empty caption")
    #expect(d.problems[1].description.hasSuffix("captions.csv:4: image 'missing.jpg' not found in \((path as NSString).deletingLastPathComponent)"))
    #expect(throws: DataProblem.self) { try CaptionDataset(csvPath: path, strict: true) }
  }

  @Test("missing columns, an unclosed quote and the Flickr30k '|' layout")
  func layouts() throws {
    #expect(throws: DataProblem.self) { try CaptionDataset(csvPath: write("name,text\na.jpg,x\n")) }
    #expect(throws: DataProblem.self) { try CaptionDataset(csvPath: write("image,caption\na.jpg,\"never closed\n")) }
    let flickr30k = try CaptionDataset(csvPath: write("image_name| comment_number| comment\na.jpg| 0| A man rides a horse .\n"))
    #expect(flickr30k.captions["a.jpg"] == ["A man rides a horse ."])
    let flickr8k = try CaptionDataset(csvPath: write("image,caption\nb.jpg,Two dogs play .\nb.jpg,Dogs .\n"))
    #expect(flickr8k.captions["b.jpg"]?.count == 2)
  }
}

@Suite("Time budget", .serialized)
struct TimeBudgetTests {
  @Test("a time budget: the cosine runs on training seconds, the run stops at the budget with last and best checkpoints, a spent budget cannot resume")
  func timeBudget() throws {
    var config = microTrainingConfig()
    config.schedule = .cosine
    config.warmupSteps = 2
    config.seconds = 0.6
    config.epochs = 1000
    let dir = temporaryDirectory()
    let trainer = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: try .bundledUncased(), outputDirectory: dir + "/run",
                              observer: CollectingObserver())
    // The multiplier: warm-up on steps, then ½(1 + cos(π t/S)) on seconds.
    #expect(trainer.learningRateMultiplier(step: 0) == 0.5)
    #expect(abs(timeBudgetMultiplier(step: 10, warmupSteps: 2, seconds: 0.3, budget: 0.6) - 0.5) < 1e-6)
    #expect(timeBudgetMultiplier(step: 10, warmupSteps: 2, seconds: 0.6, budget: 0.6) < 1e-6)
    #expect(timeBudgetMultiplier(step: 10, warmupSteps: 2, seconds: 9, budget: 0.6) < 1e-6)
    try trainer.run()
    #expect(trainer.outOfTime)
    #expect(trainer.state.trainingSeconds >= 0.6 && trainer.state.trainingSeconds < 5, "\(trainer.state.trainingSeconds)")
    #expect(trainer.optimizer.groups[0].learningRate < 0.05 * config.optimizer.imageLearningRate, "ends decayed")
    #expect(FileManager.default.fileExists(atPath: dir + "/run/last.safetensors") && FileManager.default.fileExists(atPath: dir + "/run/best.safetensors"))
    let saved = try TrainingCheckpoint.load(dir + "/run/last.safetensors")
    #expect(saved.config.seconds == 0.6 && saved.state.trainingSeconds == trainer.state.trainingSeconds)
    expectError({
      _ = try Trainer(config: saved.config, dataset: microDataset.dataset, tokenizer: try .bundledUncased(), outputDirectory: dir + "/run",
                      resume: dir + "/run/last.safetensors", observer: CollectingObserver())
    }, contains: ["has already trained its 1 s", "--seconds"])
    // clip train --seconds: the budget from the command line; --epochs alone has none.
    let cli = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", dir + "/cli", "--seconds", "1", "--batch-size", "8"])
    #expect(cli.status == 0, "\(cli.stderr)")
    let cliSaved = try TrainingCheckpoint.load(dir + "/cli/last.safetensors")
    #expect(cliSaved.config.seconds == 1 && cliSaved.state.trainingSeconds >= 1)
    let epochs = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", dir + "/ep", "--epochs", "1", "--batch-size", "8",
                                         "--set", "model.head=linear", "--lr", "1e-3"])
    #expect(epochs.status == 0, "\(epochs.stderr)")
    let epochSaved = try TrainingCheckpoint.load(dir + "/ep/last.safetensors")
    #expect(epochSaved.config.seconds == nil && epochSaved.config.model.head == .linear && epochSaved.config.optimizer.headLearningRate == 1e-3)
  }
}

@Suite("Executable 08", .serialized)
struct TrainingExecutableTests {
  @Test("ch08-training trains, validates, checkpoints and reports zero-shot accuracy")
  func chapter08() throws {
    let out = temporaryDirectory("ch08")
    let result = try runProduct("ch08-training", ["--data", microDataset.directory, "--epochs", "1", "--batch-size", "16", "--out", out],
                                currentDirectory: Fixtures.repositoryRoot)
    #expect(result.status == 0, "\(result.stderr)")
    for line in ["\"name\" : \"tiny\"", "fixed here (--seed-faithful-lr restores it)", "40 images, 200 captions",
                 "split by image (seed 42): 32 train, 8 validation", "epoch 1/1  train loss", "checkpoints: \(out)/last.safetensors",
                 "zero-shot after each epoch: 8 test images, 4 unseen images over 32 classes",
                 "test images (seen pairs, never trained on):", "held-out colour–shape pairs:", "next: ch09-zero-shot"] {
      #expect(result.stdout.contains(line), "missing line: \(line)")
    }
    _ = try TrainingCheckpoint.load(out + "/last.safetensors")
    expectChart(out + "/loss-curve.svg")
    let log = try String(contentsOfFile: out + "/log.jsonl", encoding: .utf8)
    #expect(log.contains("\"kind\":\"epoch\"") && log.contains("\"kind\":\"step\""))
  }

  @Test("clip train: a malformed CSV row is reported with its line; an unreadable image is skipped by name")
  func clipTrain() throws {
    let dir = temporaryDirectory("clip-train")
    try FileManager.default.copyItem(atPath: microDataset.directory + "/images", toPath: dir + "/images")
    var csv = try String(contentsOfFile: microDataset.directory + "/captions.csv", encoding: .utf8)
    csv += "shape_00001.jpg,5,\"too\",\"many\",fields,here\n"
    try csv.write(toFile: dir + "/captions.csv", atomically: true, encoding: .utf8)
    // Corrupt an image of the training split, so the first epoch must meet it.
    let victim = splitByImage(microDataset.dataset.images, validationFraction: 0.2, seed: 42).train[0]
    try Data("not a jpeg".utf8).write(to: URL(fileURLWithPath: dir + "/images/" + victim))
    let out = dir + "/out"
    let result = try runProduct("clip", ["train", "--data", dir, "--epochs", "1", "--batch-size", "16", "--out", out])
    #expect(result.status == 3, "\(result.stderr)")  // trained, with a skipped row and image
    #expect(result.stderr.contains("1 caption rows and 1 images were skipped"), "\(result.stderr)")
    #expect(result.stderr.contains("captions.csv:202: expected 4 fields"), "\(result.stderr)")
    // A warning the user must act on goes to standard error, as `clip --help` says skipped inputs do.
    #expect(result.stderr.contains("warning: skipping unreadable image \(victim)"), "\(result.stderr)")
    #expect(!result.stdout.contains("warning:"), "\(result.stdout)")
    let strict = try runProduct("clip", ["train", "--data", dir, "--epochs", "1", "--strict", "--out", out])
    #expect(strict.status == 1 && strict.stderr.contains("captions.csv:202"))
    let resumed = try runProduct("clip", ["train", "--data", dir, "--epochs", "2", "--batch-size", "16", "--out", out,
                                          "--resume", out + "/last.safetensors"])
    #expect(resumed.status == 3, "\(resumed.stderr)")
    #expect(resumed.stdout.contains("epoch 2/"))
  }
}

@Suite("Nothing lost", .serialized)
struct KillTests {
  /// Starts `clip train` on the micro dataset, waits until a checkpoint exists, then SIGKILLs it at
  /// staggered moments (so some kills land while the next checkpoint is being written).
  @Test("a writer killed with SIGKILL mid-run leaves a loadable checkpoint; resuming ends bit-identical to an uninterrupted run")
  func killDuringSave() throws {
    let common = ["train", "--data", microDataset.directory, "--batch-size", "8", "--epochs", "6"]
    let straightDir = temporaryDirectory("straight")
    let straight = try runProduct("clip", common + ["--out", straightDir])
    #expect(straight.status == 0, "\(straight.stderr)")

    let dir = temporaryDirectory("killed")
    var kills = 0
    for delay in [0, 40_000, 90_000, 150_000] {  // microseconds after a checkpoint appears
      let process = Process()
      process.executableURL = URL(fileURLWithPath: productsDirectory + "/clip")
      let resume = FileManager.default.fileExists(atPath: dir + "/last.safetensors") ? ["--resume", dir + "/last.safetensors"] : []
      process.arguments = common + ["--out", dir] + resume
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      let before = (try? FileManager.default.attributesOfItem(atPath: dir + "/last.safetensors")[.modificationDate]) as? Date
      try process.run()
      // Wait for a new checkpoint (or the end of the run).
      while process.isRunning {
        let now = (try? FileManager.default.attributesOfItem(atPath: dir + "/last.safetensors")[.modificationDate]) as? Date
        if let now, now != before { break }
        usleep(2_000)
      }
      usleep(useconds_t(delay))
      if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        kills += 1
      }
      process.waitUntilExit()
      // Whatever the moment, the checkpoint on disk is a whole one.
      let loaded = try TrainingCheckpoint.load(dir + "/last.safetensors")
      #expect(loaded.state.step > 0)
    }
    #expect(kills >= 1, "the run finished before any kill: make it longer")
    let finish = try runProduct("clip", common + ["--out", dir, "--resume", dir + "/last.safetensors"])
    #expect(finish.status == 0, "\(finish.stderr)")
    let a = try TrainingCheckpoint.load(straightDir + "/last.safetensors"), b = try TrainingCheckpoint.load(dir + "/last.safetensors")
    #expect(a.state.step == b.state.step)
    #expect(a.state.stepLosses.map(\.bitPattern) == b.state.stepLosses.map(\.bitPattern))
    for p in CLIP.parameterTable(a.model.config) {
      #expect(p.get(a.model).storage.map(\.bitPattern) == p.get(b.model).storage.map(\.bitPattern), "\(p.key)")
    }
  }
}
