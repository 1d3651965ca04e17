// The training loop: epochs of AdamW steps on batches prepared ahead on a background thread,
// validation loss and retrieval after each epoch, ReduceLROnPlateau on the validation loss,
// checkpoints every epoch (and the best by validation loss), a JSON-lines log and a loss curve.

import TensorCore
import Kernels
import Layers
import Models
import Runs
import Text
import Image
import IO
import Report
import Foundation

/// Where the trainer reports (the chapter prints; tests collect).
public protocol TrainingObserver: AnyObject {
  func log(_ line: String)
}

public final class PrintingObserver: TrainingObserver {
  public init() {}
  public func log(_ line: String) { print(line) }
}

public final class Trainer {
  public let config: TrainingConfig
  public private(set) var model: CLIP
  public private(set) var optimizer: AdamW<CLIP>
  public private(set) var state: TrainingState
  public let dataset: CaptionDataset
  public let trainImages: [String]
  public let validationImages: [String]
  public let tokenizer: BertTokenizer
  public let outputDirectory: String
  let observer: TrainingObserver
  /// Total seconds the steps waited for the data thread.
  public private(set) var dataWaitSeconds = 0.0
  /// Total seconds spent in training steps (forward, backward, optimiser), and how many were taken.
  public private(set) var stepSeconds = 0.0
  public private(set) var stepsTimed = 0
  /// Steps in a full pass over the training images at this batch size.
  public var fullEpochSteps: Int { (trainImages.count + config.batchSize - 1) / config.batchSize }
  public private(set) var lastCheckpoint: String?
  /// Training images that could not be read (each logged once with the reason), this run.
  public private(set) var skippedImages: Set<String> = []

  /// The files a run writes into its output folder; a fresh run refuses a folder that holds any of
  /// them unless told to `overwrite` (a better model in best.safetensors would be lost).
  public static let runFiles = ["last.safetensors", "best.safetensors", "initial.safetensors", "log.jsonl", "loss-curve.png", "zero-shot-curve.png"]

  /// A fresh run, or a resumed one when `resume` names a checkpoint. On resume the checkpoint's
  /// configuration is used, except `config.epochs`, which must be more than the epochs already done.
  public init(config: TrainingConfig, dataset: CaptionDataset, tokenizer: BertTokenizer, outputDirectory: String,
              resume: String? = nil, overwrite: Bool = false, initialModel: CLIP? = nil,
              observer: TrainingObserver = PrintingObserver()) throws {
    let existing = Self.runFiles.filter { FileManager.default.fileExists(atPath: outputDirectory + "/" + $0) }
    if let resume, !existing.isEmpty,
      URL(fileURLWithPath: resume).deletingLastPathComponent().standardizedFileURL.resolvingSymlinksInPath()
        != URL(fileURLWithPath: outputDirectory, isDirectory: true).standardizedFileURL.resolvingSymlinksInPath()
    {
      throw TrainingError(message: "\(outputDirectory) holds another training run (\(existing.joined(separator: ", "))); "
        + "resume \(resume) in its own folder, or into an empty --out")
    }
    if resume == nil {
      try config.validate(source: "the training configuration")
      if !existing.isEmpty && !overwrite {
        throw TrainingError(message: "\(outputDirectory) already holds a training run (\(existing.joined(separator: ", "))): "
          + "continue it with --resume \(outputDirectory)/last.safetensors, choose another --out, or pass --overwrite to replace it")
      }

    }
    // Fail before training if the output folder cannot be written.
    do {
      try ensureDirectory(outputDirectory)
      try writeFileAtomically(Array("ok\n".utf8), to: outputDirectory + "/.write-test")
      try? FileManager.default.removeItem(atPath: outputDirectory + "/.write-test")
    } catch {
      throw TrainingError(message: "cannot write to the output folder \(outputDirectory): \(error)")
    }
    // Temporary checkpoint files of a run that was killed mid-write (SIGKILL cannot clean up).
    for stale in staleTemporaryFiles(in: outputDirectory, of: Self.runFiles) {
      try? FileManager.default.removeItem(atPath: outputDirectory + "/" + stale)
      observer.log("removed \(stale), a half-written checkpoint left by an interrupted run")
    }
    self.dataset = dataset
    self.tokenizer = tokenizer
    self.outputDirectory = outputDirectory
    self.observer = observer
    (trainImages, validationImages) = splitByImage(dataset.images, validationFraction: config.validationFraction, seed: config.seed)
    guard trainImages.count >= 2 else { throw TrainingError(message: "need at least 2 training images, have \(trainImages.count)") }
    if let resume {
      let loaded = try TrainingCheckpoint.load(resume)
      // The checkpoint's configuration, except the number of epochs: resuming may extend a run.
      guard config.epochs > loaded.state.epoch else {
        throw TrainingError(message: "\(resume) has already finished \(loaded.state.epoch) of its \(loaded.config.epochs) epochs: "
          + "ask for more than \(loaded.state.epoch) epochs to continue it")
      }
      // A cosine schedule spans the run's epochs: extending them would lift a finished run's learning
      // rate back up mid-way, a schedule no uninterrupted run has.
      if loaded.config.schedule == .cosine && config.epochs != loaded.config.epochs {
        observer.log("warning: \(resume) follows a cosine schedule over \(loaded.config.epochs) epochs; continuing to \(config.epochs) "
          + "stretches it, so the learning rate rises again from where it was — a schedule no uninterrupted run has")
      }
      var resumedConfig = loaded.config
      resumedConfig.epochs = config.epochs
      self.config = resumedConfig
      model = loaded.model
      optimizer = loaded.optimizer
      state = loaded.state
      lastCheckpoint = resume
    } else {
      self.config = config
      model = initialModel ?? CLIP(config: config.model, seed: config.seed)
      optimizer = AdamW(model: model, config: config.optimizer)
      state = TrainingState()
      // A fresh run starts a fresh log (a resumed one appends to its own).
      try? FileManager.default.removeItem(atPath: outputDirectory + "/log.jsonl")
      state.groups = optimizer.groups
      state.scheduler = ReduceLROnPlateau(factor: config.plateauFactor, patience: config.plateauPatience)
    }
    try tokenizer.checkFits(vocabSize: self.config.model.text.vocabSize, vocabularySource: "the tokenizer's vocabulary",
                            modelSource: resume ?? "the training configuration")
    if let resume, state.batchInEpoch > stepsPerEpoch {
      throw TrainingError(message: "\(resume) stopped at batch \(state.batchInEpoch) of an epoch, but this data makes epochs of "
        + "\(stepsPerEpoch) batches: was it trained on other data?")
    }
    // Asked to replace an earlier run (--overwrite), and every check passed: its files go now, last,
    // so a mistake found above loses nothing and the folder never mixes two runs.
    if resume == nil {
      for name in existing {
        do { try FileManager.default.removeItem(atPath: outputDirectory + "/" + name) } catch {
          throw TrainingError(message: "cannot remove the earlier run's \(outputDirectory)/\(name): \(error)")
        }
        observer.log("removed the earlier run's \(name) (--overwrite)")
      }
    }
  }

