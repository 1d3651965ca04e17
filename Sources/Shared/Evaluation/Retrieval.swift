// Retrieval over a caption set with a trained model (the metrics themselves: Runs/RetrievalMetrics.swift).

import TensorCore
import Models
import Datasets
import Runs
import Image
import Report
import Foundation

/// Retrieval over `images` of a caption set, every caption of each image, embeddings computed in
/// batches (with a progress bar when given). Unreadable images are left out and returned.
/// `captionProgress` makes a bar for the captions once their number is known (hundreds of thousands of
/// captions take minutes to embed).
public func evaluateRetrieval(embedder: some JointEmbedder, dataset: CaptionDataset, images: [String], progress: ProgressBar? = nil,
                              captionProgress: ((Int) -> ProgressBar?)? = nil) -> RetrievalEvaluation
{
  let embedded = embedder.embedImageFiles(images.map { dataset.imageDirectory + "/" + $0 }, progress: progress)
  let kept = embedded.embedded.map { images[$0] }
  let captions = dataset.captionList(of: kept)
  let bar = captionProgress?(captions.texts.count)
  let started = now()
  var done = 0
  let texts = inBatches(captions.texts, of: 4096, rowShape: [embedder.dimension]) { batch in
    let rows = embedder.embedTexts(batch)
    done += batch.count
    bar?.update(done, info: String(format: "%.0f captions/s", Double(done) / max(now() - started, 1e-9)))
    return rows
  }
  let similarity = embedded.embeddings.matmul(texts, transposeOther: true)
  let ranks = retrievalRanks(similarity: similarity, imageOfText: captions.imageOfText, texts: captions.texts)
  return RetrievalEvaluation(imageToText: retrievalMetrics(ranks: ranks.imageToText), textToImage: retrievalMetrics(ranks: ranks.textToImage),
                             similarity: similarity, imageEmbeddings: embedded.embeddings, kept: kept, captions: captions,
                             skipped: embedded.skipped)
}

/// A model that puts photos and captions in one space as unit vectors: the seed's CLIP trained here
/// (`Embedder`) and OpenAI's CLIP (`OpenAICLIPEmbedder`). Retrieval takes either.
/// A model the tools can use, whichever family: the seed's CLIP from a chapter 08 / `clip train`
/// checkpoint (`Embedder`) or OpenAI's CLIP (`OpenAICLIPEmbedder`). Photos and sentences in, unit
/// vectors of one joint space out; zero-shot, retrieval, index and search take any of them.
public protocol JointEmbedder {
  /// Width of the joint space.
  var dimension: Int { get }
  /// The checkpoint it was loaded from (absolute, links resolved: an index records it).
  var checkpoint: String { get }
  /// What an index records as the model's kind ("" for a trained checkpoint, `ImageIndex.openAICLIPKind`).
  var indexKind: String { get }
  /// ln of the inverse temperature the model was trained with.
  var logitScale: Float { get }
  /// The side of the square image the model reads (a decoder may shrink larger JPEGs to twice this).
  var imageSide: Int { get }
  /// The prompt templates its zero-shot classifier uses by default.
  var defaultTemplates: [String] { get }
  /// The validation split it was trained with, or nil (a model not trained on this data sees every image).
  var validationSplit: DataSplit? { get }
  /// (N, P) unit embeddings of decoded images.
  func embedImages(_ images: [RGBImage]) -> Tensor
  /// (N, P) unit embeddings of the files that decode; the rest are listed as skipped.
  func embedImageFiles(_ paths: [String], progress: ProgressBar?) -> EmbeddedFiles
  /// (N, P) unit embeddings of the texts.
  func embedTexts(_ texts: [String]) -> Tensor
}

/// Which images a run held out for validation: `splitByImage(images, validationFraction:, seed:)`.
public struct DataSplit: Sendable, Equatable {
  public var validationFraction: Double
  public var seed: UInt64
}

extension Embedder: JointEmbedder {
  public func embedImageFiles(_ paths: [String], progress: ProgressBar?) -> EmbeddedFiles { embedImageFiles(paths, batchSize: 32, progress: progress) }
  public func embedTexts(_ texts: [String]) -> Tensor { embedTexts(texts, batchSize: 256) }
  public var indexKind: String { "" }
  public var imageSide: Int { config.model.vit.imageSize }
  public var defaultTemplates: [String] { ZeroShotClassifier.defaultTemplates }
  public var validationSplit: DataSplit? { DataSplit(validationFraction: config.validationFraction, seed: config.seed) }
}

extension OpenAICLIPEmbedder: JointEmbedder {
  public func embedImageFiles(_ paths: [String], progress: ProgressBar?) -> EmbeddedFiles {
    embedImageFiles(paths, batchSize: 16, normalized: true, progress: progress)
  }
  public var indexKind: String { ImageIndex.openAICLIPKind }
  public var imageSide: Int { model.config.imageSize }
  public var defaultTemplates: [String] { ZeroShotClassifier.openAITemplates }
  public var validationSplit: DataSplit? { nil }
}

/// What `evaluateRetrieval` measured, and over what.
public struct RetrievalEvaluation {
  public var imageToText: RetrievalMetrics
  public var textToImage: RetrievalMetrics
  /// (images, captions) cosine similarities.
  public var similarity: Tensor
  /// (images, P) unit embeddings of the `kept` images.
  public var imageEmbeddings: Tensor
  /// The images that could be read, in order.
  public var kept: [String]
  /// Every caption of the kept images, with the image each belongs to.
  public var captions: CaptionList
  public var skipped: [SkippedFile]
}
