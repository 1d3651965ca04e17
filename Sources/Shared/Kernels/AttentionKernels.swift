// Attention per (batch, head): the fast loops behind MultiHeadAttention (Sources/Shared/Layers/
// Attention.swift holds the layer and the plain-loop definitions these are tested against).
// Every product here is a small GEMM with one operand already in place: S = Q·Kᵀ and dP = dO·Vᵀ
// against K or V packed transposed in an L1-sized scratch buffer; O = P·V, dV = Pᵀ·dO, dQ = dS·K,
// dK = dSᵀ·Q as weighted sums of rows. All six go through one tile, `fourWeightedRowSums`, register-tiled
// like the GEMM's micro-kernel: four rows of the output at once (`tileRows`), 32 columns (16 on AVX2), so
// one load of the shared operand feeds four FMAs and eight independent accumulators hide the FMA latency. For 17 to 197 tokens and
// 32- or 64-wide heads this beats calling the packed GEMM per head, whose packing of both operands
// and edge tiles cost more than the arithmetic (`bench attention-core` times them alone).

/// Rows of the output each tile computes at once.
let tileRows = 4

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
  // Row by row, reading each key's floats in order (a column-by-column loop became AVX-512 gathers: a fifth
  // of attention's forward on Zen 4).
  for j in 0..<count {
    let src = rows + j * rowStride
    var c = 0
    while c < width { packed[c * padded + j] = src[c]; c += 1 }
  }
  for c in 0..<width { for j in count..<padded { packed[c * padded + j] = 0 } }
}

/// The four-row tile every product here runs through:
///   out[r·outStride + c] = scale · Σ_j w[r·wRowStride + j·wStride] · rows[j·rowStride + c]   for r < 4, c < width.
/// O = P·V and dQ = dS·K take consecutive rows of weights (wRowStride n, wStride 1); dV = Pᵀ·dO and dK = dSᵀ·Q
/// consecutive columns (wRowStride 1, wStride n); S = Q·Kᵀ·scale and dP = dO·Vᵀ four rows of Q or dO against Kᵀ or
/// Vᵀ packed (wRowStride 3D, wStride 1, rows the packed matrix). Eight accumulators (4 rows × 32 columns) on
/// AVX-512; on AVX2, where a SIMD16 is two ymm registers, 4 rows × 16 columns keep them in the 16 registers.
@inline(__always)
func fourWeightedRowSums(_ w: UnsafePointer<Float>, wRowStride: Int, wStride: Int, count: Int, rows: UnsafePointer<Float>, rowStride: Int,
                         width: Int, scale: Float = 1, into out: UnsafeMutablePointer<Float>, outStride: Int, wide: Bool) {
  let sv = SIMD16<Float>(repeating: scale)
  let w0 = w, w1 = w + wRowStride, w2 = w + 2 * wRowStride, w3 = w + 3 * wRowStride
  let o0 = out, o1 = out + outStride, o2 = out + 2 * outStride, o3 = out + 3 * outStride
  var c = 0
  if wide {
    while c + 32 <= width {
      var a00 = SIMD16<Float>(), a01 = SIMD16<Float>(), a10 = SIMD16<Float>(), a11 = SIMD16<Float>()
      var a20 = SIMD16<Float>(), a21 = SIMD16<Float>(), a30 = SIMD16<Float>(), a31 = SIMD16<Float>()
      for j in 0..<count {
        let r = rows + j * rowStride + c, o = j * wStride
        let b0 = load16(r), b1 = load16(r + 16)
        let v0 = SIMD16<Float>(repeating: w0[o]), v1 = SIMD16<Float>(repeating: w1[o])
        let v2 = SIMD16<Float>(repeating: w2[o]), v3 = SIMD16<Float>(repeating: w3[o])
        a00.addProduct(v0, b0); a01.addProduct(v0, b1)
        a10.addProduct(v1, b0); a11.addProduct(v1, b1)
        a20.addProduct(v2, b0); a21.addProduct(v2, b1)
        a30.addProduct(v3, b0); a31.addProduct(v3, b1)
      }
      store16(a00 * sv, o0 + c); store16(a01 * sv, o0 + c + 16)
      store16(a10 * sv, o1 + c); store16(a11 * sv, o1 + c + 16)
      store16(a20 * sv, o2 + c); store16(a21 * sv, o2 + c + 16)
      store16(a30 * sv, o3 + c); store16(a31 * sv, o3 + c + 16)
      c += 32
    }
  }
  while c + 16 <= width {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    for j in 0..<count {
      let b0 = load16(rows + j * rowStride + c), o = j * wStride
      a0.addProduct(SIMD16<Float>(repeating: w0[o]), b0)
      a1.addProduct(SIMD16<Float>(repeating: w1[o]), b0)
      a2.addProduct(SIMD16<Float>(repeating: w2[o]), b0)
      a3.addProduct(SIMD16<Float>(repeating: w3[o]), b0)
    }
    store16(a0 * sv, o0 + c); store16(a1 * sv, o1 + c); store16(a2 * sv, o2 + c); store16(a3 * sv, o3 + c)
    c += 16
  }
  if c < width {  // a head width that is not a multiple of 16: the rest one row at a time
    for r in 0..<tileRows {
      let o = out + r * outStride + c
      weightedRowSum(w + r * wRowStride, wStride: wStride, count: count, rows: rows + c, rowStride: rowStride, width: width - c, into: o)
      if scale != 1 { for t in 0..<(width - c) { o[t] *= scale } }
    }
  }
}

