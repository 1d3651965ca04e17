// Sentence embeddings from token outputs: mean pooling over real tokens (the attention mask), then L2
// normalisation — sentence-transformers' Pooling(mean) + Normalize, the seed's text encoder output.
//
//   B batch, L tokens, D width
//   pooled[b]     = Σ_t mask[b,t] · x[b,t] / max(Σ_t mask[b,t], 1e-9)          (B, D)
//   normalized[b] = pooled[b] / max(‖pooled[b]‖₂, 1e-12)                         (B, D)

import TensorCore

/// Mean over the tokens whose mask is 1: x (B, L, D), mask (B, L) → (B, D).
public func meanPool(_ x: Tensor, mask: Tensor) -> Tensor {
  precondition(x.rank == 3 && mask.shape == [x.shape[0], x.shape[1]], "meanPool: x (B, L, D) and mask (B, L), got \(x.shape), \(mask.shape)")
  let b = x.shape[0], l = x.shape[1], d = x.shape[2]
  var out = Tensor.zeros([b, d])
  for bi in 0..<b {
    var count: Float = 0
    for t in 0..<l {
      let m = mask.storage[bi * l + t]
      if m == 0 { continue }
      count += m
      for k in 0..<d { out.storage[bi * d + k] += m * x.storage[(bi * l + t) * d + k] }
    }
    let inv = 1 / max(count, 1e-9)
    for k in 0..<d { out.storage[bi * d + k] *= inv }
  }
  return out
}

/// Rows scaled to length 1, and each row's length before (what the backward divides by).
public struct L2Normalized: Sendable {
  public var unit: Tensor  // (B, D) every row of length 1 (a zero row stays zero)
  public var norms: [Float]  // (B) ‖x_b‖
}

/// Each row divided by its L2 norm (rows of zeros stay zero): x (B, D) → (B, D), with the norms.
public func l2Normalize(_ x: Tensor) -> L2Normalized {
  precondition(x.rank == 2, "l2Normalize expects (B, D), got \(x.shape)")
  let b = x.shape[0], d = x.shape[1]
  var out = x
  var norms = [Float](repeating: 0, count: b)
  for bi in 0..<b {
    var s: Float = 0
    for k in 0..<d { s += x.storage[bi * d + k] * x.storage[bi * d + k] }
    norms[bi] = s.squareRoot()
    let inv = 1 / max(norms[bi], 1e-12)
    for k in 0..<d { out.storage[bi * d + k] *= inv }
  }
  return L2Normalized(unit: out, norms: norms)
}

// MARK: - Backward

/// forward: pooled[b] = Σ_t mask[b,t]·x[b,t] / count[b]; so dx[b,t] = mask[b,t]·dpooled[b] / count[b].
public func meanPoolBackward(_ dPooled: Tensor, mask: Tensor, length: Int) -> Tensor {
  let b = dPooled.shape[0], d = dPooled.shape[1], l = length
  var dx = Tensor.zeros([b, l, d])
  for bi in 0..<b {
    var count: Float = 0
    for t in 0..<l { count += mask.storage[bi * l + t] }
    let inv = 1 / max(count, 1e-9)
    for t in 0..<l {
      let m = mask.storage[bi * l + t] * inv
      if m == 0 { continue }
      for k in 0..<d { dx.storage[(bi * l + t) * d + k] = m * dPooled.storage[bi * d + k] }
    }
  }
  return dx
}

/// forward: y = x / max(‖x‖, 1e-12); so dx = (dy − y·(y·dy)) / ‖x‖ per row (for ‖x‖ > 1e-12).
public func l2NormalizeBackward(_ dy: Tensor, output y: Tensor, norms: [Float]) -> Tensor {
  let b = dy.shape[0], d = dy.shape[1]
  var dx = Tensor.zeros([b, d])
  for bi in 0..<b {
    var dot: Float = 0
    for k in 0..<d { dot += y.storage[bi * d + k] * dy.storage[bi * d + k] }
    let n = norms[bi]
    for k in 0..<d {
      dx.storage[bi * d + k] = n > 1e-12 ? (dy.storage[bi * d + k] - y.storage[bi * d + k] * dot) / n : dy.storage[bi * d + k] / 1e-12
    }
  }
  return dx
}
