// Attention per (batch, head): the fast loops behind MultiHeadAttention (Sources/Shared/Layers/
// Attention.swift holds the layer and the plain-loop definitions these are tested against).
// Every product here is "one row times a small matrix": S = Q·Kᵀ and dP = dO·Vᵀ against K or V
// packed transposed in an L1-sized scratch buffer; O = P·V, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q as
// weighted sums of rows, 16 or 32 columns at a time. For 65 tokens and 32-wide heads this beats
// calling the general GEMM per head, whose packing and edge tiles cost more than the arithmetic.

/// The additive score of a masked key: HF's torch.finfo(float32).min.
public let attentionMaskedScore: Float = -Float.greatestFiniteMagnitude

/// out[c] = Σ_j w[j·wStride] · rows[j·rowStride + c] for c < width: a weighted sum of rows, 16 columns
/// at a time (O = P·V, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q are all this, row by row).
@inline(__always)
func weightedRowSum(_ w: UnsafePointer<Float>, wStride: Int, count: Int, rows: UnsafePointer<Float>, rowStride: Int, width: Int,
                    into out: UnsafeMutablePointer<Float>) {
  var c = 0
  while c + 32 <= width {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    for j in 0..<count {
      let wj = SIMD16<Float>(repeating: w[j * wStride]), r = rows + j * rowStride + c
      a0.addProduct(wj, load16(r))
      a1.addProduct(wj, load16(r + 16))
    }
    store16(a0, out + c)
    store16(a1, out + c + 16)
    c += 32
  }
  while c + 16 <= width {
    var a0 = SIMD16<Float>()
    for j in 0..<count { a0.addProduct(SIMD16<Float>(repeating: w[j * wStride]), load16(rows + j * rowStride + c)) }
    store16(a0, out + c)
    c += 16
  }
  while c < width {
    var s: Float = 0
    for j in 0..<count { s += w[j * wStride] * rows[j * rowStride + c] }
    out[c] = s
    c += 1
  }
}

/// out[j] = Σ_c x[c] · packed[c·padded + j] for j < padded (a multiple of 16): one row times a matrix
/// packed transposed, 16 columns at a time (S = Q·Kᵀ and dP = dO·Vᵀ, row by row).
@inline(__always)
func rowTimesPacked(_ x: UnsafePointer<Float>, depth: Int, packed: UnsafePointer<Float>, padded: Int, into out: UnsafeMutablePointer<Float>) {
  var j = 0
  while j + 32 <= padded {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    for c in 0..<depth {
      let xc = SIMD16<Float>(repeating: x[c]), p = packed + c * padded + j
      a0.addProduct(xc, load16(p))
      a1.addProduct(xc, load16(p + 16))
    }
    store16(a0, out + j)
    store16(a1, out + j + 16)
    j += 32
  }
  while j < padded {
    var a0 = SIMD16<Float>()
    for c in 0..<depth { a0.addProduct(SIMD16<Float>(repeating: x[c]), load16(packed + c * padded + j)) }
    store16(a0, out + j)
    j += 16
  }
}

/// packed[c·padded + j] = rows[j·rowStride + c] (zero for j ≥ count): K or V of one head, transposed.
@inline(__always)
func packTransposed(_ rows: UnsafePointer<Float>, rowStride: Int, count: Int, width: Int, padded: Int, into packed: UnsafeMutablePointer<Float>) {
  for c in 0..<width {
    let dst = packed + c * padded
    for j in 0..<count { dst[j] = rows[j * rowStride + c] }
    for j in count..<padded { dst[j] = 0 }
  }
}

