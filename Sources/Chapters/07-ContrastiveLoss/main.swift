// Chapter 07 — the contrastive loss: for N image–caption pairs, make each image pick its own caption
// out of the N, and each caption its own image. Computed by hand, checked against the library, then
// minimised by gradient steps on the embeddings alone until the diagonal lights up.
//
// Library: Sources/Shared/Layers/ContrastiveLoss.swift, Layers/CrossEntropy.swift.
// Walkthrough: Walkthroughs/07-Contrastive-Loss.md.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch07-contrastive-loss",
                                                  abstract: "Chapter 07: the contrastive loss, its gradients, and a few steps that minimise it.")
  @Option(help: "Where the pictures go.") var out = "output/ch07-contrastive-loss"
  @Option(parsing: .unconditional, help: "Gradient steps on the embeddings (1–100000).") var steps = 60
  @Option(parsing: .unconditional, help: "SGD learning rate on the embeddings (the exercises try 20).") var learningRate: Float = 2
  @Flag(help: "Let the logit scale grow past ln 100 (the exercises' experiment).") var noClamp = false

  func validate() throws {
    guard (1...100_000).contains(steps) else { throw ValidationError("--steps must be between 1 and 100000, got \(steps)") }
    guard learningRate.isFinite && learningRate > 0 && learningRate <= 1000 else {
      throw ValidationError("--learning-rate must be in (0, 1000], got \(learningRate)")
    }
  }
}
let args = Options.parseOrExit()
let outDir = args.out
do { try ensureDirectory(outDir) } catch { fail("cannot create output folder \(outDir): \(error)") }
let steps = args.steps
let notebook = Notebook(title: "Chapter 07 · the contrastive loss", steps: 8)

/// An (images × captions) logit matrix as a chart, coloured from −limit to +limit.
func logitChart(_ title: String, _ logits: Tensor, limit: Float) -> SVGDocument {
  heatmapChart(title: title, matrix: logits, rowLabels: (0..<logits.shape[0]).map { "image \($0)" },
               columnLabels: (0..<logits.shape[1]).map { "caption \($0)" }, xLabel: "caption", yLabel: "image",
               colourLabel: "logit", range: -limit...limit, valueFormat: "%.1f")
}

// MARK: 1. a batch of embeddings
let n = 6, p = 8
var image = Tensor.deterministic([n, p], name: "ch07.image", scale: 1)
var text = Tensor.deterministic([n, p], name: "ch07.text", scale: 1)
var logitScale = Float(log(1 / 0.07))
notebook.step("a batch of \(n) image and \(n) caption embeddings", "width \(p), random: nothing learned yet")
notebook.show("image (N, P)", image)
notebook.show("text (N, P)", text)

// MARK: 2. similarity matrix
let scale = exp(logitScale)
let imageUnit = l2Normalize(image).unit, textUnit = l2Normalize(text).unit
let logits = notebook.step("logits = exp(logit_scale) · Î·T̂ᵀ", "logit_scale = ln(1/0.07) → × \(String(format: "%.2f", scale))") {
  imageUnit.matmul(textUnit, transposeOther: true) * scale
}
notebook.note("row i = image i against every caption; the diagonal holds the true pairs:\n" + formatMatrix(logits, decimals: 2))
let beforePath = outDir + "/logits-before.svg"
try? logitChart("Logits before training: random embeddings", logits, limit: scale).write(to: beforePath)

