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

/// Where one (batch, head) task finds its rows in the fused (B, N, 3D) activations: row i of Q at
/// q + i·3D, of K at k + i·3D, of V at v + i·3D; its (N, N) probabilities at p.
struct HeadLayout {
  let n: Int, d: Int, dh: Int, scale: Float
  init(tokens n: Int, width d: Int, heads h: Int) { (self.n, self.d, dh, scale) = (n, d, d / h, 1 / Float(d / h).squareRoot()) }
  /// Floats of scratch one worker needs: a transposed K or V (Dh × padded N), one row, and the (N, N) dS.
  var padded: Int { (n + 15) / 16 * 16 }
  var scratch: Int { dh * padded + padded + n * n }
}

/// Runs `body(task, scratch)` for the tasks 0..<count, spread over the kernel threads (worker w takes
/// tasks w, w + workers, …), each worker with its own `perWorker` floats of scratch.
func forEachTask(_ count: Int, scratchPerWorker perWorker: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
  let workers = max(1, min(count, kernelThreads))
  let scratch = UnsafeMutablePointer<Float>.allocate(capacity: workers * perWorker)
  defer { scratch.deallocate() }
  parallelFor(workers) { worker in
    for task in stride(from: worker, to: count, by: workers) { body(task, scratch + worker * perWorker) }
  }
}

/// One head's forward: S = Q·Kᵀ·scale + mask (+ the causal mask, keys j > i), P = softmax(S) row by row, O = P·V into its columns of
/// the context. Kᵀ is packed once into `scratch`, where it stays in L1.
@inline(__always)
func attentionHeadForward(_ l: HeadLayout, q: UnsafePointer<Float>, keyMask: UnsafePointer<Float>?, causal: Bool, p: UnsafeMutablePointer<Float>,
                          context: UnsafeMutablePointer<Float>, contextStride: Int, scratch: UnsafeMutablePointer<Float>) {
  let n = l.n, k = q + l.d, v = q + 2 * l.d
  let kt = scratch, row = kt + l.dh * l.padded
  packTransposed(k, rowStride: 3 * l.d, count: n, width: l.dh, padded: l.padded, into: kt)
  for i in 0..<n {
    rowTimesPacked(q + i * 3 * l.d, depth: l.dh, packed: kt, padded: l.padded, into: row)
    for j in 0..<n { row[j] *= l.scale }
    if let keyMask { for j in 0..<n where keyMask[j] == 0 { row[j] += attentionMaskedScore } }
    if causal { for j in (i + 1)..<max(i + 1, n) { row[j] += attentionMaskedScore } }  // keys after the query
    softmaxRow(row, p + i * n, dim: n)
    weightedRowSum(p + i * n, wStride: 1, count: n, rows: v, rowStride: 3 * l.d, width: l.dh, into: context + i * contextStride)
  }
}

/// One head's backward, into its columns of dqkv:
///   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale,  dQ = dS·K,  dK = dSᵀ·Q
@inline(__always)
func attentionHeadBackward(_ l: HeadLayout, q: UnsafePointer<Float>, p: UnsafePointer<Float>, dO: UnsafePointer<Float>, dOStride: Int,
                           dq: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
  let n = l.n, k = q + l.d, v = q + 2 * l.d, dk = dq + l.d, dv = dq + 2 * l.d
  let vt = scratch, row = vt + l.dh * l.padded, dS = row + l.padded
  // dV = Pᵀ·dO: row j of dV weighs the rows of dO by column j of P
  for j in 0..<n { weightedRowSum(p + j, wStride: n, count: n, rows: dO, rowStride: dOStride, width: l.dh, into: dv + j * 3 * l.d) }
  // dP = dO·Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale
  packTransposed(v, rowStride: 3 * l.d, count: n, width: l.dh, padded: l.padded, into: vt)
  for i in 0..<n {
    rowTimesPacked(dO + i * dOStride, depth: l.dh, packed: vt, padded: l.padded, into: row)
    let pi = p + i * n, dSi = dS + i * n
    var rowDot: Float = 0
    for j in 0..<n { rowDot += row[j] * pi[j] }
    for j in 0..<n { dSi[j] = pi[j] * (row[j] - rowDot) * l.scale }
  }
  // dQ = dS·K,  dK = dSᵀ·Q
  for i in 0..<n { weightedRowSum(dS + i * n, wStride: 1, count: n, rows: k, rowStride: 3 * l.d, width: l.dh, into: dq + i * 3 * l.d) }
  for j in 0..<n { weightedRowSum(dS + j, wStride: n, count: n, rows: q, rowStride: 3 * l.d, width: l.dh, into: dk + j * 3 * l.d) }
}

/// The fast forward over all (batch, head) tasks: the same maths as `MultiHeadAttention.forwardDefinition`.
/// qkv (B, N, 3D), keyMask (B, N) or nil, probs (B, H, N, N) and context (B, N, D) written.
public func attentionHeadsForward(qkv: UnsafePointer<Float>, batch b: Int, tokens n: Int, width d: Int, heads h: Int,
                                  keyMask: UnsafePointer<Float>?, causal: Bool = false, probs: UnsafeMutablePointer<Float>,
                                  context: UnsafeMutablePointer<Float>) {
  let l = HeadLayout(tokens: n, width: d, heads: h)
  forEachTask(b * h, scratchPerWorker: l.scratch) { task, scratch in
    let bi = task / h, hi = task % h
    attentionHeadForward(l, q: qkv + bi * n * 3 * d + hi * l.dh, keyMask: keyMask.map { $0 + bi * n }, causal: causal, p: probs + task * n * n,
                         context: context + bi * n * d + hi * l.dh, contextStride: d, scratch: scratch)
  }
}

/// The fast backward over all (batch, head) tasks: the same maths as `MultiHeadAttention.backwardDefinition`.
/// dqkv (B, N, 3D) is overwritten with dQ, dK, dV.
public func attentionHeadsBackward(qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>, dContext: UnsafePointer<Float>,
                                   batch b: Int, tokens n: Int, width d: Int, heads h: Int, dqkv: UnsafeMutablePointer<Float>) {
  let l = HeadLayout(tokens: n, width: d, heads: h)
  forEachTask(b * h, scratchPerWorker: l.scratch) { task, scratch in
    let bi = task / h, hi = task % h
    attentionHeadBackward(l, q: qkv + bi * n * 3 * d + hi * l.dh, p: probs + task * n * n, dO: dContext + bi * n * d + hi * l.dh,
                          dOStride: d, dq: dqkv + bi * n * 3 * d + hi * l.dh, scratch: scratch)
  }
}
