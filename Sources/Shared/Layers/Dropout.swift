// Dropout with a seeded mask that the backward pass replays: y = x ⊙ m, m_i = 0 with probability p,
// else 1/(1 − p) (inverted dropout, as nn.Dropout in training mode). At evaluation m = 1.

import TensorCore

/// A dropout mask of multipliers (0 or 1/(1 − p)), drawn from the caller's generator.
public func dropoutMask(shape: [Int], p: Float, rng: inout SeededRNG) -> Tensor {
  precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
  let keep = 1 / (1 - p)
  return Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in rng.nextFloat() < p ? 0 : keep })
}

extension Tensor {
  /// forward: y = x ⊙ mask.  backward: dx = dy ⊙ mask — the same call.
  public func applyingDropout(_ mask: Tensor?) -> Tensor {
    guard let mask else { return self }
    precondition(mask.shape == shape, "dropout mask \(mask.shape) vs \(shape)")
    return Tensor(shape: shape, storage: zip(storage, mask.storage).map { $0 * $1 })
  }
}

/// The two projection heads' dropout multipliers for one step (0 or 1/(1 − p) per entry), each (B, P).
public struct DropoutMasks: Sendable {
  public var image: Tensor  // (B, P)
  public var text: Tensor  // (B, P)
  public init(image: Tensor, text: Tensor) {
    precondition(image.shape == text.shape, "dropout masks: image \(image.shape) and text \(text.shape) must have one shape")
    self.image = image
    self.text = text
  }

  /// Rows `range` of both (a data-parallel rank's share of the global batch).
  public func rows(_ range: Range<Int>) -> DropoutMasks { DropoutMasks(image: image.rows(range), text: text.rows(range)) }
}
