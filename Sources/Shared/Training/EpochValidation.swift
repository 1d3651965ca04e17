// Validation after an epoch: the contrastive loss over the validation images (caption 0 of each, no
// dropout, batches of the training size) and retrieval over all their captions.

import TensorCore
import Layers
import Models
import Datasets
import Runs

extension ContrastiveTrainer {
  /// Validation after an epoch: the loss and retrieval over the validation images. Warns about
  /// unreadable images; throws when too few are left to mean anything.
  public func validate() throws -> ValidationResult {
    pauseTrainingClock()  // evaluation is not training time
    try requireStepsThisEpoch()
    let validationSet = Array(validationImages.prefix(config.maxValidationImages ?? validationImages.count))
    let validation = evaluate(images: validationSet)
    if !validation.skipped.isEmpty {
      observer.warn("\(validation.skipped.count) of \(validationSet.count) validation images could not be read "
        + "(first: \(validation.skipped[0])); the validation loss and recall are over the other \(validationSet.count - validation.skipped.count)")
    }
    if validationSet.count >= 2 && validationSet.count - validation.skipped.count < 2 {
      throw TrainingError(message: "validation failed: \(validation.skipped.count) of \(validationSet.count) validation images "
        + "could not be read (first: \(validation.skipped.first ?? "?")), too few are left for a validation loss. "
        + "The checkpoints were left untouched.")
    }
    return validation
  }

  public struct ValidationResult {
    public var loss: Float  // NaN when fewer than 2 images could be read
    public var imageToText: RetrievalMetrics
    public var textToImage: RetrievalMetrics
    public var skipped: [String] = []  // unreadable images, with the reason
  }

  /// Validation loss (caption 0 of each image, no dropout, batches of the training size) and
  /// retrieval over every caption, grouped by image.
  public func evaluate(images: [String]) -> ValidationResult {
    guard images.count >= 2 else {
      let empty = retrievalMetrics(ranks: [])
      return ValidationResult(loss: .nan, imageToText: empty, textToImage: empty)
    }
    let loader = BatchLoader(dataset: dataset, images: images, batchSize: config.batchSize, tokenizer: tokenizer, pipeline: config.imagePipeline,
                             side: model.imageSide, maxLength: model.maxTextLength, train: false, seed: config.seed, epoch: 0)
    var lossSum: Double = 0, lossCount = 0
    var imageEmbeddings: [Float] = [], kept: [String] = [], skipped: [String] = []
    for b in 0..<loader.batchCount {
      let batch = loader.batch(b)
      skipped += batch.skipped
      guard batch.images.count >= 1 else { continue }
      let features = model.features(pixels: batch.pixels, batch: batch.tokens)  // (B, E) each
      if batch.images.count >= 2 {
        lossSum += Double(model.contrastiveLoss(features).loss) * Double(batch.images.count)
        lossCount += batch.images.count
      }
      imageEmbeddings += l2Normalize(features.image).unit.storage
      kept += batch.images
    }
    let captions = dataset.captionList(of: kept)
    let similarity = Tensor(shape: [kept.count, model.embedDim], storage: imageEmbeddings)
      .matmul(model.embedTexts(captions.texts, tokenizer: tokenizer), transposeOther: true)
    let ranks = retrievalRanks(similarity: similarity, imageOfText: captions.imageOfText, texts: captions.texts)
    return ValidationResult(loss: lossCount == 0 ? .nan : Float(lossSum / Double(lossCount)), imageToText: retrievalMetrics(ranks: ranks.imageToText),
                      textToImage: retrievalMetrics(ranks: ranks.textToImage), skipped: skipped)
  }
}
