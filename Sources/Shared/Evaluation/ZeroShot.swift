// Zero-shot classification: no classifier is trained. Each class name is written into caption
// templates ("a photo of a {}."), embedded by the text tower, and an image goes to the class whose
// text embedding it is most similar to.
//
//   class embedding c_k = normalize( mean_t normalize(text(template_t(class_k))) )    prompt ensembling
//   p(k | image) = softmax_k( exp(logit_scale) · ⟨normalize(image), c_k⟩ )

import TensorCore
import Layers
import Models
import Datasets
import Text
import Image
import IO
import Report
import Foundation

public struct ZeroShotClassifier: Sendable {
  public var classes: [String]
  public var templates: [String]
  /// (K, P) unit class embeddings, computed once.
  public var classEmbeddings: Tensor
  public var logitScale: Float

  // ANCHOR: init
  /// Embeds every class × template with `embedTexts` (texts → unit embeddings (M, P)).
  public init(classes: [String], templates: [String], logitScale: Float, embedTexts: ([String]) -> Tensor) {
    precondition(!classes.isEmpty && !templates.isEmpty, "zero-shot needs classes and templates")
    self.classes = classes
    self.templates = templates
    self.logitScale = logitScale
    let texts = classes.flatMap { c in templates.map { $0.replacingOccurrences(of: "{}", with: c) } }
    let all = embedTexts(texts)  // (K·T, P), unit rows
    let p = all.shape[1], t = templates.count
    var out = Tensor.zeros([classes.count, p])
    for k in 0..<classes.count {
      for j in 0..<t { for d in 0..<p { out.storage[k * p + d] += all.storage[(k * t + j) * p + d] / Float(t) } }
    }
    classEmbeddings = l2Normalize(out).unit
  }
  // ANCHOR_END: init

  public static let defaultTemplates = ["a photo of a {}.", "a picture of a {}.", "a {}.", "an image of a {}.", "there is a {} here."]

  /// OpenAI's 80 ImageNet prompts (the CLIP paper's prompt ensemble; open_clip's OPENAI_IMAGENET_TEMPLATES).
  public static let openAITemplates = [
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}."
  ]

  /// (N, K) logits and probabilities for unit image embeddings (N, P).
  public func classify(_ imageEmbeddings: Tensor) -> (logits: Tensor, probabilities: Tensor) {
    let logits = imageEmbeddings.matmul(classEmbeddings, transposeOther: true) * exp(logitScale)
    return (logits, logits.softmaxLastDim())
  }
}

/// counts[true][predicted] for K classes.
public func confusionMatrix(truth: [Int], predicted: [Int], classes k: Int) -> [[Int]] {
  var m = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
  for (t, p) in zip(truth, predicted) { m[t][p] += 1 }
  return m
}

/// The matrix as text: one row per true class, columns = predicted, with the class names abbreviated.
public func formatConfusion(_ m: [[Int]], names: [String]) -> String {
  let width = max(3, (m.flatMap { $0 }.max() ?? 0).description.count + 1)
  var lines = ["true \\ predicted: " + names.enumerated().map { "\($0.offset)=\($0.element)" }.joined(separator: " ")]
  lines.append(String(repeating: " ", count: 4) + (0..<m.count).map { String(format: "%\(width)d", $0) }.joined())
  for (i, row) in m.enumerated() {
    lines.append(String(format: "%3d ", i) + row.map { $0 == 0 ? String(repeating: " ", count: width - 1) + "·" : String(format: "%\(width)d", $0) }.joined())
  }
  return lines.joined(separator: "\n")
}

/// The k best entries of a score row: (index, score), best first.
/// One entry of a ranking: which row, and its score.
public struct Ranked: Sendable, Equatable {
  public var index: Int
  public var score: Float
}

/// The `k` highest scores, highest first (ties in index order).
public func topK(_ scores: [Float], k: Int) -> [Ranked] {
  Array(scores.enumerated().sorted { $0.element > $1.element }.prefix(k).map { Ranked(index: $0.offset, score: $0.element) })
}

/// Zero-shot accuracy over labelled images.
public struct ZeroShotEvaluation: Sendable {
  public var truth: [Int]
  public var predicted: [Int]
  /// (N, K) class probabilities.
  public var probabilities: Tensor
  public var correct: Int { zip(truth, predicted).filter { $0.0 == $0.1 }.count }
  public var accuracy: Double { truth.isEmpty ? 0 : Double(correct) / Double(truth.count) }
  /// The 95% Wilson score interval of the accuracy: what the same model would score on another draw
  /// of as many images (±3 points on 1,000 images near 60%, ±9 on 110).
  public var interval: ClosedRange<Double> { wilsonInterval(correct: correct, of: truth.count) }
}

extension ZeroShotClassifier {
  /// Classifies unit image embeddings (N, P) whose true classes are `truth`.
  public func evaluate(_ imageEmbeddings: Tensor, truth: [Int]) -> ZeroShotEvaluation {
    precondition(imageEmbeddings.shape[0] == truth.count, "one true class per image")
    let (_, probabilities) = classify(imageEmbeddings)
    let k = classes.count
    let predicted = (0..<truth.count).map { i in (0..<k).max { probabilities.storage[i * k + $0] < probabilities.storage[i * k + $1] }! }
    return ZeroShotEvaluation(truth: truth, predicted: predicted, probabilities: probabilities)
  }
}

/// The Wilson score interval for `correct` successes in `n` trials at confidence z (1.96: 95%):
/// ```
/// centre = (p + z²/2n) / (1 + z²/n),   half-width = z·√(p(1−p)/n + z²/4n²) / (1 + z²/n)
/// ```
/// (better than p ± z·√(p(1−p)/n) near 0% and 100%, where that one leaves [0, 1]).
func wilsonInterval(correct: Int, of n: Int, z: Double = 1.96) -> ClosedRange<Double> {
  guard n > 0 else { return 0...1 }
  let p = Double(correct) / Double(n), nn = Double(n), z2 = z * z
  let centre = (p + z2 / (2 * nn)) / (1 + z2 / nn)
  let half = z * (p * (1 - p) / nn + z2 / (4 * nn * nn)).squareRoot() / (1 + z2 / nn)
  return max(0, centre - half)...min(1, centre + half)
}
