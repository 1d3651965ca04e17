// Chapter 02 — attention: how tokens look at each other.
//
// Four toy tokens first, every matrix printed: Q, K, V, scores, scaling, softmax, the weighted sum,
// and the backward pass to dQ, dK, dV with a finite-difference check beside it.
// Then two heads, then a padding mask, then one real attention layer over the 197 tokens of a photo.
// Every step uses MultiHeadAttention from Sources/Shared/Layers/Attention.swift and checks the
// hand computation against it. Walkthrough: Walkthroughs/02-Attention.md.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch02-attention",
                                                  abstract: "Chapter 02: scaled dot-product and multi-head attention, by hand and on a photo.")
  @Option(help: "The JPEG to use (default: Assets/grace_hopper.jpg).") var image: String?
  @Option(help: "Where the pictures go.") var out = "output/ch02-attention"
}
let args = Options.parseOrExit()
let outDir = args.out
do { try ensureDirectory(outDir) } catch { fail("cannot create output folder \(outDir): \(error)") }
let notebook = Notebook(title: "Chapter 02 · attention", steps: 9)

// MARK: 1. toy tokens
let d = 4
let x = Tensor(shape: [4, d], storage: [
  1.0, 0.0, 1.0, 0.0,  // token 0
  0.0, 2.0, 0.0, 2.0,  // token 1
  1.0, 1.0, 1.0, 1.0,  // token 2
  0.0, 0.0, 0.5, 1.0,  // token 3
])
func rounded(_ t: Tensor) -> Tensor { t.map { ($0 * 10).rounded() / 10 } }  // one decimal: easy to follow
let wq = rounded(Tensor.deterministic([d, d], name: "toy.wq", scale: 1))
let wk = rounded(Tensor.deterministic([d, d], name: "toy.wk", scale: 1))
let wv = rounded(Tensor.deterministic([d, d], name: "toy.wv", scale: 1))
notebook.step("four toy tokens, width \(d)", "x (4 × 4)")
notebook.note(formatMatrix(x, decimals: 1))

// MARK: 2. Q, K, V
let (q, k, v) = notebook.step("project to queries, keys, values", "Q = x·W_qᵀ, K = x·W_kᵀ, V = x·W_vᵀ") {
  (x.matmul(wq, transposeOther: true), x.matmul(wk, transposeOther: true), x.matmul(wv, transposeOther: true))
}
notebook.note("Q — what each token is looking for:\n" + formatMatrix(q, decimals: 2))
notebook.note("K — what each token offers:\n" + formatMatrix(k, decimals: 2))
notebook.note("V — what each token passes on:\n" + formatMatrix(v, decimals: 2))

// MARK: 3. scores → softmax → weighted sum
// ANCHOR: toy-attention
let scale = 1 / Float(d).squareRoot()
let (scores, probs, out) = notebook.step("scores, scale, softmax, weighted sum", "S = Q·Kᵀ/√\(d), P = softmax(S), O = P·V") {
  () -> (Tensor, Tensor, Tensor) in
  let s = q.matmul(k, transposeOther: true) * scale
  let p = s.softmaxLastDim()
  return (s, p, p.matmul(v))
}
// ANCHOR_END: toy-attention
notebook.note("S = Q·Kᵀ / √\(d) = Q·Kᵀ × \(formatNumber(scale)) — row i: how well token i's query matches each key:\n"
  + formatMatrix(scores, decimals: 2))
notebook.note("P = softmax(S) per row — each row sums to 1:\n" + formatMatrix(probs, decimals: 3))
notebook.note("O = P·V — each token's new value is a weighted mix of all values:\n" + formatMatrix(out, decimals: 3))

// The same with the library layer: one head, no output projection (identity), zero biases.
func identity(_ n: Int) -> Tensor {
  var t = Tensor.zeros([n, n])
  for i in 0..<n { t[i, i] = 1 }
  return t
}
func layer(heads: Int) -> MultiHeadAttention {
  let qkvWeight = Tensor(shape: [3 * d, d], storage: wq.storage + wk.storage + wv.storage)
  return MultiHeadAttention(qkv: Linear(weight: qkvWeight, bias: .zeros([3 * d])),
                            proj: Linear(weight: identity(d), bias: .zeros([d])), heads: heads)
}
let (libraryOut, _) = layer(heads: 1).forward(x.reshaped([1, 4, d]))
let oneHeadDiff = zip(libraryOut.storage, out.storage).map { abs($0 - $1) }.max()!
notebook.note("MultiHeadAttention(heads: 1) gives the same O: max difference \(formatNumber(oneHeadDiff))")

