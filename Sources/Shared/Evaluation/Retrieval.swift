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
  -> (imageToText: RetrievalMetrics, textToImage: RetrievalMetrics, similarity: Tensor, imageEmbeddings: Tensor, kept: [String],
      texts: [String], imageOfText: [Int], skipped: [(path: String, reason: String)])
{
  let paths = images.map { dataset.imageDirectory + "/" + $0 }
  let embedded = embedder.embedImageFiles(paths, progress: progress)
  let kept = embedded.embedded.map { images[$0] }
  var texts: [String] = [], imageOfText: [Int] = []
  for (i, name) in kept.enumerated() {
    for caption in dataset.captions[name] ?? [] {
      texts.append(caption)
      imageOfText.append(i)
    }
  }
  let textEmbeddings = embedder.embedTexts(texts)
  let similarity = embedded.embeddings.matmul(textEmbeddings, transposeOther: true)
  let ranks = retrievalRanks(similarity: similarity, imageOfText: imageOfText)
  return (retrievalMetrics(ranks: ranks.imageToText), retrievalMetrics(ranks: ranks.textToImage), similarity, embedded.embeddings, kept,
          texts, imageOfText, embedded.skipped)
}
