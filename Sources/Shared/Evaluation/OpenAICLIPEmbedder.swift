// OpenAI's CLIP as the tool uses it: a checkpoint (Hugging Face folder or open_clip file), its
// tokenizer (the folder's vocab.json + merges.txt, or the bundled merges) and CLIP's preprocessing,
// turning photos and sentences into features and unit-length embeddings.

import Foundation
import IO
import Image
import Layers
import Report
import Models
import TensorCore
import Text

public struct OpenAICLIPEmbedder {
  public let model: OpenAICLIP
  public let tokenizer: CLIPTokenizer
  public let transform: EvalTransform
  public let checkpoint: String
  public var dimension: Int { model.config.embedDim }
  /// ln of the inverse temperature (OpenAI's trained value is ln 100).
  public var logitScale: Float { model.logitScale.storage[0] }

  /// ln 100: OpenAI clamps logit_scale here from above; its negative is the smallest scale accepted.
  static let largestLogitScale: Float = 4.6052

  public init(model: OpenAICLIP, tokenizer: CLIPTokenizer, checkpoint: String = "") throws {
    guard tokenizer.vocabularySize <= model.config.vocabSize else {
      throw CheckpointError(path: checkpoint, reason: "the tokenizer has \(tokenizer.vocabularySize) tokens but the model's token table only \(model.config.vocabSize) rows")
    }
    let scale = model.logitScale.storage[0]
    guard scale.isFinite && scale < 80 && scale >= -Self.largestLogitScale else {
      throw CheckpointError(path: checkpoint, reason: "logit_scale \(scale) is out of range: it must be in [−4.61, 80) — exp of it "
        + "between 1/100 (below it every zero-shot probability comes out uniform) and a finite number (OpenAI's is ln 100 = 4.6)")
    }
    self.model = model
    self.tokenizer = tokenizer
    var config = EvalTransformConfig.openAICLIP
    config.resizeShorterSide = model.config.imageSize
    config.cropSize = model.config.imageSize
    transform = EvalTransform(config: config)
    self.checkpoint = checkpoint
  }

  /// Loads `path` (a Hugging Face CLIP folder or a safetensors file in either spelling); a folder with
  /// vocab.json and merges.txt brings its own tokenizer, anything else uses the bundled merges.
  /// `towers` may name one tower: `.text` embeds sentences only (all a search by text needs), `.image`
  /// photos only (all an index needs).
  public init(checkpoint path: String, towers: OpenAICLIPTowers = .both) throws {
    let model = try OpenAICLIP(checkpoint: path, towers: towers)
    let tokenizer = try CLIPTokenizer.forCheckpoint(path)
    try self.init(model: model, tokenizer: tokenizer, checkpoint: resolvedPath(path))
  }

  /// One image as the model reads it: (3, S, S).
  public func pixels(_ image: RGBImage) -> Tensor { transform(image) }

  /// Image features (N, E) as `get_image_features` / `encode_image` return them (not normalised).
  public func imageFeatures(_ images: [RGBImage]) -> Tensor {
    let s = model.config.imageSize
    return model.encodeImage(Tensor(shape: [images.count, 3, s, s], storage: images.flatMap { pixels($0).storage })).features
  }

  /// Text features (N, E) as `get_text_features` / `encode_text` return them (not normalised), 64 texts per forward.
  public func textFeatures(_ texts: [String]) -> Tensor {
    inBatches(texts, of: 64, rowShape: [dimension]) { batch in
      model.encodeText(tokenizer.batch(batch, contextLength: model.config.contextLength), endOfText: tokenizer.endId).features
    }
  }

  /// Unit-length text embeddings (N, E).
  public func embedTexts(_ texts: [String]) -> Tensor { l2Normalize(textFeatures(texts)).unit }

  /// Unit-length image embeddings (N, E).
  public func embedImages(_ images: [RGBImage]) -> Tensor { l2Normalize(imageFeatures(images)).unit }

  /// JPEG files, `batchSize` per forward, decoded and preprocessed on every core; unit length unless
  /// `normalized` is false.
  public func embedImageFiles(_ paths: [String], batchSize: Int = 16, normalized: Bool = true, progress: ProgressBar? = nil) -> EmbeddedFiles {
    Evaluation.embedImageFiles(paths, batchSize: batchSize, side: model.config.imageSize, width: dimension, progress: progress,
                               pixels: { pixels($0).storage }) { batch in
      let features = model.encodeImage(batch).features
      return normalized ? l2Normalize(features).unit : features
    }
  }
}