// MARK: 3. both cross-entropies by hand
notebook.step("cross-entropy both ways, by hand", "rows: image → caption; columns: caption → image")
var byHand: Float = 0
for direction in ["image → caption", "caption → image"] {
  let matrix = direction.hasPrefix("image") ? logits : logits.transposed()
  var total: Float = 0
  var diagonalProbabilities: [String] = []
  for i in 0..<n {
    let row = (0..<n).map { matrix[i, $0] }
    let m = row.max()!
    let logSumExp = m + log(row.reduce(0) { $0 + exp($1 - m) })
    total += logSumExp - row[i]
    diagonalProbabilities.append(String(format: "%.2f", exp(row[i] - logSumExp)))
  }
  notebook.note("\(direction): p(true pair) = [\(diagonalProbabilities.joined(separator: ", "))]  CE = \(String(format: "%.4f", total / Float(n)))")
  byHand += total / Float(n) / 2
}
let library = contrastiveLoss(image: image, text: text, logitScale: logitScale)
notebook.note(String(format: "loss = (CE_rows + CE_cols) / 2 = %.6f by hand, %.6f from contrastiveLoss; chance level ln(%d) = %.4f",
                     byHand, library.loss, n, log(Float(n))))

// MARK: 4. gradients
notebook.step("gradients", "dZ = ½(softmax_rows(Z) − Id)/N + ½(softmax_rows(Zᵀ) − Id)ᵀ/N, then through the normalisation")
notebook.show("d image", library.dImage)
notebook.show("d text", library.dText)
// The same gradients by finite differences: nudge one number up and down, and watch the loss.
// (Central differences in Double, on the Float loss: h = 1e-2 keeps the rounding well below the change.)
func lossAt(image: Tensor, text: Tensor, logitScale: Float) -> Double {
  Double(contrastiveLoss(image: image, text: text, logitScale: logitScale).loss)
}
let h: Float = 1e-2
var fdLines: [String] = []
for (name, row, col) in [("image", 0, 0), ("image", 3, 5), ("text", 2, 1)] {
  var plus = name == "image" ? image : text, minus = plus
  plus[row, col] += h
  minus[row, col] -= h
  let (lp, lm) = name == "image"
    ? (lossAt(image: plus, text: text, logitScale: logitScale), lossAt(image: minus, text: text, logitScale: logitScale))
    : (lossAt(image: image, text: plus, logitScale: logitScale), lossAt(image: image, text: minus, logitScale: logitScale))
  let analytic = name == "image" ? library.dImage[row, col] : library.dText[row, col]
  fdLines.append(String(format: "d %@[%d, %d]: backward %+.5f, finite difference %+.5f", name as NSString, row, col, analytic,
                        (lp - lm) / Double(2 * h)))
}
let fdScale = (lossAt(image: image, text: text, logitScale: logitScale + h) - lossAt(image: image, text: text, logitScale: logitScale - h))
  / Double(2 * h)
fdLines.append(String(format: "d logit_scale: backward %+.5f, finite difference %+.5f", library.dLogitScale, fdScale))
notebook.note("check by finite differences, (L(x + h) − L(x − h)) / 2h with h = 0.01:\n" + fdLines.joined(separator: "\n"))
notebook.note(String(format: "d logit_scale = %.4f (%@)", library.dLogitScale,
                     (library.dLogitScale > 0 ? "positive: with these random pairs a softer softmax would lower the loss"
                      : "negative: a sharper softmax would lower the loss") as NSString))

// MARK: 5. gradient steps on the embeddings alone
let learningRate = args.learningRate
var losses: [Float] = []
var trajectory: [String] = []
notebook.step("\(steps) gradient steps on the embeddings and the logit scale", "plain SGD, lr \(learningRate) on the embeddings, 0.1 on the logit scale") {
  for step in 0..<steps {
    let out = contrastiveLoss(image: image, text: text, logitScale: logitScale)
    losses.append(out.loss)
    if step % 10 == 0 { trajectory.append(String(format: "step %3d  loss %.4f  logit scale %.3f", step, out.loss, logitScale)) }
    image = image - out.dImage * learningRate
    text = text - out.dText * learningRate
    logitScale = logitScale - 0.1 * out.dLogitScale
    if !args.noClamp { logitScale = min(logitScale, log(100)) }  // clamped to ln(100), as open_clip does
  }
}
for line in trajectory { notebook.note(line) }
let finalLoss = contrastiveLoss(image: image, text: text, logitScale: logitScale)
notebook.note(String(format: "final loss %.4f (from %.4f)", finalLoss.loss, losses[0]))

