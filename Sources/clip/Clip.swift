// `clip` — the practical command-line tool: the same Shared library the chapters teach, as commands.

import ArgumentParser
import Foundation
import Shared

@main
struct Clip: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "clip",
    abstract: "CLIP from scratch in Swift: preprocess images, embed, train, search.",
    discussion: """
      Exit status, for every command:
        0   done
        1   an error: a file that cannot be read or written, a model that does not fit — nothing was done
        3   done, but some inputs were skipped (each is named on standard error with the reason)
        64  a mistake in the command line (unknown flag, missing or malformed value)
      Nothing a user made is replaced silently: an existing --out that is not this command's own kind of \
      file, or an earlier training run, is an error.
      """,
    subcommands: [Preprocess.self, EmbedImage.self, Tokenize.self, EmbedText.self, Train.self, Index.self, Search.self, ZeroShot.self,
                  RetrieveEval.self]
  )
}

/// Prints `error: …` to standard error and exits 1 (without argument-parser's usage text,
/// which is for mistakes in the command line, not in the input files).
func exitWithError(_ message: String) -> Never {
  FileHandle.standardError.write(Data("error: \(message)\n".utf8))
  Foundation.exit(1)
}

/// Exit status 3: the command finished, but `skipped` of its `total` inputs were skipped (and named).
let exitPartial: Int32 = 3

/// Ends a per-file command: 0 when every input was used, 1 when none was, 3 when some were skipped.
func finish(skipped: Int, total: Int) {
  if skipped == 0 { return }
  FileHandle.standardError.write(Data("\(skipped) of \(total) inputs skipped\n".utf8))
  Foundation.exit(skipped >= total ? 1 : exitPartial)
}

struct Preprocess: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run timm's eval transform on a JPEG and save the pixel values.",
    discussion: """
      Resize(248, bicubic) → CenterCrop(224) → to [0, 1] → Normalize(mean 0.5, std 0.5), exactly as \
      timm resolves it for vit_base_patch16_224.augreg2_in21k_ft_in1k. Writes tensor `pixel_values`, \
      shape (3, 224, 224), float32, to a safetensors file.

      Example:
        clip preprocess photo.jpg --out photo.safetensors
      """
  )

  @Argument(help: "The JPEG image to preprocess.")
  var image: String

  @Option(name: .long, help: "Output safetensors file.")
  var out: String

  func run() throws {
    // Only an earlier `clip preprocess` output is ever replaced: anything else at --out is the user's.
    if FileManager.default.fileExists(atPath: out) {
      let earlier = try? SafetensorsFile(path: out)
      guard earlier?.metadata["transform"] != nil && earlier?.names == ["pixel_values"] else {
        exitWithError("\(out) already exists and is not an earlier `clip preprocess` output, so it was left as it is; choose another --out")
      }
    }
    let decoded: RGBImage
    do {
      decoded = try JPEG.decode(path: image)
    } catch {
      exitWithError("\(error)")
    }
    let pixels = EvalTransform()(decoded)
    var writer = SafetensorsWriter(metadata: [
      "source": (image as NSString).lastPathComponent,
      "transform": "Resize(248, bicubic) CenterCrop(224) Normalize(0.5, 0.5)",
      "original_size": "\(decoded.width)x\(decoded.height)",
    ])
    writer.add("pixel_values", pixels)
    do {
      try writer.write(to: out)
    } catch {
      exitWithError("\(error)")
    }
    print("wrote \(out): pixel_values (3, 224, 224) float32 from \(decoded.width)×\(decoded.height) \(image)")
  }
}