  /// Batches per epoch (a full pass, or the seed demo's cut).
  public var stepsPerEpoch: Int {
    let full = (trainImages.count + config.batchSize - 1) / config.batchSize
    return min(full, config.maxStepsPerEpoch ?? full)
  }

  /// Dropout masks for global step `step`: a pure function of (seed, step).
  func dropoutMasks(step: Int, n: Int) -> (image: Tensor, text: Tensor)? {
    guard config.model.dropout > 0 else { return nil }
    var rng = SeededRNG(seed: config.seed ^ (UInt64(step + 1) &* 0xA24B_AED4_963E_E407))
    let shape = [n, config.model.projectionDim]
    return (dropoutMask(shape: shape, p: config.model.dropout, rng: &rng), dropoutMask(shape: shape, p: config.model.dropout, rng: &rng))
  }

  /// Appends one JSON line to log.jsonl.
  public func appendLog(_ object: [String: Any]) {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
    let path = outputDirectory + "/log.jsonl"
    if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
    if let handle = FileHandle(forWritingAtPath: path) {
      handle.seekToEndOfFile()
      handle.write(data + Data("\n".utf8))
      try? handle.close()
    }
  }

  func saveCheckpoint(_ name: String) throws -> String {
    let path = outputDirectory + "/" + name
    try TrainingCheckpoint.save(model: model, optimizer: optimizer, config: config, state: state, to: path)
    return path
  }

  // MARK: - The pieces of the loop (chapter 08 writes the loop out; `run` is the same loop, quietly)

  /// This epoch's training batches, shuffled by (seed, epoch) and decoded ahead on a background thread,
  /// starting at the batch a resumed run stopped before.
  public func batches() -> BatchLoader {
    BatchLoader(dataset: dataset, images: trainImages, batchSize: config.batchSize, tokenizer: tokenizer, pipeline: config.imagePipeline,
                side: config.model.vit.imageSize, maxLength: config.model.maxTextLength, train: true, seed: config.seed,
                epoch: state.epoch, startBatch: state.batchInEpoch)
  }

