// Retrieval over a caption set with a trained model (the metrics themselves: Runs/RetrievalMetrics.swift).

import TensorCore
import Layers
import Models
import Runs
import Text
import Image
import IO
import Report
import Foundation

/// Retrieval over `images` of a caption set, every caption of each image, embeddings computed in
/// batches (with a progress bar when given). Unreadable images are left out and returned.
public func evaluateRetrieval(embedder: Embedder, dataset: CaptionDataset, images: [String], progress: ProgressBar? = nil)
  -> RetrievalEvaluation
{
  let embedded = embedder.embedImageFiles(images.map { dataset.imageDirectory + "/" + $0 }, progress: progress)
  let kept = embedded.embedded.map { images[$0] }
  let captions = dataset.captionList(of: kept)
  let similarity = embedded.embeddings.matmul(embedder.embedTexts(captions.texts), transposeOther: true)
  let ranks = retrievalRanks(similarity: similarity, imageOfText: captions.imageOfText)
  return RetrievalEvaluation(imageToText: retrievalMetrics(ranks: ranks.imageToText), textToImage: retrievalMetrics(ranks: ranks.textToImage),
                             similarity: similarity, imageEmbeddings: embedded.embeddings, kept: kept, captions: captions,
                             skipped: embedded.skipped)
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
