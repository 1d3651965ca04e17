// Sentence embeddings from token outputs: mean pooling over real tokens (the attention mask), then L2
// normalisation — sentence-transformers' Pooling(mean) + Normalize, the seed's text encoder output.
//
//   B batch, L tokens, D width
//   pooled[b]     = Σ_t mask[b,t] · x[b,t] / max(Σ_t mask[b,t], 1e-9)          (B, D)
//   normalized[b] = pooled[b] / max(‖pooled[b]‖₂, 1e-12)                         (B, D)

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

/// Each row divided by its L2 norm (rows of zeros stay zero): x (B, D) → (B, D). Also returns the norms.
public func l2Normalize(_ x: Tensor) -> (Tensor, norms: [Float]) {
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
  return (out, norms)
}
