// clip train: chapter 08's trainer from the command line, on the shapes dataset or a captions CSV.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train CLIP on a Flickr-layout folder (or the generated shapes dataset).",
    discussion: """
      DIR holds captions.csv (image,caption_number,caption,id — or Flickr8k's image,caption, or Flickr30k's \
      '|'-separated results.csv) and the images (in DIR, DIR/images or DIR/Images). Without --data the \
      shapes dataset is generated into OUT/data. Checkpoints (last.safetensors, best.safetensors), \
      log.jsonl and loss-curve.svg go to OUT.

      Examples:
        clip train                                   # tiny model, generated shapes, 300 s of training
        clip train --seconds 60 --shapes 'radius=[0.12,0.3]' --set model.dropout=0
        clip train --data ~/flickr8k --config seed --epochs 1
        clip train --resume output/train/last.safetensors
        clip train --clip ~/clip-vit-base-patch32 --data ~/flickr8k --seconds 3600 --out tuned
        clip train --clip ViT-B-32.safetensors --locked-image --epochs 2      # LiT: only the text tower learns
        clip train --resume tuned/last.training.safetensors --seconds 7200   # continue a fine-tuning run

      With --clip, OpenAI's CLIP (a Hugging Face folder, or one safetensors file with open_clip's or \
      Hugging Face's keys) is fine-tuned instead: every parameter, or with --locked-image the text tower \
      and logit_scale only. OUT/best and OUT/last are written in the form it was read in — a Hugging Face \
      folder that CLIPModel.from_pretrained loads, or OUT/best.safetensors with the file's keys — and \
      work with every other clip command's --clip; OUT/last.training.safetensors (AdamW's moments and the \
      run's state) is what --resume continues from.
      """
  )

  @Option(name: .long, help: "tiny (default) or seed (ViT-B/16 + BERT-base, the seed's hyper-parameters).")
  var config: String?

  @Option(name: .long, help: "Folder with captions.csv and the images.")
  var data: String?

  @Option(name: .long, help: "The captions file, if not DIR/captions.csv.")
  var csv: String?

  @Option(name: .customLong("out"), help: "Output folder (default: output/train, or with --resume the checkpoint's own folder).")
  var outOption: String?

  @Option(name: .long, parsing: .unconditional, help: "Epochs (on --resume: the total, more than the epochs already done).")
  var epochs: Int?

  @Option(name: .long, parsing: .unconditional, help: "Batch size (at least 2; cannot change on --resume).")
  var batchSize: Int?

  @Option(name: .long, help: "Continue from a checkpoint written by this command (its configuration is kept).")
  var resume: String?

  @Option(name: .long, parsing: .unconditional, help: "Seconds of training (evaluation not counted; tiny's default 300): the cosine spans them.")
  var seconds: Double?

  @Option(name: .long, parsing: .unconditional, help: "One learning rate for every group.")
  var lr: Float?

  @Option(name: .long, help: "Change one field of the configuration: --set model.vit.depth=3 (repeatable; JSON values).")
  var set: [String] = []

  @Option(name: .long, help: "Generated data only: change one field of the shapes dataset: --shapes 'radius=[0.12,0.3]' (repeatable).")
  var shapes: [String] = []

  @Option(name: .long, help: "Fine-tune OpenAI's CLIP from this Hugging Face folder or safetensors file (instead of training the tiny model).")
  var clip: String?

  @Flag(name: .long, help: "With --clip: LiT, locked-image tuning: the image tower stays as it is, the text tower and logit_scale learn.")
  var lockedImage = false

  @Flag(name: .long, help: "On --resume: continue although the data differs from the data the checkpoint was trained on.")
  var allowOtherData = false

  @Flag(name: .long, help: "Replace a run already in --out (best.safetensors, last.safetensors, log.jsonl).")
  var overwrite = false

  @Flag(name: .long, help: "Fail on the first malformed CSV row or missing image instead of skipping it.")
  var strict = false

  func validate() throws {
    if let config, TrainingConfig.named(config) == nil { throw ValidationError("unknown --config '\(config)' (use tiny or seed)") }
    if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    if let batchSize, batchSize < 2 || batchSize > 1 << 20 { throw ValidationError("--batch-size must be between 2 and \(1 << 20), got \(batchSize)") }
    if let epochs, epochs > 1 << 30 { throw ValidationError("--epochs must be at most \(1 << 30), got \(epochs)") }
    if allowOtherData && resume == nil { throw ValidationError("--allow-other-data is for --resume: a new run trains on whatever data it is given") }
    if resume != nil && overwrite { throw ValidationError("--resume continues a run; --overwrite starts a new one: pick one") }
    // The same ranges and messages as chapter 08's.
    if let seconds, !(seconds > 0 && seconds <= 1e7) {
      throw ValidationError("--seconds must be a number of seconds between 0 and 10000000 (about 116 days), got \(seconds)")
    }
    if let lr, !(lr > 0 && lr <= 10) {
      throw ValidationError("--lr must be a learning rate in (0, 10] (1e-3 is typical), got \(lr.isNaN ? "nan" : lr.isFinite ? "\(lr)" : "a number too large for a Float")")
    }
    if clip != nil {
      if resume != nil { throw ValidationError("--clip starts a fine-tuning run; --resume continues one (from its OUT/last.training.safetensors): pick one") }
      if config != nil { throw ValidationError("--config picks the tiny or seed model; --clip fine-tunes the checkpoint it names: pick one") }
      if let key = set.first(where: { $0.hasPrefix("model.") }) {
        throw ValidationError("--set \(key): the model's shapes come from the --clip checkpoint")
      }
    } else if lockedImage {
      throw ValidationError("--locked-image is for --clip (LiT: OpenAI's image tower frozen while its text tower learns)")
    }
    if resume != nil && (!set.isEmpty || lr != nil) { throw ValidationError("--resume continues a run with its own configuration: --set and --lr cannot change it") }
    if (data != nil || csv != nil) && !shapes.isEmpty { throw ValidationError("--shapes shape generated data, not --data or --csv") }
    if !set.isEmpty, let base = clip != nil ? TrainingConfig.openAICLIPFineTune : TrainingConfig.named(config ?? "tiny") {
      do { _ = try base.setting(set) } catch { throw ValidationError("\(error)") }
    }
    if !shapes.isEmpty {
      do { _ = try applyingAssignments(shapes, to: ShapesDatasetConfig(), flag: "--shapes") } catch { throw ValidationError("\(error)") }
    }
  }

  /// Where the run goes: --out, else a resumed checkpoint's own folder (continuing it elsewhere would start
  /// a second run beside the first), else output/train.
  var out: String { outOption ?? resume.map { parentPath($0).isEmpty ? "." : parentPath($0) } ?? "output/train" }

  func run() throws {
    var trainingConfig = clip != nil ? TrainingConfig.openAICLIPFineTune : TrainingConfig.named(config ?? "tiny")!
    // --epochs alone: exactly that many epochs, no time budget; with --seconds, whichever ends first.
    if let epochs { trainingConfig.epochs = epochs; if seconds == nil { trainingConfig.seconds = nil } }
    if let seconds { trainingConfig.seconds = seconds }
    if let batchSize { trainingConfig.batchSize = batchSize }
    if let lr { (trainingConfig.optimizer.imageLearningRate, trainingConfig.optimizer.textLearningRate, trainingConfig.optimizer.headLearningRate) = (lr, lr, lr) }
    do { trainingConfig = try trainingConfig.setting(set) } catch { fail("\(error)") }
    // A fine-tuning run of OpenAI's CLIP is resumed from OUT/last.training.safetensors (or OUT/last beside it).
    let fineTuneState = resume.flatMap { OpenAICLIP.trainingState(for: $0) }
    if let resume {
      do {
        trainingConfig = try resumedConfiguration(checkpoint: fineTuneState ?? resume, epochs: epochs, name: config, batchSize: batchSize)
        if let seconds { trainingConfig.seconds = seconds }  // the run's total budget, as --epochs is its total
      } catch { fail("\(error)") }
    }
    let dataDir = data ?? out + "/data"
    let csvPath = csv ?? dataDir + "/captions.csv"
    if data == nil && csv == nil {
      do {
        let shapesConfig = try applyingAssignments(shapes, to: ShapesDatasetConfig(), flag: "--shapes")
        if try ShapesDataset.needsGenerating(shapesConfig, in: dataDir, customised: !shapes.isEmpty) {
          print("generating the shapes dataset into \(dataDir) …")
          try ShapesDataset.generate(shapesConfig, into: dataDir)
        }
      } catch { fail("\(error)") }
    }
    let dataset: CaptionDataset
    do { dataset = try CaptionDataset(csvPath: csvPath, strict: strict) } catch { fail("\(error)") }
    for problem in dataset.problems { FileHandle.standardError.write(Data("warning: skipped \(problem)\n".utf8)) }
    print("\(dataset.images.count) images, \(dataset.captionCount) captions (\(dataset.problems.count) rows skipped)")
    do {
      if let fineTuneState {
        let tokenizer = try CLIPTokenizer.forCheckpoint(try OpenAICLIP.fineTunedModel(stateAt: fineTuneState))
        print("continuing the fine-tuning run of OpenAI's CLIP in \(fineTuneState)")
        try train(try ContrastiveTrainer<OpenAICLIP>(config: trainingConfig, dataset: dataset, tokenizer: tokenizer, outputDirectory: out,
                                                     resume: fineTuneState, allowOtherData: allowOtherData), dataset: dataset)
      } else if let clip {
        // The model to fine-tune must not be one of the files this run writes (OUT/best, OUT/last…): an
        // --overwrite would delete it before a single step, and every save would replace it.
        let input = resolvedPath(clip)
        if let name = OpenAICLIP.checkpointFiles.first(where: { input == resolvedPath(out + "/" + $0) || input.hasPrefix(resolvedPath(out + "/" + $0) + "/") }) {
          fail("--clip \(clip) is \(out)/\(name), which this run writes: fine-tune a copy of it, choose another --out, "
            + "or continue that run with --resume \(out)/last.training.safetensors")
        }
        trainingConfig.optimizer.freezeImage = lockedImage
        let embedder = try OpenAICLIPEmbedder(checkpoint: clip)  // the weights, their tokenizer, the checks
        print("fine-tuning OpenAI's CLIP from \(clip) (\(embedder.model.parameterCount) parameters"
          + (lockedImage ? ", the image tower locked: LiT)" : ")"))
        let trainer = try ContrastiveTrainer<OpenAICLIP>(config: trainingConfig, dataset: dataset, tokenizer: embedder.tokenizer,
                                                         outputDirectory: out, overwrite: overwrite, initialModel: embedder.model)
        try train(trainer, dataset: dataset)
      } else {
        try train(try Trainer(config: trainingConfig, dataset: dataset, tokenizer: .bundledUncased(), outputDirectory: out,
                              resume: resume, overwrite: overwrite, allowOtherData: allowOtherData), dataset: dataset)
      }
    } catch { fail("\(error)") }
  }

  /// The loop (`ContrastiveTrainer.run`, written out in chapter 08), then where everything went.
  func train<Model>(_ trainer: ContrastiveTrainer<Model>, dataset: CaptionDataset) throws {
    try trainer.run()
    print("checkpoints: \(trainer.lastCheckpoint ?? "none")" + (trainer.bestCheckpoint.map { ", \($0)" } ?? "")
      + " · log \(out)/log.jsonl · curve \(out)/loss-curve.svg")
    if !dataset.problems.isEmpty || !trainer.skippedImages.isEmpty {
      FileHandle.standardError.write(Data(("trained, but \(dataset.problems.count) caption rows and \(trainer.skippedImages.count) images "
        + "were skipped (see the warnings)\n").utf8))
      Foundation.exit(exitPartial)
    }
  }
}
