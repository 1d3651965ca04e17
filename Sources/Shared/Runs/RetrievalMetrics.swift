// Retrieval metrics over a set with several captions per image, grouped by image id:
//   image → text: the rank of the best-ranked caption that belongs to the image
//   text → image: the rank of the caption's own image
// Recall@K = the fraction of queries whose rank is ≤ K; ranks are 1-based. Ties count against the
// query (a correct item tied with a wrong one ranks below it), so a constant model scores chance or worse.
//
// Repeated captions (given the texts): a caption's text, not its row, is what is retrieved. Image → text
// ranks the *distinct* texts, and any text equal to one of the image's own captions is a right answer;
// text → image counts as right every image that has the query's exact text among its captions. So in
// the shapes data, where "a red circle" describes dozens of images, an image whose caption ties with 30
// identical captions of other images still ranks 1 — and R@1 does not depend on how ties are counted,
// since identical texts are one answer. Queries stay one per image (i→t) and one per caption (t→i).

import TensorCore
import Models
import Image
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

/// `similarity` is (images × texts); `imageOfText[t]` is the image index caption t belongs to. With
/// `texts`, captions with the same text are one answer (see the top of this file); without, every
/// caption is its own.
public func retrievalRanks(similarity: Tensor, imageOfText: [Int], texts: [String]? = nil) -> RetrievalRanks {
  let ni = similarity.shape[0], nt = similarity.shape[1]
  precondition(imageOfText.count == nt, "need the image of each of the \(nt) texts")
  precondition(texts == nil || texts!.count == nt, "need one text per caption")
  // group[t]: the distinct text caption t is; groups are numbered from 0.
  var groupOf: [String: Int] = [:]
  let group = texts.map { list in list.map { text in groupOf[text] ?? { groupOf[text] = groupOf.count; return groupOf.count - 1 }() } }
    ?? Array(0..<nt)
  let ng = (group.max() ?? -1) + 1
  var groupsOf = [Set<Int>](repeating: [], count: ni)  // the texts each image has
  var imagesOf = [Set<Int>](repeating: [], count: ng)  // the images each text describes
  for (t, i) in imageOfText.enumerated() {
    groupsOf[i].insert(group[t])
    imagesOf[group[t]].insert(i)
  }
  var i2t: [Int] = [], t2i: [Int] = []
  var groupScore = [Float](repeating: -.infinity, count: ng)
  for i in 0..<ni where !groupsOf[i].isEmpty {
    for g in 0..<ng { groupScore[g] = -.infinity }
    for t in 0..<nt { groupScore[group[t]] = max(groupScore[group[t]], similarity.storage[i * nt + t]) }
    i2t.append(bestRank(groupScore, targets: groupsOf[i]))
  }
  var column = [Float](repeating: 0, count: ni)
  for t in 0..<nt {
    for i in 0..<ni { column[i] = similarity.storage[i * nt + t] }
    t2i.append(bestRank(column, targets: imagesOf[group[t]]))
  }
  return RetrievalRanks(imageToText: i2t, textToImage: t2i)
}

/// 1-based ranks of the right answer: per image (its best caption among all texts) and per text (its image).
public struct RetrievalRanks: Sendable, Equatable {
  public var imageToText: [Int]
  public var textToImage: [Int]
}