// MARK: 4. backward: dQ, dK, dV
// Suppose the next layer sends back dO = O: the gradient of L = ½‖O‖². Five lines take it to Q, K, V
// (chapter 07 derives each); finite differences on L check every entry.
// ANCHOR: toy-backward
let (dQ, dK, dV) = notebook.step("backward to Q, K, V", "L = ½‖O‖², so dO = O") { () -> (Tensor, Tensor, Tensor) in
  let dO = out
  let dV = probs.transposed().matmul(dO)  // dV = Pᵀ·dO
  let dP = dO.matmul(v, transposeOther: true)  // dP = dO·Vᵀ
  let dS = dP.softmaxBackwardDefinition(output: probs)  // dS = P ⊙ (dP − rowsum(dP ⊙ P))
  return (dS.matmul(k) * scale, dS.transposed().matmul(q) * scale, dV)  // dQ = dS·K/√d, dK = dSᵀ·Q/√d
}
// ANCHOR_END: toy-backward
/// L = ½‖softmax(Q·Kᵀ/√d)·V‖², the forward above in Float, summed in Double.
func toyLoss(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> Double {
  let o = (q.matmul(k, transposeOther: true) * scale).softmaxLastDim().matmul(v)
  return o.storage.reduce(0) { $0 + 0.5 * Double($1) * Double($1) }
}
var worstFD: Float = 0
var fdRows: [String] = []
for (name, grad) in [("Q", dQ), ("K", dK), ("V", dV)] {
  var numeric = Tensor.zeros([4, d])
  for i in 0..<4 {
    for c in 0..<d {
      let h: Float = 1e-2
      var (qp, kp, vp) = (q, k, v), (qm, km, vm) = (q, k, v)
      switch name {
      case "Q": qp[i, c] += h; qm[i, c] -= h
      case "K": kp[i, c] += h; km[i, c] -= h
      default: vp[i, c] += h; vm[i, c] -= h
      }
      numeric[i, c] = Float((toyLoss(qp, kp, vp) - toyLoss(qm, km, vm)) / Double(2 * h))
      worstFD = max(worstFD, abs(numeric[i, c] - grad[i, c]))
    }
  }
  let left = formatMatrix(grad, decimals: 4).split(separator: "\n"), right = formatMatrix(numeric, decimals: 4).split(separator: "\n")
  fdRows.append("d\(name): backward" + String(repeating: " ", count: max(1, left[0].count - 10)) + "finite differences (h = 0.01)\n"
    + zip(left, right).map { "\($0)   \($1)" }.joined(separator: "\n"))
}
notebook.note(fdRows.joined(separator: "\n"))
notebook.note("largest |backward − finite difference| over the 48 entries: \(formatNumber(worstFD))")
// The library's backward returns the gradient of the fused qkv weight, [dQᵀ·x; dKᵀ·x; dVᵀ·x], and dx:
var libraryGrads = layer(heads: 1)
libraryGrads.qkv.weight = .zeros([3 * d, d]); libraryGrads.qkv.bias = .zeros([3 * d])
libraryGrads.proj.weight = .zeros([d, d]); libraryGrads.proj.bias = .zeros([d])
let (libraryForward, libraryCache) = layer(heads: 1).forward(x.reshaped([1, 4, d]))
_ = layer(heads: 1).backward(libraryForward, cache: libraryCache, grads: &libraryGrads)
let byHand = dQ.transposed().matmul(x).storage + dK.transposed().matmul(x).storage + dV.transposed().matmul(x).storage
let weightDiff = zip(libraryGrads.qkv.weight.storage, byHand).map { abs($0 - $1) }.max()!
notebook.note("MultiHeadAttention.backward's gradient of W_qkv equals [dQᵀ·x; dKᵀ·x; dVᵀ·x] from these: max difference \(formatNumber(weightDiff))")

// MARK: 5. two heads
let (twoHeadOut, twoHeadCache) = notebook.step("two heads of width 2", "head h uses columns 2h, 2h+1 of Q, K, V") {
  layer(heads: 2).forward(x.reshaped([1, 4, d]))
}
for h in 0..<2 {
  let p = Tensor(shape: [4, 4], storage: Array(twoHeadCache.probs.storage[(h * 16)..<((h + 1) * 16)]))
  notebook.note("head \(h) attention P (scale 1/√2):\n" + formatMatrix(p, decimals: 3))
}
notebook.note("outputs side by side [head 0 | head 1], then the output projection (identity here):\n"
  + formatMatrix(twoHeadOut.reshaped([4, 4]), decimals: 3))
notebook.note("two heads can attend to different tokens: each sees only its own slice of the features")

// MARK: 6. padding mask
let mask = Tensor(shape: [1, 4], storage: [1, 1, 1, 0])
let (_, maskedCache) = notebook.step("mask token 3 (padding)", "score + (−3.4e38) where mask = 0") {
  layer(heads: 1).forward(x.reshaped([1, 4, d]), keyMask: mask)
}
notebook.note("P with token 3 masked — its column is exactly 0 and the rest renormalise:\n"
  + formatMatrix(maskedCache.probs.reshaped([4, 4]), decimals: 3))

// MARK: 7. a real image: 197 tokens
let imagePath = args.image ?? assetPath(BundledAssets.samplePhoto) ?? BundledAssets.samplePhoto
let photo: RGBImage
do { photo = try JPEG.decode(path: imagePath) } catch { fail("\(error)") }
let transform = EvalTransform()
let cropped = transform.cropped(photo)
let pixels = cropped.normalizedTensor(mean: transform.config.mean, std: transform.config.std).reshaped([1, 3, 224, 224])
let vit = ViT(config: .base16)
let (tokens, realCache) = notebook.step("one ViT-B/16 attention layer over a photo", "197 tokens × 768, 12 heads of 64") {
  () -> (Tensor, AttentionCache) in
  // patch embedding + class token + position embedding, then block 0's norm1 and attention
  let (patchTokens, _) = vit.patchEmbed.forward(pixels)
  var seq = Tensor.zeros([1, 197, 768])
  for t in 0..<197 {
    for c in 0..<768 {
      seq[0, t, c] = (t == 0 ? vit.clsToken.storage[c] : patchTokens[0, t - 1, c]) + vit.posEmbed[0, t, c]
    }
  }
  let (normed, _) = vit.blocks[0].norm1.forward(seq)
  return vit.blocks[0].attn.forward(normed)
}
notebook.note("weights: deterministic (untrained) — the shapes and cost are real, the pattern is not learned")
notebook.show("output", tokens)
notebook.show("probabilities", realCache.probs)
notebook.note(String(format: "cost: qkv %.0f + scores/mix %.0f + proj %.0f MFLOP", 2.0 * 197 * 768 * 2304 / 1e6,
                     2 * 2.0 * 12 * 197 * 197 * 64 / 1e6, 2.0 * 197 * 768 * 768 / 1e6))
let head0 = Tensor(shape: [197, 197], storage: Array(realCache.probs.storage[0..<(197 * 197)]))
let matrixPath = outDir + "/head0-matrix.svg"
try? heatmapChart(title: "Block 0, head 0: attention probabilities (untrained weights)", matrix: head0, xLabel: "key token (0 = class token)",
                  yLabel: "query token", colourLabel: "probability", cell: 2).write(to: matrixPath)

// MARK: 8. attention by content
let patches = extractPatches(pixels, patchSize: 16).reshaped([196, 768])
let temperature: Float = 8
let similarity = notebook.step("attention by content alone", "Q = K = centred, unit-length patch pixels; S = \(Int(temperature))·cosine") {
  () -> Tensor in
  // Centre each feature over the 196 patches, scale each patch to unit length: S = Q·Kᵀ is then the
  // cosine similarity of two patches. A trained W_q, W_k learn what "similar" should mean instead.
  var features = patches
  for c in 0..<768 {
    var mean: Float = 0
    for n in 0..<196 { mean += features[n, c] }
    mean /= 196
    for n in 0..<196 { features[n, c] -= mean }
  }
  for n in 0..<196 {
    var norm: Float = 0
    for c in 0..<768 { norm += features[n, c] * features[n, c] }
    norm = max(norm.squareRoot(), 1e-6)
    for c in 0..<768 { features[n, c] /= norm }
  }
  return (features.matmul(features, transposeOther: true) * temperature).softmaxLastDim()
}
notebook.note("with no learned projections a patch attends to the patches that look like it")
// Three patches of the sample photo, named for what they show; another photo gets the same places, unnamed.
let queries = args.image == nil ? [(2, 12, "on the sky"), (5, 7, "on the face"), (12, 4, "on the jacket")]
  : [(2, 12, "top right"), (5, 7, "centre"), (12, 4, "bottom left")]
var panels: [RGBImage] = []
for (row, col, name) in queries {
  let patchIndex = row * 14 + col
  let rowProbs = Array(similarity.storage[(patchIndex * 196)..<((patchIndex + 1) * 196)])
  // The query always matches itself best; scale colours to the best *other* patch.
  let top = rowProbs.enumerated().filter { $0.offset != patchIndex }.map(\.element).max()!
  let heat = Tensor(shape: [14, 14], storage: rowProbs.map { min(1, $0 / top) })
  var panel = overlayHeatmap(cropped, heat: heat)
  panel.drawRectangle(x: col * 16, y: row * 16, width: 16, height: 16)
  panels.append(panel)
  let sorted = rowProbs.enumerated().sorted { $0.element > $1.element }.prefix(3)
  notebook.note("query patch (\(row), \(col)) \(name): top keys "
    + sorted.map { "(\($0.offset / 14), \($0.offset % 14)) \(String(format: "%.3f", $0.element))" }.joined(separator: ", "))
}
let contentPath = outDir + "/content-attention.png"
try? PNG.write(sideBySide(panels).upscaled(by: 2), to: contentPath)

// MARK: 9. entropy per head
let entropies = notebook.step("how spread out is each head?", "entropy of each query's distribution, averaged") {
  (0..<12).map { h -> String in
    var total: Float = 0
    for i in 0..<197 {
      for j in 0..<197 {
        let p = realCache.probs[0, h, i, j]
        if p > 0 { total -= p * log(p) }
      }
    }
    return String(format: "%.2f", total / 197)
  }
}
notebook.note("head entropies (nats; uniform over 197 = \(String(format: "%.2f", log(197.0)))): " + entropies.joined(separator: " "))

print("")
print("pictures:")
print("  \(contentPath)   attention by content for three query patches (red box = query; colour scaled to the best other patch)")
print("  \(matrixPath)   head 0's 197×197 attention matrix (untrained weights)")
notebook.finish(next: "ch03-vit — twelve of these blocks make a Vision Transformer")
