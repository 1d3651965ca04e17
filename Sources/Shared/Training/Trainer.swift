// A training run: its configuration, model, optimiser and state, the output folder it owns (checked and
// claimed before anything is trained), its log and checkpoints. The loop itself is TrainingLoop.swift;
// validation is EpochValidation.swift; what a reader sees (epoch lines, the loss curve) is TrainerReport.swift.

import TensorCore
import Layers
import Models
import Datasets
import Runs
import Text
import Image
import IO
import Report
import Foundation

/// Where the trainer reports (the chapter prints; tests collect).
public protocol TrainingObserver: AnyObject {
  func log(_ line: String)
  /// Something the user should act on (an unreadable image, a stretched schedule): standard error when
  /// printing, so it is not lost among the epoch lines.
  func warn(_ line: String)
  /// A bar for the steps of one epoch, or nil to show none.
  func progressBar(total: Int, label: String) -> ProgressBar?
}

extension TrainingObserver {
  public func progressBar(total: Int, label: String) -> ProgressBar? { nil }
  public func warn(_ line: String) { log("warning: " + line) }
}

/// Prints each line and a progress bar per epoch (`clip train`, chapter 09's `--train`).
public final class PrintingObserver: TrainingObserver {
  public init() {}
  public func log(_ line: String) { print(line) }
  public func warn(_ line: String) { FileHandle.standardError.write(Data("warning: \(line)\n".utf8)) }
  public func progressBar(total: Int, label: String) -> ProgressBar? { ProgressBar(total: total, label: label) }
}

/// The seed's CLIP's trainer (chapter 08, `clip train`).
public typealias Trainer = ContrastiveTrainer<CLIP>

/// A training run of any contrastive model: the seed's CLIP (`Trainer`) or OpenAI's (`clip train --clip`).
public final class ContrastiveTrainer<Model: TrainableModel> {
  public let config: TrainingConfig
  public internal(set) var model: Model
  public internal(set) var optimizer: AdamW<Model>
  public internal(set) var state: TrainingState
  public let dataset: CaptionDataset
  public let trainImages: [String]
  public let validationImages: [String]
  public let tokenizer: Model.Tokenizer
  public let outputDirectory: String
  let observer: TrainingObserver
  /// Total seconds the steps waited for the data thread.
  public internal(set) var dataWaitSeconds = 0.0
  /// Total seconds spent in training steps (forward, backward, optimiser), and how many were taken.
  public internal(set) var stepSeconds = 0.0
  public internal(set) var stepsTimed = 0
  public internal(set) var lastCheckpoint: String?
  /// The best model's checkpoint, once this process has written one.
  public internal(set) var bestCheckpoint: String?
  /// Training images that could not be read (each logged once with the reason), this run.
  public internal(set) var skippedImages: Set<String> = []
  /// This process's claim on the output folder (OUT/.lock), from the first check to the end of `run`:
  /// a second run into the same folder is refused instead of interleaving logs and checkpoints.
  var folderLock: FileLock?
  /// When the training clock last started (the end of the previous step); nil while it is stopped.
  var trainingClock: Double?

  /// The files a run writes into its output folder; a fresh run refuses a folder that holds any of
  /// them unless told to `overwrite` (a better model in best.safetensors would be lost).
  public static var runFiles: [String] {
    Model.checkpointFiles + ["log.jsonl", "loss-curve.svg", "zero-shot-curve.svg",
                             "loss-curve.png", "zero-shot-curve.png"]  // the .png names: runs of earlier versions
  }

  /// A fresh run, or a resumed one when `resume` names a checkpoint. On resume the checkpoint's
  /// configuration is used, except `config.epochs`, which must be more than the epochs already done.
  public convenience init(config: TrainingConfig, dataset: CaptionDataset, tokenizer: Model.Tokenizer, outputDirectory: String,
              resume: String? = nil, overwrite: Bool = false, initialModel: Model? = nil,
              observer: TrainingObserver = PrintingObserver(), allowOtherData: Bool = false) throws {
    // Claim the folder first: every check below (and --overwrite's removals) must see no other writer.
    let createdFolder = !FileManager.default.fileExists(atPath: outputDirectory)
    let lock: FileLock
    do {
      try ensureDirectory(outputDirectory)
      lock = try FileLock(path: outputDirectory + "/.lock", what: outputDirectory)
    } catch let error as FileLockError {
      throw TrainingError(message: error.description)
    } catch {
      throw TrainingError(message: "cannot use the output folder: \(error)")
    }
    do {
      try self.init(checkedConfig: config, dataset: dataset, tokenizer: tokenizer, outputDirectory: outputDirectory, resume: resume,
                    overwrite: overwrite, initialModel: initialModel, observer: observer, allowOtherData: allowOtherData, lock: lock)
    } catch {
      lock.release()
      if createdFolder { rmdir(outputDirectory) }  // the folder this refused run made, if it is still empty
      throw error
    }
  }

