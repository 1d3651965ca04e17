// CLIP's symmetric contrastive loss: in a batch of N image–caption pairs, image i should pick caption
// i out of all N captions, and caption i should pick image i.
//
//   standard (OpenAI CLIP, open_clip):
//     Î = I/‖I‖, T̂ = T/‖T‖ (rows),  s = exp(logit_scale),  Z = s · Î·T̂ᵀ          (N × N, rows = images)
//     loss = ½ [ CE(Z, 0..N−1) + CE(Zᵀ, 0..N−1) ]
//   seed-faithful (the seed's ClipLoss): no normalisation, no exp: Z = logit_scale · I·Tᵀ
//
// Backward: dZ = ½ (dCE_rows + dCE_colsᵀ); dÎ = s·dZ·T̂, dT̂ = s·dZᵀ·Î, d logit_scale = s·Σ dZ⊙(Î·T̂ᵀ),
// then through the row normalisation. `logit_scale` starts at ln(1/0.07) and the trainer clamps it to
// at most ln(100) after each step, as open_clip does.

import TensorCore
import Foundation

public enum ContrastiveLossKind: String, Sendable, Codable {
  case standard  // L2-normalised embeddings, exp(logit_scale)
  case seedFaithful  // raw embeddings, logit_scale used as is
}

public struct ContrastiveLossOutput: Sendable {
  public var loss: Float
  public var imageLoss: Float  // CE over rows (image → text)
  public var textLoss: Float  // CE over columns (text → image)
  public var logits: Tensor  // (N, N) rows = images, columns = texts
  public var dImage: Tensor  // (N, P) gradient w.r.t. the image projections
  public var dText: Tensor  // (N, P)
  public var dLogitScale: Float
  public init(loss: Float, imageLoss: Float, textLoss: Float, logits: Tensor, dImage: Tensor, dText: Tensor, dLogitScale: Float) {
    (self.loss, self.imageLoss, self.textLoss, self.logits) = (loss, imageLoss, textLoss, logits)
    (self.dImage, self.dText, self.dLogitScale) = (dImage, dText, dLogitScale)
  }
}

/// The loss, the N×N logits and every gradient.
// ANCHOR: loss
public func contrastiveLoss(image: Tensor, text: Tensor, logitScale: Float, kind: ContrastiveLossKind = .standard)
  -> ContrastiveLossOutput
{
  precondition(image.rank == 2 && image.shape == text.shape, "contrastive loss: image \(image.shape) and text \(text.shape) must both be (N, P)")
  let n = image.shape[0]
  let targets = Array(0..<n)
  var imageNormalized = image, textNormalized = text
  var imageNorms: [Float] = [], textNorms: [Float] = []
  let scale: Float
  switch kind {
  case .standard:
    let i = l2Normalize(image), t = l2Normalize(text)
    (imageNormalized, imageNorms, textNormalized, textNorms) = (i.unit, i.norms, t.unit, t.norms)
    scale = exp(logitScale)
  case .seedFaithful:
    scale = logitScale
  }
  let similarity = imageNormalized.matmul(textNormalized, transposeOther: true)  // (N, N)
  let logits = similarity * scale
  let (imageLoss, dRows) = crossEntropy(logits: logits, targets: targets)
  let (textLoss, dColsT) = crossEntropy(logits: logits.transposed(), targets: targets)
  var dLogits = dRows * 0.5
  dLogits += dColsT.transposed() * 0.5
  var dScale: Float = 0
  for i in 0..<(n * n) { dScale += dLogits.storage[i] * similarity.storage[i] }
  var dImage = dLogits.matmul(textNormalized) * scale  // (N, P)
  var dText = dLogits.transposed().matmul(imageNormalized) * scale
  let dLogitScale: Float
  switch kind {
  case .standard:
    dImage = l2NormalizeBackward(dImage, output: imageNormalized, norms: imageNorms)
    dText = l2NormalizeBackward(dText, output: textNormalized, norms: textNorms)
    dLogitScale = dScale * scale  // d exp(u)/du = exp(u)
  case .seedFaithful:
    dLogitScale = dScale
  }
  return ContrastiveLossOutput(loss: (imageLoss + textLoss) / 2, imageLoss: imageLoss, textLoss: textLoss, logits: logits,
                               dImage: dImage, dText: dText, dLogitScale: dLogitScale)
}
// ANCHOR_END: loss
