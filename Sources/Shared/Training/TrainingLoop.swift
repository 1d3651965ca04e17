// The pieces of the training loop. Chapter 08 writes the loop out with them:
//
//   for batch in trainer.batches() { trainer.step(batch) }   forward → loss → backward → clip → AdamW
//   trainer.finishEpoch(trainer.validate(), …)                plateau, history, last/best checkpoints
//
// and `run` is the same loop, quietly (clip train, chapter 09's --train, the tests).

import TensorCore
import Models
import Datasets
import Runs
import IO
import Foundation

extension ContrastiveTrainer {
  /// This epoch's training batches, shuffled by (seed, epoch) and decoded ahead on a background thread,
  /// starting at the batch a resumed run stopped before.
  public func batches() -> BatchLoader {
    BatchLoader(dataset: dataset, images: trainImages, batchSize: config.batchSize, tokenizer: tokenizer, pipeline: config.imagePipeline,
                side: model.imageSide, maxLength: model.maxTextLength, train: true, seed: config.seed,
                epoch: state.epoch, startBatch: state.batchInEpoch)
  }

  /// One optimisation step on `batch` (forward → loss → backward → clip → AdamW, in `trainStep`), then
  /// the bookkeeping: state, log.jsonl. Returns nil for a batch with fewer than 2 readable images (no
  /// contrastive loss without negatives). Either way the epoch moves on to its next batch. A
  /// non-finite loss or gradient throws and changes nothing.
  public func step(_ batch: TrainingBatch) throws -> StepResult? {
    // The training clock: from the end of the previous step (the wait for this batch counts) to the end
    // of this one; after an evaluation, from this step's start (evaluation is never training time).
    let clockStart = trainingClock ?? now()
    defer {
      state.trainingSeconds += now() - clockStart
      trainingClock = now()
    }
    for s in batch.skipped where skippedImages.insert(s).inserted { observer.warn("skipping unreadable image \(s)") }
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


  /// Closes an epoch: ReduceLROnPlateau on the validation loss (plateau schedule), the epoch's record
  /// in the history and log.jsonl, then last.safetensors — and best.safetensors when the validation
  /// loss is the lowest so far. `extra` goes into the log line (e.g. zero-shot accuracy).
  @discardableResult
  public func finishEpoch(_ validation: ValidationResult, seconds: Double, extra: [String: Double] = [:]) throws -> EpochRecord {
    try requireStepsThisEpoch()
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
  func saveCheckpoints(validation: ValidationResult?) throws {
    let isBest = validation.map { $0.loss < state.bestValidationLoss } ?? false
    if isBest, let validation { state.bestValidationLoss = validation.loss }
    lastCheckpoint = try saveCheckpoint("last")
    if isBest { bestCheckpoint = try saveCheckpoint("best") }
  }

  /// Total optimiser steps of the whole run (what the cosine schedule spans without a time budget).
  public var totalSteps: Int { config.epochs * stepsPerEpoch }

  /// True once a time budget's seconds of training are spent.
  public var outOfTime: Bool { config.seconds.map { state.trainingSeconds >= $0 } ?? false }

  /// Stops the training clock: the seconds until the next step (an evaluation, a checkpoint) are not training.
  public func pauseTrainingClock() { trainingClock = nil }

  /// The learning-rate multiplier at step `step` (0-based): 1 under the plateau and constant schedules
  /// (the plateau scheduler scales the rates itself after each epoch); under cosine
  /// ```
  /// step < W:  (step + 1) / W                                  linear warm-up
  /// else:      ½ · (1 + cos(π · (step − W) / (total − W)))     from 1 down to 0 at the last step
  /// ```
  /// and with a time budget of S seconds, t of them spent, the cosine runs on seconds instead:
  /// ```
  /// min(1, (step + 1) / W) · ½ · (1 + cos(π · t / S))          whatever the machine's speed, 0 at S
  /// ```
  public func learningRateMultiplier(step: Int) -> Float {
    if config.schedule == .constant { return config.warmupSteps > 0 ? min(1, Float(step + 1) / Float(config.warmupSteps)) : 1 }
    guard config.schedule == .cosine else { return 1 }
    if let budget = config.seconds {
      return timeBudgetMultiplier(step: step, warmupSteps: config.warmupSteps, seconds: state.trainingSeconds, budget: budget)
    }
    return cosineMultiplier(step: step, warmupSteps: config.warmupSteps, totalSteps: totalSteps)
  }

  /// Sets every group's learning rate for the next step (cosine: base rate × multiplier).
  public func scheduleLearningRates() {
    guard config.schedule != .plateau else { return }
    let multiplier = learningRateMultiplier(step: state.step)
    for (i, base) in config.optimizer.groups.enumerated() where i < optimizer.groups.count {
      optimizer.groups[i].learningRate = base.learningRate * multiplier
    }
  }

  /// What a caller adds at the end of an epoch, after validation and before the checkpoints: numbers
  /// for the epoch's line in log.jsonl, and lines to print under it (chapter 08's zero-shot accuracy).
  public struct EpochExtras {
    public var log: [String: Double]
    public var lines: [String]
    public init(log: [String: Double] = [:], lines: [String] = []) {
      self.log = log
      self.lines = lines
    }
  }

  /// The training loop — the only one: chapter 08, `clip train` (either model), chapter 09's `--train`
  /// and the tests run it. Until `config.epochs` epochs are done or the time budget is spent, or after
  /// `stopAfterSteps` more batches (then the last checkpoint is written mid-epoch). `afterEpoch` runs
  /// after each epoch's validation, off the training clock.
  // ANCHOR: loop
  @discardableResult
  public func run(stopAfterSteps: Int? = nil, afterEpoch: ((ContrastiveTrainer) throws -> EpochExtras)? = nil) throws -> [EpochRecord] {
    // The folder is this run's until it returns (claimed again when a finished trainer runs once more).
    if folderLock == nil {
      do { folderLock = try FileLock(path: outputDirectory + "/.lock", what: outputDirectory) } catch {
        throw TrainingError(message: "\(error)")
      }
    }
    defer {
      folderLock?.release()
      folderLock = nil
    }
    var stepsThisCall = 0
    pauseTrainingClock()
    while state.epoch < config.epochs && !outOfTime {
      let epochStart = now()
      let loader = batches()  // shuffled by (seed, epoch), decoded ahead on a background thread
      defer { loader.cancel() }  // the producer may be ahead of an epoch cut short
      let bar = observer.progressBar(total: stepsPerEpoch, label: "epoch \(state.epoch + 1)" + (config.seconds == nil ? "/\(config.epochs)" : ""))
      while state.batchInEpoch < stepsPerEpoch && !outOfTime {
        if let stop = stopAfterSteps, stepsThisCall >= stop {
          observer.log("stopped after \(stepsThisCall) steps; checkpoint \(try checkpointNow())")
          return state.history
        }
        // (B, 3, S, S) pixels and (B, L) ids → forward → loss → backward → clip → AdamW (trainStep) → log.jsonl
        if let result = try step(loader.batch(state.batchInEpoch)) {
          bar?.update(state.batchInEpoch, info: String(format: "loss %.4f  lr %.1e  |g| %.2f", result.loss, optimizer.groups[0].learningRate,
                                                       result.gradientNorm)
            + (config.seconds.map { String(format: "  %.0f/%.0f s", state.trainingSeconds, $0) } ?? ""))
        }
        stepsThisCall += 1
      }
      dataWaitSeconds += loader.waitSeconds
      if state.batchInEpoch < stepsPerEpoch {
        // The budget ran out mid-epoch: checkpoint here (a first epoch validates now, so a best model exists).
        let validation = state.history.isEmpty ? try validate() : nil
        let last = try checkpointNow(validation: validation)
        observer.log(String(format: "time budget reached mid-epoch (%.0f s, step %d): checkpoint ", config.seconds ?? 0, state.step) + last
          + (validation.map { String(format: " (validation loss %.4f: ", $0.loss) + (bestCheckpoint ?? "no best yet") + ")" } ?? ""))
        break
      }
      // validate → the caller's extras (zero-shot) → ReduceLROnPlateau (plateau schedule) → last and best checkpoints
      let trainingSeconds = state.trainingSeconds
      let validation = try validate()
      let extras = try afterEpoch?(self) ?? EpochExtras()
      let record = try finishEpoch(validation, seconds: now() - epochStart, extra: extras.log.merging(["train_seconds": trainingSeconds]) { a, _ in a })
      observer.log(describe(record))
      for line in extras.lines { observer.log(line) }
    }
    writeLossCurve()
    return state.history
  }
  // ANCHOR_END: loop

  /// An epoch that took no step (no batch had 2 readable images) has nothing to validate or save.
  func requireStepsThisEpoch() throws {
    guard state.epochSteps > 0 else {
      throw TrainingError(message: "epoch \(state.epoch + 1) took no training step: no batch had 2 readable images "
        + "(\(trainImages.count) training images; see the warnings above). No checkpoint was written.")
    }
  }
}