/// The fast forward: the same maths as `attentionHeadsForwardNaive`, (batch, head) tasks spread over the
/// kernel threads, each head's Kᵀ packed once into a scratch buffer that stays in L1.
public func attentionHeadsForward(qkv: UnsafePointer<Float>, batch b: Int, tokens n: Int, width d: Int, heads h: Int,
                                  keyMask: UnsafePointer<Float>?, probs: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>) {
  let dh = d / h, scale = 1 / Float(dh).squareRoot(), padded = (n + 15) / 16 * 16
  let workers = max(1, min(b * h, kernelThreads))
  let perWorker = dh * padded + padded
  let scratch = UnsafeMutablePointer<Float>.allocate(capacity: workers * perWorker)
  defer { scratch.deallocate() }
  parallelFor(workers) { worker in
    let kt = scratch + worker * perWorker, row = kt + dh * padded
    var task = worker
    while task < b * h {
      let bi = task / h, hi = task % h
      let q = qkv + bi * n * 3 * d + hi * dh, k = q + d, v = q + 2 * d
      let p = probs + task * n * n
      packTransposed(k, rowStride: 3 * d, count: n, width: dh, padded: padded, into: kt)
      for i in 0..<n {
        rowTimesPacked(q + i * 3 * d, depth: dh, packed: kt, padded: padded, into: row)
        for j in 0..<n { row[j] *= scale }
        if let keyMask { for j in 0..<n where keyMask[bi * n + j] == 0 { row[j] += attentionMaskedScore } }
        softmaxRow(row, p + i * n, dim: n)
        weightedRowSum(p + i * n, wStride: 1, count: n, rows: v, rowStride: 3 * d, width: dh, into: context + (bi * n + i) * d + hi * dh)
      }
      task += workers
    }
  }
}

/// The fast backward: the same maths as `attentionHeadsBackwardNaive`.
public func attentionHeadsBackward(qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>, dContext: UnsafePointer<Float>,
                                   batch b: Int, tokens n: Int, width d: Int, heads h: Int, dqkv: UnsafeMutablePointer<Float>) {
  let dh = d / h, scale = 1 / Float(dh).squareRoot(), padded = (n + 15) / 16 * 16
  let workers = max(1, min(b * h, kernelThreads))
  let perWorker = dh * padded + padded + n * n
  let scratch = UnsafeMutablePointer<Float>.allocate(capacity: workers * perWorker)
  defer { scratch.deallocate() }
  parallelFor(workers) { worker in
    let vt = scratch + worker * perWorker, row = vt + dh * padded, dS = row + padded
    var task = worker
    while task < b * h {
      let bi = task / h, hi = task % h
      let q = qkv + bi * n * 3 * d + hi * dh, k = q + d, v = q + 2 * d
      let dq = dqkv + bi * n * 3 * d + hi * dh, dk = dq + d, dv = dq + 2 * d
      let dO = dContext + bi * n * d + hi * dh
      let p = probs + task * n * n
      // dV = Pᵀ·dO: row j of dV weighs the rows of dO by column j of P
      for j in 0..<n { weightedRowSum(p + j, wStride: n, count: n, rows: dO, rowStride: d, width: dh, into: dv + j * 3 * d) }
      // dP = dO·Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale
      packTransposed(v, rowStride: 3 * d, count: n, width: dh, padded: padded, into: vt)
      for i in 0..<n {
        rowTimesPacked(dO + i * d, depth: dh, packed: vt, padded: padded, into: row)
        let pi = p + i * n, dSi = dS + i * n
        var rowDot: Float = 0
        for j in 0..<n { rowDot += row[j] * pi[j] }
        for j in 0..<n { dSi[j] = pi[j] * (row[j] - rowDot) * scale }
      }
      // dQ = dS·K,  dK = dSᵀ·Q
      for i in 0..<n { weightedRowSum(dS + i * n, wStride: 1, count: n, rows: k, rowStride: 3 * d, width: dh, into: dq + i * 3 * d) }
      for j in 0..<n { weightedRowSum(dS + j, wStride: n, count: n, rows: q, rowStride: 3 * d, width: dh, into: dk + j * 3 * d) }
      task += workers
    }
  }
}