/// Where one (batch, head) task finds its rows in the fused (B, N, 3D) activations: row i of Q at
/// q + i·3D, of K at k + i·3D, of V at v + i·3D; its (N, N) probabilities at p.
struct HeadLayout {
  let n: Int, d: Int, dh: Int, scale: Float
  /// 4 × 32 tiles (AVX-512) or 4 × 16 (AVX2).
  let wide: Bool
  init(tokens n: Int, width d: Int, heads h: Int, wide: Bool) {
    (self.n, self.d, dh, scale, self.wide) = (n, d, d / h, 1 / Float(d / h).squareRoot(), wide)
  }
  /// Floats of scratch one worker needs: a transposed K or V (Dh × padded N), one tile of rows, and the (N, N) dS.
  var padded: Int { (n + 15) / 16 * 16 }
  var scratch: Int { dh * padded + tileRows * padded + n * n }
}

/// Runs `body(task, scratch)` for the tasks 0..<count, spread over the kernel threads (worker w takes
/// tasks w, w + workers, …), each worker with its own `perWorker` floats of scratch. Under 2 MFLOP in all
/// (17 tokens × 4 heads × 8 images: 1.2 MFLOP, 70 µs) one thread does it: waking a second cost more.
func forEachTask(_ count: Int, flop: Double, scratchPerWorker perWorker: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
  let workers = flop < 2e6 ? 1 : max(1, min(count, kernelThreads))
  let scratch = UnsafeMutablePointer<Float>.allocate(capacity: workers * perWorker)
  defer { scratch.deallocate() }
  parallelFor(workers) { worker in
    for task in stride(from: worker, to: count, by: workers) { body(task, scratch + worker * perWorker) }
  }
}

/// Calls `tile(i)` for i = 0, 4, 8, … while four rows remain, then `row(i)` for each row left over.
@inline(__always)
func inTiles(_ n: Int, tile: (Int) -> Void, row: (Int) -> Void) {
  var i = 0
  while i + tileRows <= n { tile(i); i += tileRows }
  while i < n { row(i); i += 1 }
}