struct EmbedImage: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "embed-image",
    abstract: "Run images through a ViT and print their feature vectors.",
    discussion: """
      Each image goes through timm's eval transform and the ViT. By default the feature is the pooled \
      class token (width 768 for ViT-B/16); --logits prints the classifier's outputs instead (the seed's \
      "image embedding"). Without --vit the weights are deterministic and untrained.

      Example:
        clip embed-image --vit vit.safetensors --json photo1.jpg photo2.jpg
      """
  )

  @Option(name: .long, help: "timm ViT checkpoint (safetensors with timm key names).")
  var vit: String?

  @Option(name: .long, help: "Model configuration: base (vit_base_patch16_224) or small.")
  var config: String = "base"

  @Flag(name: .long, help: "Print the classifier logits instead of the pooled feature.")
  var logits = false

  @Flag(name: .long, help: "One JSON object per line: {\"image\": …, \"embedding\": […]}.")
  var json = false

  @Argument(help: "JPEG images.")
  var images: [String]

  func validate() throws {
    guard ViTConfig.named(config) != nil else { throw ValidationError("unknown --config '\(config)' (use base or small)") }
    guard !images.isEmpty else { throw ValidationError("give at least one image") }
  }

  func run() throws {
    let cfg = ViTConfig.named(config)!
    let model: ViT
    if let vit {
      do { model = try ViT(config: cfg, checkpointPath: vit) } catch { exitWithError("\(error)") }
    } else {
      model = ViT(config: cfg)
      FileHandle.standardError.write(Data("note: no --vit given; using deterministic untrained weights\n".utf8))
    }
    let transform = EvalTransform()
    var failures = 0
    for path in images {
      let image: RGBImage
      do { image = try JPEG.decode(path: path) } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        failures += 1
        continue
      }
      let cropped = transform.cropped(image).resized(width: cfg.imageSize, height: cfg.imageSize)
      let pixels = cropped.normalizedTensor(mean: transform.config.mean, std: transform.config.std)
        .reshaped([1, 3, cfg.imageSize, cfg.imageSize])
      let out = model.forward(pixels)
      let vector = logits ? out.logits.storage : out.pooled.storage
      if json {
        print("{\"image\":\(jsonString(path)),\"embedding\":[\(vector.map(jsonNumber).joined(separator: ","))]}")
      } else {
        print("\(path)  (\(vector.count))  " + vector.prefix(8).map { formatNumber($0) }.joined(separator: " ") + " …")
      }
    }
    finish(skipped: failures, total: images.count)
  }
}

struct Tokenize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Turn texts into BERT token ids (WordPiece, identical to Hugging Face's BertTokenizerFast).",
    discussion: """
      Each text becomes [CLS] … [SEP], truncated to --max-length, not padded.

      Example:
        clip tokenize --vocab Assets/bert-base-uncased-vocab.txt --json "A dog runs." "Two cats"
      """
  )

  @Option(name: .long, help: "vocab.txt (one token per line).")
  var vocab: String

  @Option(name: .long, parsing: .unconditional, help: "Maximum length including [CLS] and [SEP].")
  var maxLength: Int = 128

  @Flag(name: .long, help: "One JSON object per line: {\"text\": …, \"input_ids\": […]}.")
  var json = false

  @Argument(help: "Texts to tokenize.")
  var texts: [String]

  func validate() throws {
    guard maxLength >= 2 else { throw ValidationError("--max-length must be at least 2 (room for [CLS] and [SEP]), got \(maxLength)") }
  }

  func run() throws {
    let tokenizer: BertTokenizer
    do { tokenizer = try BertTokenizer(vocabularyPath: vocab) } catch { exitWithError("\(error)") }
    for text in texts {
      let ids = tokenizer.encode(text, maxLength: maxLength)
      if json {
        print("{\"text\":\(jsonString(text)),\"input_ids\":[\(ids.map(String.init).joined(separator: ","))]}")
      } else {
        print("\(ids.map(String.init).joined(separator: " "))\t\(tokenizer.tokens(ids).joined(separator: " "))")
      }
    }
  }
}

