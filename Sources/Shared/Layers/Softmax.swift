// Numerically stable softmax over the last dimension: the attention weights.
//
//   forward:   p_i = exp(x_i − max_j x_j) / Σ_k exp(x_k − max_j x_j)        per row
//   backward:  dx_i = p_i · (dp_i − Σ_j dp_j · p_j)                          per row
//
// Subtracting the row maximum changes nothing mathematically and keeps exp from overflowing
// (scores of 1000 would otherwise be inf/inf = NaN). A row masked entirely to −∞ gives zeros.
// The definition below is those lines as plain loops; the fast path runs Kernels/RowKernels.swift's
// SIMD rows in parallel, and the tests hold it to the definition.

import Foundation
import Kernels
import TensorCore

extension Tensor {
  // MARK: - The definition

  /// Softmax over the last dimension, as plain loops.
  public func softmaxDefinition() -> Tensor {
    let d = shape.last ?? 1, rows = count / max(d, 1)
    var p = Tensor.zeros(shape)
    for r in 0..<rows {
      let row = storage[(r * d)..<((r + 1) * d)]
      if row.contains(where: \.isNaN) {  // a NaN anywhere makes every probability NaN (the sum is NaN)
        for i in 0..<d { p.storage[r * d + i] = .nan }
        continue
      }
      let mx = row.max() ?? 0
      if mx == -Float.infinity { continue }  // a fully masked row: zeros
      let e = row.map { Foundation.exp($0 - mx) }
      let sum = e.reduce(0, +)
      for i in 0..<d { p.storage[r * d + i] = e[i] / sum }
    }
    return p
  }

  /// self is dp; the backward as plain loops.
  public func softmaxBackwardDefinition(output p: Tensor) -> Tensor {
    let d = shape.last ?? 1, rows = count / max(d, 1)
    var dx = Tensor.zeros(shape)
    for r in 0..<rows {
      let dot = (0..<d).reduce(Float(0)) { $0 + storage[r * d + $1] * p.storage[r * d + $1] }
      for i in 0..<d { dx.storage[r * d + i] = p.storage[r * d + i] * (storage[r * d + i] - dot) }
    }
    return dx
  }

  // MARK: - Forward

  /// Softmax over the last dimension. The backward needs the output, which the caller keeps.
  public func softmaxLastDim() -> Tensor {
    let d = shape.last ?? 1
    var y = Tensor.zeros(shape)
    reading(self) { x in writing(&y) { y in Kernels.softmax(x: x, y: y, rows: count / max(d, 1), dim: d) } }
    return y
  }

  // MARK: - Backward

  /// self is dp (the gradient of the softmax output p): dx = p ⊙ (dp − Σ_j dp_j·p_j) per row.
  public func softmaxBackward(output p: Tensor) -> Tensor {
    precondition(shape == p.shape, "softmax backward: dp \(shape) vs p \(p.shape)")
    let d = shape.last ?? 1
    var dx = Tensor.zeros(shape)
    reading(self, p) { dp, p in writing(&dx) { dx in Kernels.softmaxBackward(dp: dp, p: p, dx: dx, rows: count / max(d, 1), dim: d) } }
    return dx
  }
}