  /// Total optimiser steps of the whole run (what the cosine schedule spans).
  public var totalSteps: Int { config.epochs * stepsPerEpoch }

  /// The learning-rate multiplier at step `step` (0-based): 1 under the plateau schedule (the scheduler
  /// scales the rates itself after each epoch); under cosine
  /// ```
  /// step < W:  (step + 1) / W                                  linear warm-up
  /// else:      ½ · (1 + cos(π · (step − W) / (total − W)))     from 1 down to 0 at the last step
  /// ```
  public func learningRateMultiplier(step: Int) -> Float {
    guard config.schedule == .cosine else { return 1 }
    let warmup = config.warmupSteps, total = max(totalSteps, warmup + 1)
    if step < warmup { return Float(step + 1) / Float(warmup) }
    let progress = Double(min(step - warmup, total - warmup)) / Double(total - warmup)
    return Float(0.5 * (1 + cos(Double.pi * progress)))
  }

  /// Sets every group's learning rate for the next step (cosine: base rate × multiplier).
  public func scheduleLearningRates() {
    guard config.schedule == .cosine else { return }
    let multiplier = learningRateMultiplier(step: state.step)
    for (i, base) in config.optimizer.groups.enumerated() where i < optimizer.groups.count {
      optimizer.groups[i].learningRate = base.learningRate * multiplier
    }
  }

  /// One optimisation step on `batch` (forward → loss → backward → clip → AdamW, in `trainStep`), then
  /// the bookkeeping: state, log.jsonl. Returns nil for a batch with fewer than 2 readable images (no
  /// contrastive loss without negatives). Either way the epoch moves on to its next batch. A
  /// non-finite loss or gradient throws and changes nothing.
  public func step(_ batch: TrainingBatch) throws -> StepResult? {
    for s in batch.skipped where skippedImages.insert(s).inserted { observer.log("warning: skipping unreadable image \(s)") }
    guard batch.images.count >= 2 else {
      state.batchInEpoch += 1
      return nil
    }
    scheduleLearningRates()
    let start = now()
    let result: StepResult
    do {
      result = try trainStep(&model, optimizer: &optimizer, config: config.optimizer, pixels: batch.pixels, batch: batch.tokens,
                             dropoutMasks: dropoutMasks(step: state.step, n: batch.images.count))
    } catch let error as NonFiniteError {
      throw TrainingError(message: "training stopped at step \(state.step + 1) (epoch \(state.epoch + 1)): \(error.what). "
        + "The last good checkpoint is \(lastCheckpoint ?? "none (no epoch finished yet)") and was left untouched.")
    }
    let seconds = now() - start
    stepSeconds += seconds
    stepsTimed += 1
    state.step += 1
    state.batchInEpoch += 1
    state.stepLosses.append(result.loss)
    state.epochLossSum += Double(result.loss)
    state.epochSteps += 1
    appendLog(["kind": "step", "step": state.step, "epoch": state.epoch + 1, "loss": Double(result.loss),
               "grad_norm": Double(result.gradientNorm), "logit_scale": Double(model.logitScale.storage[0]),
               "lr": Double(optimizer.groups[0].learningRate), "seconds": seconds])
    return result
  }

  /// Validation after an epoch: the loss and retrieval over the validation images. Warns about
  /// unreadable images; throws when too few are left to mean anything.
  public func validate() throws -> Evaluation {
    guard state.epochSteps > 0 else {
      throw TrainingError(message: "epoch \(state.epoch + 1) took no training step: no batch had 2 readable images "
        + "(\(trainImages.count) training images; see the warnings above). No checkpoint was written.")
    }
    let validationSet = Array(validationImages.prefix(config.maxValidationImages ?? validationImages.count))
    let validation = evaluate(images: validationSet)
    if !validation.skipped.isEmpty {
      observer.log("warning: \(validation.skipped.count) of \(validationSet.count) validation images could not be read "
        + "(first: \(validation.skipped[0])); the validation loss and recall are over the other \(validationSet.count - validation.skipped.count)")
    }
    if validationSet.count >= 2 && validationSet.count - validation.skipped.count < 2 {
      throw TrainingError(message: "validation failed: \(validation.skipped.count) of \(validationSet.count) validation images "
        + "could not be read (first: \(validation.skipped.first ?? "?")), too few are left for a validation loss. "
        + "The checkpoints were left untouched.")
    }
    return validation
  }