/// One head's forward: S = Q·Kᵀ·scale + mask (+ the causal mask, keys j > i), P = softmax(S) row by row, O = P·V into its columns of
/// the context. Kᵀ is packed once into `scratch`, where it stays in L1; S is computed four rows at a time into a tile of scratch.
/// Causal without a key mask, a tile computes only the keys up to its last query (S + mask there is the mask itself, to the bit,
/// for any score under 10³¹) and mixes only their values (the probabilities after them are exactly 0).
@inline(__always)
func attentionHeadForward(_ l: HeadLayout, q: UnsafePointer<Float>, keyMask: UnsafePointer<Float>?, causal: Bool, p: UnsafeMutablePointer<Float>,
                          context: UnsafeMutablePointer<Float>, contextStride: Int, scratch: UnsafeMutablePointer<Float>) {
  let n = l.n, k = q + l.d, v = q + 2 * l.d, stride = 3 * l.d
  let kt = scratch, tile = kt + l.dh * l.padded
  packTransposed(k, rowStride: stride, count: n, width: l.dh, padded: l.padded, into: kt)
  let skipFuture = causal && keyMask == nil
  /// Mask, softmax and store the scores of query i, held at `row` with its first `computed` keys filled in.
  func finish(_ i: Int, _ row: UnsafeMutablePointer<Float>, computed: Int) {
    if let keyMask { for j in 0..<n where keyMask[j] == 0 { row[j] += attentionMaskedScore } }
    if causal {  // keys after the query, unless the key mask already masked them (the definition adds the mask once)
      if let keyMask {
        for j in (i + 1)..<max(i + 1, n) where keyMask[j] != 0 { row[j] += attentionMaskedScore }
      } else {
        for j in (i + 1)..<max(i + 1, n) { row[j] = j < computed ? row[j] + attentionMaskedScore : attentionMaskedScore }
      }
    }
    softmaxRow(row, p + i * n, dim: n)
  }
  inTiles(n, tile: { i in
    let keys = skipFuture ? min(n, i + tileRows) : n
    let columns = (keys + 15) / 16 * 16
    fourWeightedRowSums(q + i * stride, wRowStride: stride, wStride: 1, count: l.dh, rows: kt, rowStride: l.padded, width: columns,
                        scale: l.scale, into: tile, outStride: l.padded, wide: l.wide)
    for r in 0..<tileRows { finish(i + r, tile + r * l.padded, computed: columns) }
    fourWeightedRowSums(p + i * n, wRowStride: n, wStride: 1, count: keys, rows: v, rowStride: stride, width: l.dh,
                        into: context + i * contextStride, outStride: contextStride, wide: l.wide)
  }, row: { i in
    rowTimesPacked(q + i * stride, depth: l.dh, packed: kt, padded: l.padded, into: tile)
    for j in 0..<n { tile[j] *= l.scale }
    finish(i, tile, computed: l.padded)
    weightedRowSum(p + i * n, wStride: 1, count: n, rows: v, rowStride: stride, width: l.dh, into: context + i * contextStride)
  })
}