  private init(checkedConfig config: TrainingConfig, dataset: CaptionDataset, tokenizer: Model.Tokenizer, outputDirectory: String,
               resume: String?, overwrite: Bool, initialModel: Model?, observer: TrainingObserver, allowOtherData: Bool, lock: FileLock) throws {
    folderLock = lock
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
        guard let resumable = Model.resumableCheckpoint else {
          throw TrainingError(message: "\(outputDirectory) already holds a training run (\(existing.joined(separator: ", "))): "
            + "choose another --out, or pass --overwrite to replace it")
        }
        guard existing.contains(resumable) else {
          throw TrainingError(message: "\(outputDirectory) holds what an earlier run left before its first checkpoint "
            + "(\(existing.joined(separator: ", ")); nothing to resume): pass --overwrite to replace it, or choose another --out")
        }
        throw TrainingError(message: "\(outputDirectory) already holds a training run (\(existing.joined(separator: ", "))): "
          + "continue it with --resume \(outputDirectory)/\(resumable), choose another --out, or pass --overwrite to replace it")
      }
    }
    // Fail before training if the output folder cannot be written.
    do {
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
      let loaded = try Model.loadRun(resume)
      // The checkpoint's configuration, except the number of epochs: resuming may extend a run.
      guard config.epochs > loaded.state.epoch else {
        throw TrainingError(message: "\(resume) has already finished \(loaded.state.epoch) of its \(loaded.config.epochs) epochs: "
          + "ask for more than \(loaded.state.epoch) epochs to continue it")
      }
      // A cosine schedule spans the run's epochs: extending them would lift a finished run's learning
      // rate back up mid-way, a schedule no uninterrupted run has.
      if loaded.config.schedule == .cosine && config.epochs != loaded.config.epochs {
        observer.warn("\(resume) follows a cosine schedule over \(loaded.config.epochs) epochs; continuing to \(config.epochs) "
          + "stretches it, so the learning rate rises again from where it was — a schedule no uninterrupted run has")
      }
      let here = DataFingerprint(dataset)
      if let trained = loaded.state.data, trained != here {
        guard allowOtherData else {
          throw TrainingError(message: "\(resume) was trained on other data (\(trained)); this data has \(here) "
            + "(\(dataset.imageDirectory)). Resume with the data it was trained on; if these are the same photos and captions after "
            + "an edit, pass --allow-other-data (the validation split and best.safetensors then refer to this data)")
        }
        observer.warn("\(resume) was trained on other data (\(trained)); continuing on \(here) as asked (--allow-other-data)")
      }
      var resumedConfig = loaded.config
      resumedConfig.epochs = config.epochs
      resumedConfig.seconds = config.seconds ?? loaded.config.seconds
      if let budget = resumedConfig.seconds, loaded.state.trainingSeconds >= budget {
        throw TrainingError(message: String(format: "%@ has already trained its %.0f s: ask for more with --seconds S (S > %.0f) to continue it",
                                            resume, budget, loaded.state.trainingSeconds))
      }
      self.config = resumedConfig
      model = loaded.model
      optimizer = loaded.optimizer
      state = loaded.state
      state.data = here
      lastCheckpoint = resume
    } else {
      self.config = config
      model = try initialModel ?? Model.freshModel(config)
      optimizer = AdamW(model: model, config: config.optimizer)
      state = TrainingState()
      state.data = DataFingerprint(dataset)
      state.groups = optimizer.groups
      state.scheduler = ReduceLROnPlateau(factor: config.plateauFactor, patience: config.plateauPatience)
    }
    try tokenizer.checkFits(vocabSize: model.vocabularySize, vocabularySource: "the tokenizer's vocabulary",
                            modelSource: resume ?? "the training configuration")
    if let resume, state.batchInEpoch > stepsPerEpoch {
      throw TrainingError(message: "\(resume) stopped at batch \(state.batchInEpoch) of an epoch, but this data makes epochs of "
        + "\(stepsPerEpoch) batches: was it trained on other data?")
    }
    // Asked to replace an earlier run (--overwrite), and every check passed: its files go now, last,
    // so a mistake found above loses nothing and the folder never mixes two runs. (This is also how a
    // fresh run starts a fresh log.jsonl; a resumed one appends to its own.)
    if resume == nil {
      for name in existing where FileManager.default.fileExists(atPath: outputDirectory + "/" + name) {
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
  func dropoutMasks(step: Int, n: Int) -> DropoutMasks? {
    guard model.headDropout > 0 else { return nil }
    var rng = SeededRNG(seed: config.seed ^ (UInt64(step + 1) &* 0xA24B_AED4_963E_E407))
    let shape = [n, model.embedDim]
    return DropoutMasks(image: dropoutMask(shape: shape, p: model.headDropout, rng: &rng), text: dropoutMask(shape: shape, p: model.headDropout, rng: &rng))
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

  /// Writes checkpoint `name` ("last", "best", "initial") in the model's own form; returns its path.
  func saveCheckpoint(_ name: String) throws -> String {
    try model.writeCheckpoint(name, in: outputDirectory, optimizer: optimizer, config: config, state: state)
  }

  /// Adds the seconds a loop's steps waited for its `BatchLoader` (the chapter's loop reports its own).
  public func recordDataWait(_ seconds: Double) { dataWaitSeconds += seconds }

  /// Saves the untrained model as initial.safetensors (the PyTorch twin starts from these weights).
  public func saveInitial() throws -> String { try saveCheckpoint("initial") }

  /// Saves last.safetensors now (mid-epoch: a resumed run continues at the next batch). With a
  /// `validation` of the model as it is, best.safetensors too when its loss is the lowest so far (a
  /// time budget shorter than one epoch still leaves a best model for chapter 09).
  public func checkpointNow(validation: ValidationResult? = nil) throws -> String {
    try saveCheckpoints(validation: validation)
    return lastCheckpoint!
  }
}
