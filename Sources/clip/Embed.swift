// clip embed-image, tokenize, embed-text: the towers one at a time, from the command line.

import ArgumentParser
import Foundation
import Kernels
import Shared

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
      do { model = try ViT(config: cfg, checkpointPath: vit) } catch { fail("\(error)") }
    } else {
      model = ViT(config: cfg)
      FileHandle.standardError.write(Data("note: no --vit given; using deterministic untrained weights\n".utf8))
    }
    let transform = EvalTransform(), side = cfg.imageSize
    var failures = 0
    // Eight images per forward: decoded and preprocessed on every core (loadImages), then one batch
    // through the ViT; printed in the order given, a file that fails named where it would have been.
    let batchSize = 8
    for start in stride(from: 0, to: images.count, by: batchSize) {
      let paths = Array(images[start..<min(images.count, start + batchSize)])
      let loaded = loadImages(paths) { image in
        transform.cropped(image).resized(width: side, height: side).normalizedTensor(mean: transform.config.mean, std: transform.config.std)
      }
      let good = loaded.compactMap { try? $0.get() }
      let out = good.isEmpty ? nil
        : model.forward(Tensor(shape: [good.count, 3, side, side], storage: good.flatMap(\.storage)), keepCaches: false)
      var row = 0
      for (path, result) in zip(paths, loaded) {
        if case .failure(let error) = result {
          FileHandle.standardError.write(Data("error: \(error)\n".utf8))
          failures += 1
          continue
        }
        let features = logits ? out!.logits : out!.pooled
        let width = features.shape[1]
        let vector = Array(features.storage[row * width..<(row + 1) * width])
        row += 1
        if json {
          print("{\"image\":\(jsonString(path)),\"embedding\":[\(vector.map(jsonNumber).joined(separator: ","))]}")
        } else {
          print("\(path)  (\(vector.count))  " + vector.prefix(8).map { formatNumber($0) }.joined(separator: " ") + " …")
        }
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
    do { tokenizer = try BertTokenizer(vocabularyPath: vocab) } catch { fail("\(error)") }
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
    do { encoder = try SentenceEncoder(directory: model) } catch { fail("\(error)") }
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
