// clip embed-image, tokenize, embed-text: the towers one at a time, from the command line.

import ArgumentParser
import Foundation
import Kernels
import ProgramSupport
import Shared

struct EmbedImage: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "embed-image",
    abstract: "Run images through a ViT and print their feature vectors.",
    discussion: """
      Each image goes through timm's eval transform and the ViT. By default the feature is the pooled \
      class token (width 768 for ViT-B/16); --logits prints the classifier's outputs instead (the seed's \
      "image embedding"). Without --vit the weights are deterministic and untrained. With --model, a \
      checkpoint written by clip train or chapter 08, each image goes through that model's image tower \
      and projection head: a unit vector in the space its captions share (what clip index stores).

      Examples:
        clip embed-image --vit vit.safetensors --json photo1.jpg photo2.jpg
        clip embed-image --model output/ch08-training/best.safetensors --json photo1.jpg
      """
  )

  @Option(name: .long, help: "A checkpoint written by clip train / chapter 08: joint-space embeddings.")
  var model: String?

  @Option(name: .long, help: "timm ViT checkpoint (safetensors with timm key names).")
  var vit: String?

  @Option(name: .long, help: "OpenAI CLIP instead: a Hugging Face CLIP folder or an open_clip safetensors file (chapter 11).")
  var clip: String?

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
    if clip != nil && (vit != nil || logits) { throw ValidationError("--clip is a whole model: give it without --vit and --logits") }
    if model != nil && (vit != nil || clip != nil || logits) {
      throw ValidationError("--model is a whole trained model: give it without --vit, --clip and --logits")
    }
  }

  func run() throws {
    // A whole model's embeddings of the files that decode, in the order given; the rest named and counted.
    func printFiles(_ result: EmbeddedFiles) {
      for skipped in result.skipped { warnSkipped(skipped.path, skipped.reason) }
      for reduction in result.reductions { warn("\(reduction)") }
      for (row, index) in result.embedded.enumerated() {
        printEmbedding(key: "image", name: images[index], result.embeddings.row(row).storage, json: json)
      }
      finish(skipped: result.skipped.count, total: images.count)
    }
    if let model {
      // The trained model's image embeddings: its tower, its head, normalised (Embedder, as clip index does).
      return printFiles(loadEmbedder(model).embedImageFiles(images))
    }
    if let clip {
      // CLIP's image features (get_image_features / encode_image: projected, not normalised).
      return printFiles(loadOpenAICLIP(clip, towers: .image).embedImageFiles(images, normalized: false))
    }
    let cfg = ViTConfig.named(config)!
    let model: ViT
    if let vit {
      do { model = try ViT(config: cfg, checkpointPath: vit) } catch { failExplaining(error, vit, .timmViT) }
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
      let loaded = loadImages(paths, minShortSide: 2 * side) { image in
        transform.cropped(image).resized(width: side, height: side).normalizedTensor(mean: transform.config.mean, std: transform.config.std)
      }
      for reduction in loaded.reductions { warn("\(reduction)") }
      let good = loaded.results.compactMap { try? $0.get() }
      let out = good.isEmpty ? nil
        : model.forward(Tensor(shape: [good.count, 3, side, side], storage: good.flatMap(\.storage)), keepCaches: false)
      var row = 0
      for (path, result) in zip(paths, loaded.results) {
        if case .failure(let error) = result {
          warnSkipped(path, "\(error)")
          failures += 1
          continue
        }
        let features = logits ? out!.logits : out!.pooled
        let width = features.shape[1]
        let vector = Array(features.storage[row * width..<(row + 1) * width])
        row += 1
        printEmbedding(key: "image", name: path, vector, json: json)
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
  var vocab: String?

  @Option(name: .long, help: "CLIP's BPE instead: a Hugging Face CLIP folder (its vocab.json + merges.txt), or any other path for the bundled merges.")
  var clip: String?

  @Option(name: .long, parsing: .unconditional, help: "Maximum length including [CLS] and [SEP] (CLIP: <|startoftext|> and <|endoftext|>; default 77).")
  var maxLength: Int?

  @Flag(name: .long, help: "One JSON object per line: {\"text\": …, \"input_ids\": […]}.")
  var json = false

  @Argument(help: "Texts to tokenize.")
  var texts: [String]

  func validate() throws {
    if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2 (room for the start and end tokens), got \(maxLength)") }
    guard (vocab == nil) != (clip == nil) else { throw ValidationError("give --vocab (BERT WordPiece) or --clip (CLIP BPE), not both") }
  }

  func run() throws {
    // One tokenizer or the other, as (ids, their pieces) per text; printed the same way.
    let tokenize: (String) -> (ids: [Int], pieces: [String])
    if let clip {
      let tokenizer: CLIPTokenizer
      do {
        tokenizer = try CLIPTokenizer.forCheckpoint(clip)
      } catch { fail("\(error)") }
      tokenize = { text in
        let ids = tokenizer.encode(text, contextLength: maxLength ?? CLIPTokenizer.contextLength)
        return (ids, tokenizer.pieces(ids))
      }
    } else {
      let tokenizer: BertTokenizer
      do { tokenizer = try BertTokenizer(vocabularyPath: vocab!) } catch { fail("\(error)") }
      tokenize = { text in
        let ids = tokenizer.encode(text, maxLength: maxLength ?? 128)
        return (ids, tokenizer.tokens(ids))
      }
    }
    for text in texts {
      let (ids, pieces) = tokenize(text)
      if json {
        print("{\"text\":\(jsonString(text)),\"input_ids\":[\(ids.map(String.init).joined(separator: ","))]}")
      } else {
        print("\(ids.map(String.init).joined(separator: " "))\t\(pieces.joined(separator: " "))")
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
      BERT folder). bash Scripts/fetch-minilm.sh puts all-MiniLM-L6-v2 in ~/.cache/clip-swift/all-MiniLM-L6-v2. \
      --model also takes a checkpoint written by clip train or chapter 08: then each text goes through that \
      model's text tower and projection head, a unit vector in the space its images share.

      Examples:
        clip embed-text --model ~/.cache/clip-swift/all-MiniLM-L6-v2 --json "a dog" "a cat"
        clip embed-text --model output/ch08-training/best.safetensors "a red circle"
      """
  )

  @Option(name: .long, help: "Model folder with config.json, model.safetensors, vocab.txt; or a clip train / chapter 08 checkpoint.")
  var model: String?

  @Option(name: .long, help: "OpenAI CLIP instead: a Hugging Face CLIP folder or an open_clip safetensors file (chapter 11).")
  var clip: String?

  @Flag(name: .long, help: "One JSON object per line: {\"text\": …, \"embedding\": […]}.")
  var json = false

  @Argument(help: "Texts to embed.")
  var texts: [String]

  func validate() throws {
    guard (model == nil) != (clip == nil) else { throw ValidationError("give --model (a sentence encoder) or --clip (OpenAI CLIP), one of them") }
  }

  func run() throws {
    let embeddings: Tensor
    if let clip {
      // CLIP's text features (get_text_features / encode_text: projected, not normalised).
      embeddings = loadOpenAICLIP(clip, towers: .text).textFeatures(texts)
    } else if case .trainingCheckpoint? = ModelFileKind.identify(model!) {
      embeddings = loadEmbedder(model!).embedTexts(texts)  // the trained model's joint space, unit vectors
    } else {
      let encoder: SentenceEncoder
      do { encoder = try SentenceEncoder(directory: model!) } catch { failExplaining(error, model!, .huggingFaceBERTFolder) }
      embeddings = encoder.embed(texts)
    }
    for (i, text) in texts.enumerated() {
      printEmbedding(key: "text", name: text, embeddings.row(i).storage, json: json, shown: text.debugDescription)
    }
  }
}

/// One embedding line: `{"image"|"text": name, "embedding": […]}` with --json, else `shown` (the name by
/// default) and the first values.
func printEmbedding(key: String, name: String, _ vector: [Float], json: Bool, shown: String? = nil) {
  if json {
    print("{\"\(key)\":\(jsonString(name)),\"embedding\":[\(vector.map(jsonNumber).joined(separator: ","))]}")
  } else {
    print("\(shown ?? name)  (\(vector.count))  " + vector.prefix(8).map { formatNumber($0) }.joined(separator: " ") + " …")
  }
}