// MARK: 6. the diagonal lights up
let afterLogits = finalLoss.logits
notebook.step("the logits after training", "each image's own caption now wins its row")
notebook.note(formatMatrix(afterLogits, decimals: 1))
let afterPath = outDir + "/logits-after.svg"
try? logitChart("Logits after \(steps) steps: the diagonal lights up", afterLogits, limit: exp(logitScale)).write(to: afterPath)
let correct = (0..<n).filter { i in (0..<n).allSatisfy { afterLogits[i, i] >= afterLogits[i, $0] } }.count
notebook.note("rows where the true caption scores highest: \(correct)/\(n)")

// MARK: 7. standard vs seed-faithful
let wide = 512
notebook.step("standard vs the seed's loss", "\(n) random pairs in 512-d, as the heads output them")
// Projection-head outputs end in a LayerNorm: every row has norm ≈ √512 ≈ 22.6.
let wideImage = l2Normalize(Tensor.deterministic([n, wide], name: "ch07.wide.image", scale: 1)).unit * Float(wide).squareRoot()
let wideText = l2Normalize(Tensor.deterministic([n, wide], name: "ch07.wide.text", scale: 1)).unit * Float(wide).squareRoot()
for kind in [ContrastiveLossKind.standard, .seedFaithful] {
  let out = contrastiveLoss(image: wideImage, text: wideText, logitScale: Float(log(1 / 0.07)), kind: kind)
  let gradNorm = out.dImage.storage.reduce(0) { $0 + $1 * $1 }.squareRoot()
  let maxLogit = out.logits.storage.map(abs).max()!
  notebook.note(String(format: "%@  loss %8.3f   max |logit| %8.2f   ‖d image‖ %.4f   d logit_scale %8.3f",
                       (kind == .standard ? "standard     " : "seed-faithful") as NSString, out.loss, maxLogit, gradNorm, out.dLogitScale))
}
notebook.note("seed: logits = 2.66 · I·Tᵀ on raw vectors of norm √512 — a logit is 2.66 · 512 · cosine, so even")
notebook.note("random pairs give logits near ±100 and the softmax saturates; the standard loss divides by the norms")
notebook.note("and bounds every logit by exp(logit_scale) ≤ 100, a temperature the model learns")

// MARK: 8. a backward pass to check on paper
// Two pairs in two dimensions, logit_scale 0 (so exp(logit_scale) = 1), vectors whose norms are whole
// numbers: Walkthrough 07 computes every number below by hand, node by node, and gets the same.
let paperImage = Tensor(shape: [2, 2], storage: [3, 4, 0, 2]), paperText = Tensor(shape: [2, 2], storage: [1, 0, 0, 3])
let paper = notebook.step("a backward pass you can check on paper", "I = [[3, 4], [0, 2]], T = [[1, 0], [0, 3]], logit_scale = 0") {
  contrastiveLoss(image: paperImage, text: paperText, logitScale: 0)
}
notebook.note("Z = Î·T̂ᵀ:\n" + formatMatrix(paper.logits, decimals: 4))
notebook.note(String(format: "loss: images → captions %.4f, captions → images %.4f, mean %.4f", paper.imageLoss, paper.textLoss, paper.loss))
notebook.note("d I:\n" + formatMatrix(paper.dImage, decimals: 4))
notebook.note("d T:\n" + formatMatrix(paper.dText, decimals: 4))
notebook.note(String(format: "d logit_scale: %.4f", paper.dLogitScale))

print("")
print("pictures:")
print("  \(beforePath)   logits before (rows images, columns captions)")
print("  \(afterPath)    logits after \(steps) steps: the diagonal lights up")
notebook.finish(next: "ch08-training — the same loss, backpropagated through both towers")
