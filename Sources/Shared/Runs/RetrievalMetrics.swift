// Retrieval metrics over a set with several captions per image, grouped by image id:
//   image → text: the rank of the best-ranked caption that belongs to the image
//   text → image: the rank of the caption's own image
// Recall@K = the fraction of queries whose rank is ≤ K; ranks are 1-based. Ties count against the
// query (a correct item tied with a wrong one ranks below it), so a constant model scores chance or worse.

import TensorCore
import Layers
import Models
import Text
import Image
import IO
import Foundation

public struct RetrievalMetrics: Sendable, Equatable, CustomStringConvertible {
  public var recall: [Int: Float]  // K → R@K
  public var meanRank: Float
  public var medianRank: Float
  public var queries: Int

  public var description: String {
    let r = recall.keys.sorted().map { String(format: "R@%d %.1f%%", $0, 100 * recall[$0]!) }.joined(separator: "  ")
    return r + String(format: "  mean rank %.1f  median %.1f  (%d queries)", meanRank, medianRank, queries)
  }
}

/// Summarises 1-based ranks.
public func retrievalMetrics(ranks: [Int], ks: [Int] = [1, 5, 10]) -> RetrievalMetrics {
  var recall: [Int: Float] = [:]
  for k in ks { recall[k] = Float(ranks.filter { $0 <= k }.count) / Float(max(ranks.count, 1)) }
  let sorted = ranks.sorted()
  let median: Float
  if sorted.isEmpty {
    median = 0
  } else if sorted.count % 2 == 1 {
    median = Float(sorted[sorted.count / 2])
  } else {
    median = Float(sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
  }
  return RetrievalMetrics(recall: recall, meanRank: Float(ranks.reduce(0, +)) / Float(max(ranks.count, 1)), medianRank: median,
                          queries: ranks.count)
}

/// Rank (1-based, ties pessimistic) of the best of `targets` in `scores`.
func bestRank(_ scores: [Float], targets: Set<Int>) -> Int {
  let best = targets.map { scores[$0] }.max() ?? -.infinity
  // Items scoring strictly higher, plus wrong items tying with the best correct one.
  var rank = 1
  for (j, s) in scores.enumerated() where !targets.contains(j) && s >= best { rank += 1 }
  return rank
}

/// `similarity` is (images × texts); `imageOfText[t]` is the image index caption t belongs to.
public func retrievalRanks(similarity: Tensor, imageOfText: [Int]) -> RetrievalRanks {
  let ni = similarity.shape[0], nt = similarity.shape[1]
  precondition(imageOfText.count == nt, "need the image of each of the \(nt) texts")
  var captionsOf = [Set<Int>](repeating: [], count: ni)
  for (t, i) in imageOfText.enumerated() { captionsOf[i].insert(t) }
  var i2t: [Int] = [], t2i: [Int] = []
  for i in 0..<ni where !captionsOf[i].isEmpty {
    i2t.append(bestRank(Array(similarity.storage[(i * nt)..<((i + 1) * nt)]), targets: captionsOf[i]))
  }
  for t in 0..<nt {
    t2i.append(bestRank((0..<ni).map { similarity.storage[$0 * nt + t] }, targets: [imageOfText[t]]))
  }
  return RetrievalRanks(imageToText: i2t, textToImage: t2i)
}

/// 1-based ranks of the right answer: per image (its best caption among all texts) and per text (its image).
public struct RetrievalRanks: Sendable, Equatable {
  public var imageToText: [Int]
  public var textToImage: [Int]
}