/// One head's backward, into its columns of dqkv:
///   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale,  dQ = dS·K,  dK = dSᵀ·Q
@inline(__always)
func attentionHeadBackward(_ l: HeadLayout, q: UnsafePointer<Float>, p: UnsafePointer<Float>, dO: UnsafePointer<Float>, dOStride: Int,
                           dq: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
  let n = l.n, k = q + l.d, v = q + 2 * l.d, dk = dq + l.d, dv = dq + 2 * l.d, stride = 3 * l.d
  let vt = scratch, tile = vt + l.dh * l.padded, dS = tile + tileRows * l.padded
  // dV = Pᵀ·dO: row j of dV weighs the rows of dO by column j of P
  inTiles(n, tile: { j in
    fourWeightedRowSums(p + j, wRowStride: 1, wStride: n, count: n, rows: dO, rowStride: dOStride, width: l.dh, into: dv + j * stride,
                        outStride: stride, wide: l.wide)
  }, row: { j in
    weightedRowSum(p + j, wStride: n, count: n, rows: dO, rowStride: dOStride, width: l.dh, into: dv + j * stride)
  })
  // dP = dO·Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale
  packTransposed(v, rowStride: stride, count: n, width: l.dh, padded: l.padded, into: vt)
  func scores(_ i: Int, _ row: UnsafePointer<Float>) {
    let pi = p + i * n, dSi = dS + i * n
    var rowDot: Float = 0
    for j in 0..<n { rowDot += row[j] * pi[j] }
    for j in 0..<n { dSi[j] = pi[j] * (row[j] - rowDot) * l.scale }
  }
  inTiles(n, tile: { i in
    fourWeightedRowSums(dO + i * dOStride, wRowStride: dOStride, wStride: 1, count: l.dh, rows: vt, rowStride: l.padded, width: l.padded,
                        into: tile, outStride: l.padded, wide: l.wide)
    for r in 0..<tileRows { scores(i + r, tile + r * l.padded) }
  }, row: { i in
    rowTimesPacked(dO + i * dOStride, depth: l.dh, packed: vt, padded: l.padded, into: tile)
    scores(i, tile)
  })
  // dQ = dS·K,  dK = dSᵀ·Q
  inTiles(n, tile: { i in
    fourWeightedRowSums(dS + i * n, wRowStride: n, wStride: 1, count: n, rows: k, rowStride: stride, width: l.dh, into: dq + i * stride,
                        outStride: stride, wide: l.wide)
  }, row: { i in
    weightedRowSum(dS + i * n, wStride: 1, count: n, rows: k, rowStride: stride, width: l.dh, into: dq + i * stride)
  })
  inTiles(n, tile: { j in
    fourWeightedRowSums(dS + j, wRowStride: 1, wStride: n, count: n, rows: q, rowStride: stride, width: l.dh, into: dk + j * stride,
                        outStride: stride, wide: l.wide)
  }, row: { j in
    weightedRowSum(dS + j, wStride: n, count: n, rows: q, rowStride: stride, width: l.dh, into: dk + j * stride)
  })
}

/// The fast forward over all (batch, head) tasks: the same maths as `MultiHeadAttention.forwardDefinition`.
/// `wideTiles` picks the tile shape (this CPU's by default; a test runs the other one too).
/// qkv (B, N, 3D), keyMask (B, N) or nil, probs (B, H, N, N) and context (B, N, D) written.
public func attentionHeadsForward(qkv: UnsafePointer<Float>, batch b: Int, tokens n: Int, width d: Int, heads h: Int,
                                  keyMask: UnsafePointer<Float>?, causal: Bool = false, probs: UnsafeMutablePointer<Float>,
                                  context: UnsafeMutablePointer<Float>, wideTiles: Bool = GEMMBlocking.wide) {
  let l = HeadLayout(tokens: n, width: d, heads: h, wide: wideTiles)
  forEachTask(b * h, flop: 4 * Double(b * n * n * d), scratchPerWorker: l.scratch) { task, scratch in
    let bi = task / h, hi = task % h
    attentionHeadForward(l, q: qkv + bi * n * 3 * d + hi * l.dh, keyMask: keyMask.map { $0 + bi * n }, causal: causal, p: probs + task * n * n,
                         context: context + bi * n * d + hi * l.dh, contextStride: d, scratch: scratch)
  }
}

/// The fast backward over all (batch, head) tasks: the same maths as `MultiHeadAttention.backwardDefinition`.
/// dqkv (B, N, 3D) is overwritten with dQ, dK, dV.
public func attentionHeadsBackward(qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>, dContext: UnsafePointer<Float>,
                                   batch b: Int, tokens n: Int, width d: Int, heads h: Int, dqkv: UnsafeMutablePointer<Float>,
                                   wideTiles: Bool = GEMMBlocking.wide) {
  let l = HeadLayout(tokens: n, width: d, heads: h, wide: wideTiles)
  forEachTask(b * h, flop: 4 * Double(b * n * n * d), scratchPerWorker: l.scratch) { task, scratch in
    let bi = task / h, hi = task % h
    attentionHeadBackward(l, q: qkv + bi * n * 3 * d + hi * l.dh, p: probs + task * n * n, dO: dContext + bi * n * d + hi * l.dh,
                          dOStride: d, dq: dqkv + bi * n * 3 * d + hi * l.dh, scratch: scratch)
  }
}