  /// Closes an epoch: ReduceLROnPlateau on the validation loss (plateau schedule), the epoch's record
  /// in the history and log.jsonl, then last.safetensors — and best.safetensors when the validation
  /// loss is the lowest so far. `extra` goes into the log line (e.g. zero-shot accuracy).
  @discardableResult
  public func finishEpoch(_ validation: Evaluation, seconds: Double, extra: [String: Double] = [:]) throws -> EpochRecord {
    guard state.epochSteps > 0 else {
      throw TrainingError(message: "epoch \(state.epoch + 1) took no training step: no batch had 2 readable images "
        + "(\(trainImages.count) training images; see the warnings above). No checkpoint was written.")
    }
    let trainLoss = Float(state.epochLossSum / Double(state.epochSteps))
    // No validation images (validationFraction 0): no metric, so the learning rate stays.
    if config.schedule == .plateau && !validation.loss.isNaN { state.scheduler.step(metric: validation.loss, groups: &optimizer.groups) }
    state.groups = optimizer.groups
    let record = EpochRecord(epoch: state.epoch + 1, trainLoss: trainLoss, validationLoss: validation.loss,
                             imageToTextR1: validation.imageToText.recall[1] ?? 0, imageToTextR5: validation.imageToText.recall[5] ?? 0,
                             textToImageR1: validation.textToImage.recall[1] ?? 0, textToImageR5: validation.textToImage.recall[5] ?? 0,
                             learningRates: optimizer.groups.map(\.learningRate), seconds: seconds)
    state.history.append(record)
    var line: [String: Any] = ["kind": "epoch", "epoch": record.epoch, "train_loss": Double(trainLoss), "val_loss": Double(validation.loss),
                               "i2t_r1": Double(record.imageToTextR1), "i2t_r5": Double(record.imageToTextR5), "t2i_r1": Double(record.textToImageR1),
                               "t2i_r5": Double(record.textToImageR5), "lr": record.learningRates.map(Double.init), "seconds": record.seconds]
    for (k, v) in extra { line[k] = v }
    appendLog(line)
    state.epoch += 1
    state.batchInEpoch = 0
    state.epochLossSum = 0
    state.epochSteps = 0
    try saveCheckpoints(validation: validation)
    return record
  }

  /// last.safetensors, and best.safetensors when `validation` has the lowest loss so far (the state
  /// records it first, so both files carry the same best loss).
  private func saveCheckpoints(validation: Evaluation?) throws {
    let isBest = validation.map { $0.loss < state.bestValidationLoss } ?? false
    if isBest, let validation { state.bestValidationLoss = validation.loss }
    lastCheckpoint = try saveCheckpoint("last.safetensors")
    if isBest { _ = try saveCheckpoint("best.safetensors") }
  }

  /// Adds the seconds a loop's steps waited for its `BatchLoader` (the chapter's loop reports its own).
  public func recordDataWait(_ seconds: Double) { dataWaitSeconds += seconds }

  /// Saves the untrained model as initial.safetensors (the PyTorch twin starts from these weights).
  public func saveInitial() throws -> String { try saveCheckpoint("initial.safetensors") }

  /// Saves last.safetensors now (mid-epoch: a resumed run continues at the next batch). With a
  /// `validation` of the model as it is, best.safetensors too when its loss is the lowest so far (a
  /// time budget shorter than one epoch still leaves a best model for chapter 09).
  public func checkpointNow(validation: Evaluation? = nil) throws -> String {
    try saveCheckpoints(validation: validation)
    return lastCheckpoint!
  }

  /// Writes loss-curve.png (training loss per step, validation loss per epoch).
  public func writeLossCurve() { try? PNG.write(lossCurve(), to: outputDirectory + "/loss-curve.png") }

  /// One line for an epoch's record, as the chapter and `clip train` print it.
  public func describe(_ record: EpochRecord) -> String {
    String(format: "epoch %d/%d  train loss %.4f  val loss %.4f  i→t R@1 %.1f%% R@5 %.1f%%  t→i R@1 %.1f%% R@5 %.1f%%  lr %.1e  · %@",
           record.epoch, config.epochs, record.trainLoss, record.validationLoss, 100 * record.imageToTextR1, 100 * record.imageToTextR5,
           100 * record.textToImageR1, 100 * record.textToImageR5, record.learningRates.first ?? 0, formatDuration(record.seconds) as NSString)
  }

