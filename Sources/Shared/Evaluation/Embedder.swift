// A trained CLIP for inference: loads a chapter 08 checkpoint and embeds texts and image files in
// batches into the shared space (unit vectors), the way zero-shot, retrieval and search need them.
// Images are preprocessed with the checkpoint's own pipeline (evaluation mode: no augmentation).

import TensorCore
import Models
import Datasets
import Runs
import Text
import Image
import IO
import Report
import Foundation

public struct Embedder {
  public let model: CLIP
  public let config: TrainingConfig
  public let tokenizer: BertTokenizer
  public let checkpoint: String
  /// Width of the shared space (P).
  public var dimension: Int { config.model.projectionDim }
  public var logitScale: Float { model.logitScale.storage[0] }

  public init(checkpoint: String) throws {
    let loaded = try TrainingCheckpoint.loadModel(checkpoint)
    (model, config) = (loaded.model, loaded.config)
    tokenizer = try .bundledUncased()  // MiniLM's vocab.txt is the same file
    self.checkpoint = resolvedPath(checkpoint)  // absolute, links resolved: indexes record it
    try tokenizer.checkFits(vocabSize: config.model.text.vocabSize, vocabularySource: "Assets/bert-base-uncased-vocab.txt",
                            modelSource: checkpoint)
    // Finite weights can still overflow: one probe image and caption must embed to finite unit vectors.
    let probeImage = embedImages([RGBImage(width: config.model.vit.imageSize, height: config.model.vit.imageSize, fill: (128, 128, 128))])
    let probeText = embedTexts(["a picture"])
    guard probeImage.storage.allSatisfy(\.isFinite), probeText.storage.allSatisfy(\.isFinite) else {
      throw CheckpointError(path: checkpoint, reason: "the model's embeddings overflow to NaN/∞ on a plain grey image and a short caption "
        + "(weights too large?); it cannot rank or classify anything")
    }
    guard logitScale.isFinite && logitScale < 80 && logitScale > -69 else {
      throw CheckpointError(path: checkpoint, reason: "logit_scale \(logitScale) is out of range: exp of it must be a finite number above 1e-30 "
        + "(training keeps it ≤ ln 100; at 0 every zero-shot probability would be uniform)")
    }
  }

  public init(model: CLIP, config: TrainingConfig, tokenizer: BertTokenizer) {
    self.model = model
    self.config = config
    self.tokenizer = tokenizer
    checkpoint = ""
  }

  /// (N, P) unit embeddings, computed `batchSize` texts at a time.
  public func embedTexts(_ texts: [String], batchSize: Int = 256) -> Tensor {
    model.embedTexts(texts, tokenizer: tokenizer, batchSize: batchSize)
  }

  /// (3, S, S) pixel values of one decoded image, as the model was trained to see them at evaluation.
  public func pixels(_ image: RGBImage) -> Tensor {
    config.imagePipeline.pixels(image, side: config.model.vit.imageSize, train: false, rng: &SeededRNG.unused).pixels
  }

  /// (N, P) unit embeddings of decoded images.
  public func embedImages(_ images: [RGBImage]) -> Tensor {
    let side = config.model.vit.imageSize
    var storage: [Float] = []
    for image in images { storage += pixels(image).storage }
    return model.embedImages(Tensor(shape: [images.count, 3, side, side], storage: storage))
  }

  /// Embeds JPEG files `batchSize` at a time; each batch is decoded and preprocessed on every core
  /// (`loadImages`), then run through the image tower as one batch.
  public func embedImageFiles(_ paths: [String], batchSize: Int = 32, progress: ProgressBar? = nil) -> EmbeddedFiles {
    Evaluation.embedImageFiles(paths, batchSize: batchSize, side: config.model.vit.imageSize, width: dimension, progress: progress,
                               pixels: { pixels($0).storage }, embed: { model.embedImages($0) })
  }
}

public struct SkippedFile: Sendable {
  public var path: String
  public var reason: String
}

/// Image files embedded: row r of `embeddings` (N, P) belongs to input `embedded[r]`; the rest were `skipped`.
public struct EmbeddedFiles {
  public var embeddings: Tensor
  public var embedded: [Int]
  public var skipped: [SkippedFile]
  /// Photos too large to decode in full, embedded from a reduced decode.
  public var reductions: [JPEGReduction] = []
}