struct EmbedText: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "embed-text",
    abstract: "Embed texts with a BERT sentence encoder (mean pooling, L2-normalised).",
    discussion: """
      DIR holds config.json, model.safetensors and vocab.txt (a Hugging Face / sentence-transformers \
      BERT folder). bash Scripts/fetch-minilm.sh puts all-MiniLM-L6-v2 in ~/.cache/clip-swift/all-MiniLM-L6-v2.

      Example:
        clip embed-text --model ~/.cache/clip-swift/all-MiniLM-L6-v2 --json "a dog" "a cat"
      """
  )

  @Option(name: .long, help: "Model folder with config.json, model.safetensors, vocab.txt.")
  var model: String

  @Flag(name: .long, help: "One JSON object per line: {\"text\": …, \"embedding\": […]}.")
  var json = false

  @Argument(help: "Texts to embed.")
  var texts: [String]

  func run() throws {
    let encoder: SentenceEncoder
    do { encoder = try SentenceEncoder(directory: model) } catch { exitWithError("\(error)") }
    let embeddings = encoder.embed(texts)
    for (i, text) in texts.enumerated() {
      let row = embeddings.row(i).storage
      if json {
        print("{\"text\":\(jsonString(text)),\"embedding\":[\(row.map(jsonNumber).joined(separator: ","))]}")
      } else {
        print("\(text.debugDescription)  (\(row.count))  " + row.prefix(8).map { formatNumber($0) }.joined(separator: " ") + " …")
      }
    }
  }
}

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train CLIP on a Flickr-layout folder (or the generated shapes dataset).",
    discussion: """
      DIR holds captions.csv (image,caption_number,caption,id — or Flickr8k's image,caption, or Flickr30k's \
      '|'-separated results.csv) and the images (in DIR, DIR/images or DIR/Images). Without --data the \
      shapes dataset is generated into OUT/data. Checkpoints (last.safetensors, best.safetensors), \
      log.jsonl and loss-curve.png go to OUT.

      Examples:
        clip train                                   # tiny model, generated shapes, a few minutes
        clip train --data ~/flickr8k --config seed --epochs 1
        clip train --resume output/train/last.safetensors
      """
  )

  @Option(name: .long, help: "tiny (default) or seed (ViT-B/16 + BERT-base, the seed's hyper-parameters).")
  var config: String?

  @Option(name: .long, help: "Folder with captions.csv and the images.")
  var data: String?

  @Option(name: .long, help: "The captions file, if not DIR/captions.csv.")
  var csv: String?

  @Option(name: .long, help: "Output folder.")
  var out: String = "output/train"

  @Option(name: .long, parsing: .unconditional, help: "Epochs (on --resume: the total, more than the epochs already done).")
  var epochs: Int?

  @Option(name: .long, parsing: .unconditional, help: "Batch size (at least 2; cannot change on --resume).")
  var batchSize: Int?

  @Option(name: .long, help: "Continue from a checkpoint written by this command (its configuration is kept).")
  var resume: String?

  @Flag(name: .long, help: "Replace a run already in --out (best.safetensors, last.safetensors, log.jsonl).")
  var overwrite = false

  @Flag(name: .long, help: "Fail on the first malformed CSV row or missing image instead of skipping it.")
  var strict = false

  func validate() throws {
    if let config, TrainingConfig.named(config) == nil { throw ValidationError("unknown --config '\(config)' (use tiny or seed)") }
    if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    if let batchSize, batchSize < 2 || batchSize > 1 << 20 { throw ValidationError("--batch-size must be between 2 and \(1 << 20), got \(batchSize)") }
    if let epochs, epochs > 1 << 30 { throw ValidationError("--epochs must be at most \(1 << 30), got \(epochs)") }
    if resume != nil && overwrite { throw ValidationError("--resume continues a run; --overwrite starts a new one: pick one") }
  }

  func run() throws {
    var trainingConfig = TrainingConfig.named(config ?? "tiny")!
    if let epochs { trainingConfig.epochs = epochs }
    if let batchSize { trainingConfig.batchSize = batchSize }
    if let resume {
      do {
        trainingConfig = try resumedConfiguration(checkpoint: resume, epochs: epochs, name: config, batchSize: batchSize)
      } catch { exitWithError("\(error)") }
    }
    let dataDir = data ?? out + "/data"
    let csvPath = csv ?? dataDir + "/captions.csv"
    if data == nil && csv == nil && !FileManager.default.fileExists(atPath: csvPath) {
      print("generating the shapes dataset into \(dataDir) …")
      do { try ShapesDataset.generate(ShapesDatasetConfig(), into: dataDir) } catch { exitWithError("\(error)") }
    }
    let dataset: CaptionDataset
    do { dataset = try CaptionDataset(csvPath: csvPath, strict: strict) } catch { exitWithError("\(error)") }
    for problem in dataset.problems { FileHandle.standardError.write(Data("warning: skipped \(problem)\n".utf8)) }
    print("\(dataset.images.count) images, \(dataset.captionCount) captions (\(dataset.problems.count) rows skipped)")
    do {
      let trainer = try Trainer(config: trainingConfig, dataset: dataset, tokenizer: .bundledUncased(), outputDirectory: out,
                                resume: resume, overwrite: overwrite)
      try trainer.run()
      print("checkpoints: \(out)/last.safetensors, \(out)/best.safetensors · log \(out)/log.jsonl · curve \(out)/loss-curve.png")
      if !dataset.problems.isEmpty || !trainer.skippedImages.isEmpty {
        FileHandle.standardError.write(Data(("trained, but \(dataset.problems.count) caption rows and \(trainer.skippedImages.count) images "
          + "were skipped (see the warnings)\n").utf8))
        Foundation.exit(exitPartial)
      }
    } catch { exitWithError("\(error)") }
  }
}