  /// The loop, quietly: until `config.epochs` epochs are done, or `stopAfterSteps` more batches (then
  /// last.safetensors is written mid-epoch). Chapter 08 writes this same loop out with the same pieces.
  @discardableResult
  public func run(stopAfterSteps: Int? = nil) throws -> [EpochRecord] {
    var stepsThisCall = 0
    while state.epoch < config.epochs {
      let epochStart = now()
      let loader = batches()
      defer { loader.cancel() }  // the producer may be ahead of an epoch cut short
      let bar = observer is PrintingObserver ? ProgressBar(total: stepsPerEpoch, label: "epoch \(state.epoch + 1)/\(config.epochs)") : nil
      while state.batchInEpoch < stepsPerEpoch {
        if let stop = stopAfterSteps, stepsThisCall >= stop {
          observer.log("stopped after \(stepsThisCall) steps; checkpoint \(try checkpointNow())")
          return state.history
        }
        if let result = try step(loader.batch(state.batchInEpoch)) {
          bar?.update(state.batchInEpoch, info: String(format: "loss %.4f  lr %.0e", result.loss, optimizer.groups[0].learningRate))
        }
        stepsThisCall += 1
      }
      dataWaitSeconds += loader.waitSeconds
      let record = try finishEpoch(try validate(), seconds: now() - epochStart)
      observer.log(describe(record))
    }
    writeLossCurve()
    return state.history
  }

  public struct Evaluation {
    public var loss: Float  // NaN when fewer than 2 images could be read
    public var imageToText: RetrievalMetrics
    public var textToImage: RetrievalMetrics
    public var skipped: [String] = []  // unreadable images, with the reason
  }

  /// Validation loss (caption 0 of each image, no dropout, batches of the training size) and
  /// retrieval over every caption, grouped by image.
  public func evaluate(images: [String]) -> Evaluation {
    let side = config.model.vit.imageSize
    guard images.count >= 2 else {
      let empty = retrievalMetrics(ranks: [])
      return Evaluation(loss: .nan, imageToText: empty, textToImage: empty)
    }
    let loader = BatchLoader(dataset: dataset, images: images, batchSize: config.batchSize, tokenizer: tokenizer, pipeline: config.imagePipeline,
                             side: side, maxLength: config.model.maxTextLength, train: false, seed: config.seed, epoch: 0)
    var lossSum: Double = 0, lossCount = 0
    var imageEmbeddings: [Float] = [], kept: [String] = [], skipped: [String] = []
    for b in 0..<loader.batchCount {
      let batch = loader.batch(b)
      skipped += batch.skipped
      guard batch.images.count >= 1 else { continue }
      let step = model.forward(pixels: batch.pixels, batch: batch.tokens, dropoutMasks: nil)
      if batch.images.count >= 2 {
        lossSum += Double(contrastiveLoss(step, model: model).loss) * Double(batch.images.count)
        lossCount += batch.images.count
      }
      imageEmbeddings += l2Normalize(step.imageProjection).0.storage
      kept += batch.images
    }
    var texts: [String] = [], imageOfText: [Int] = []
    for (i, name) in kept.enumerated() {
      for c in dataset.captions[name] ?? [] {
        texts.append(c)
        imageOfText.append(i)
      }
    }
    var textEmbeddings: [Float] = []
    var start = 0
    while start < texts.count {
      let chunk = Array(texts[start..<min(texts.count, start + 256)])
      textEmbeddings += model.embedTexts(tokenizer.batch(chunk, maxLength: config.model.maxTextLength)).storage
      start += 256
    }
    let p = config.model.projectionDim
    let similarity = Tensor(shape: [kept.count, p], storage: imageEmbeddings).matmul(Tensor(shape: [texts.count, p], storage: textEmbeddings),
                                                                                     transposeOther: true)
    let ranks = retrievalRanks(similarity: similarity, imageOfText: imageOfText)
    return Evaluation(loss: lossCount == 0 ? .nan : Float(lossSum / Double(lossCount)), imageToText: retrievalMetrics(ranks: ranks.imageToText),
                      textToImage: retrievalMetrics(ranks: ranks.textToImage), skipped: skipped)
  }

  /// Training loss per step (grey, smoothed in blue) and validation loss per epoch (red).
  public func lossCurve() -> RGBImage {
    let raw = state.stepLosses.enumerated().map { (x: Float($0.offset + 1), y: $0.element) }
    var smooth: [(x: Float, y: Float)] = []
    var ema: Float = raw.first?.y ?? 0
    for p in raw {
      ema = 0.9 * ema + 0.1 * p.y
      smooth.append((p.x, ema))
    }
    let perEpoch = Float(max(stepsPerEpoch, 1))
    let validation = state.history.map { (x: Float($0.epoch) * perEpoch, y: $0.validationLoss) }
    return linePlot([PlotSeries(points: raw, color: (200, 200, 200)), PlotSeries(points: smooth, color: (40, 90, 200), thickness: 2),
                     PlotSeries(points: validation, color: (220, 40, 40), thickness: 3)])
  }
}
