// Row-wise kernels of the transformer layers: LayerNorm, softmax and GELU, SIMD and row-parallel. Their
// definitions (plain loops, which the tests hold these to) are in the layer files: Layers/LayerNorm.swift,
// Softmax.swift, GELU.swift.
//
//   R rows, D features per row; x and y are (R, D) row-major.

import Foundation

/// Rows per parallel task: enough work per task to be worth a thread hop.
@inline(__always)
func rowChunks(rows: Int, cols: Int) -> (tasks: Int, rowsPerTask: Int) {
  let work = rows * cols
  let workers = work < 32_768 ? 1 : max(1, min(kernelThreads, rows))
  let perTask = (rows + workers - 1) / max(workers, 1)
  return (rows == 0 ? 0 : (rows + perTask - 1) / perTask, perTask)
}

/// Runs body(rowStart, rowEnd) over [0, rows) in parallel chunks.
@inline(__always)
func parallelRows(_ rows: Int, cols: Int, _ body: (Int, Int) -> Void) {
  let (tasks, per) = rowChunks(rows: rows, cols: cols)
  parallelFor(tasks) { t in body(t * per, min(rows, (t + 1) * per)) }
}

// MARK: - LayerNorm

/// Fast LayerNorm: two passes per row in SIMD16 Float (mean; then corrected mean and variance), rows in parallel.
public func layerNorm(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>,
                      bias: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float,
                      mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
  parallelRows(rows, cols: dim) { r0, r1 in
    for r in r0..<r1 {
      let row = x + r * dim
      let out = y + r * dim
      var acc = SIMD16<Float>()
      var i = 0
      while i + 16 <= dim { acc += load16(row + i); i += 16 }
      var s = horizontalSum(acc)
      while i < dim { s += row[i]; i += 1 }
      let m0 = s / Float(dim)
      // Second pass over deviations from the first estimate: Σd corrects the mean's rounding error
      // (large offsets, e.g. 1e4 + noise, lose digits in the plain sum), Σd² gives the variance.
      var accD = SIMD16<Float>(), accD2 = SIMD16<Float>()
      let m0v = SIMD16<Float>(repeating: m0)
      i = 0
      while i + 16 <= dim { let d = load16(row + i) - m0v; accD += d; accD2.addProduct(d, d); i += 16 }
      var sd = horizontalSum(accD), sd2 = horizontalSum(accD2)
      while i < dim { let d = row[i] - m0; sd += d; sd2 += d * d; i += 1 }
      let correction = sd / Float(dim)
      let m = m0 + correction
      let mv = SIMD16<Float>(repeating: m)
      let v = max(0, sd2 / Float(dim) - correction * correction)
      let rs = 1 / (v + eps).squareRoot()
      let rv = SIMD16<Float>(repeating: rs)
      i = 0
      while i + 16 <= dim {
        store16(((load16(row + i) - mv) * rv) * load16(weight + i) + load16(bias + i), out + i)
        i += 16
      }
      while i < dim { out[i] = ((row[i] - m) * rs) * weight[i] + bias[i]; i += 1 }
      mean[r] = m
      rstd[r] = rs
    }
  }
}

// MARK: - Softmax

/// One row of softmax with SIMD max, exp and sum (in place allowed).
@inline(__always)
public func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, dim: Int) {
  // The row maximum, 16 lanes at a time with a compare and blend (the standard library's `pointwiseMax`
  // goes lane by lane; a scalar loop was a fifth of attention's forward at 197 tokens). The same pass
  // probes for NaN and ±∞ with v·0 (0 for a finite v, NaN otherwise; one FMA per 16 floats, cheaper than a
  // mask): a row with a NaN is NaN everywhere, as the definition makes it (expSIMD's clamps would turn a
  // NaN into a tiny number and the row into finite, wrong probabilities).
  var i = 0
  var mv = SIMD16<Float>(repeating: -.infinity), probe = SIMD16<Float>()
  let zero = SIMD16<Float>()
  while i + 16 <= dim {
    let v = load16(x + i)
    mv.replace(with: v, where: v .> mv)
    probe.addProduct(v, zero)
    i += 16
  }
  var mx = mv.max()
  var special = probe.sum().isNaN
  while i < dim { if x[i] > mx { mx = x[i] }; if !x[i].isFinite { special = true }; i += 1 }
  if special && ((0..<dim).contains { x[$0].isNaN } || mx == .infinity) {  // (+∞ − +∞ is NaN in the definition too)
    for j in 0..<dim { y[j] = .nan }
    return
  }
  if mx == -.infinity {  // a fully masked row: zeros
    for j in 0..<dim { y[j] = 0 }
    return
  }
  let m = SIMD16<Float>(repeating: mx)
  var sv = SIMD16<Float>()
  i = 0
  while i + 16 <= dim {
    let e = expSIMD(load16(x + i) - m)
    store16(e, y + i)
    sv += e
    i += 16
  }
  var s = horizontalSum(sv)
  if i < dim {  // the tail, padded with −∞ (exp → 0), through a 16-float buffer rather than lane inserts
    var buffer = (SIMD16<Float>(repeating: -.infinity))
    withUnsafeMutableBytes(of: &buffer) { raw in
      let lanes = raw.baseAddress!.assumingMemoryBound(to: Float.self)
      for j in i..<dim { lanes[j - i] = x[j] }
    }
    let e = expSIMD(buffer - m)
    s += horizontalSum(e)
    withUnsafeBytes(of: e) { raw in
      let lanes = raw.baseAddress!.assumingMemoryBound(to: Float.self)
      for j in i..<dim { y[j] = lanes[j - i] }
    }
  }
  let inv = 1 / s
  i = 0
  while i + 16 <= dim { store16(load16(y + i) * inv, y + i); i += 16 }
  while i < dim { y[i] *= inv; i += 1 }
}

/// Row-parallel SIMD softmax (in place allowed: x == y).
public func softmax(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int, dim: Int) {
  parallelRows(rows, cols: dim) { r0, r1 in
    for r in r0..<r1 { softmaxRow(x + r * dim, y + r * dim, dim: dim) }
  }
}

// MARK: - GELU

/// 0..<count in runs of 16,384 elements spread over the threads: `body(start, end)` per run (the
/// elementwise kernels below: GELU and QuickGELU, forward and backward).
@inline(__always)
func parallelChunks(_ count: Int, _ body: (Int, Int) -> Void) {
  let chunk = 16_384
  parallelRows((count + chunk - 1) / chunk, cols: chunk) { c0, c1 in body(c0 * chunk, min(count, c1 * chunk)) }
}

/// Parallel SIMD GELU over a buffer.
public func gelu(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
  parallelChunks(count) { start, end in
    var i = start
    while i + 16 <= end { store16(geluSIMD(load16(x + i)), y + i); i += 16 }
    if i < end {
      var tail = SIMD16<Float>()
      for j in i..<end { tail[j - i] = x[j] }
      let g = geluSIMD(tail)
      for j in i..<end { y[j] = g[j - i] }
    }
  }
}

// MARK: - QuickGELU

/// OpenAI CLIP's QuickGELU: x · σ(1.702 x), a sigmoid stand-in for GELU's Φ.
@inline(__always)
func quickGELUScalar(_ x: Float) -> Float {
  x / (1 + Foundation.exp(-1.702 * x))
}

/// Parallel SIMD QuickGELU over a buffer.
public func quickGELU(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
  parallelChunks(count) { start, end in
    var i = start
    while i + 16 <= end {
      let v = load16(x + i)
      store16(v / (1 + expSIMD(v * -1.702)), y + i)
      i += 16
    }
    while i < end { y[i] = quickGELUScalar(x[i]); i += 1 }
  }
}

/// QuickGELU backward: with s = σ(1.702 x), d/dx [x·s] = s + 1.702 · x · s · (1 − s).
public func quickGELUBackward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
  parallelChunks(count) { start, end in
    var i = start
    while i + 16 <= end {
      let v = load16(x + i)
      let s = 1 / (1 + expSIMD(v * -1.702))
      store16(load16(dy + i) * (s + 1.702 * v * s * (1 - s)), dx + i)
      i += 16
    }
    while i < end {
      let s = 1 / (1 + Foundation.exp(-1.702 * x[i]))
      dx[i] = dy[i] * (s + 1.702 * x[i] * s * (1 - s))
      i += 1
    }
  }
}

// MARK: - Backward kernels

/// LayerNorm backward over a run of rows, serially (the maths: Layers/LayerNorm.swift; the parallel
/// kernel below gives each task its rows and its own dw, db):
///   dw += Σ_rows dy·x̂,  db += Σ_rows dy,  dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂·x̂)),  dx̂ = dy·w
func layerNormBackwardRows(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                   mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int,
                                   dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                   dBias: UnsafeMutablePointer<Float>) {
  for r in 0..<rows {
    let xr = x + r * dim, dyr = dy + r * dim, dxr = dx + r * dim
    var sumD: Float = 0, sumDX: Float = 0
    for i in 0..<dim {
      let xhat = (xr[i] - mean[r]) * rstd[r]
      let d = dyr[i] * weight[i]
      sumD += d
      sumDX += d * xhat
      dWeight[i] += dyr[i] * xhat
      dBias[i] += dyr[i]
    }
    let meanD = sumD / Float(dim), meanDX = sumDX / Float(dim)
    for i in 0..<dim {
      let xhat = (xr[i] - mean[r]) * rstd[r]
      dxr[i] = rstd[r] * (dyr[i] * weight[i] - meanD - xhat * meanDX)
    }
  }
}

/// Row-parallel LayerNorm backward: each task accumulates dw, db into its own buffer, summed at the end.
public func layerNormBackward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int,
                              dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                              dBias: UnsafeMutablePointer<Float>) {
  let (tasks, per) = rowChunks(rows: rows, cols: dim)
  if tasks <= 1 {
    layerNormBackwardRows(dy: dy, x: x, weight: weight, mean: mean, rstd: rstd, rows: rows, dim: dim, dx: dx,
                           dWeight: dWeight, dBias: dBias)
    return
  }
  let partial = UnsafeMutablePointer<Float>.allocate(capacity: tasks * 2 * dim)
  partial.initialize(repeating: 0, count: tasks * 2 * dim)
  defer { partial.deallocate() }
  parallelFor(tasks) { t in
    let r0 = t * per, r1 = min(rows, (t + 1) * per)
    layerNormBackwardRows(dy: dy + r0 * dim, x: x + r0 * dim, weight: weight, mean: mean + r0, rstd: rstd + r0,
                           rows: r1 - r0, dim: dim, dx: dx + r0 * dim, dWeight: partial + t * 2 * dim,
                           dBias: partial + t * 2 * dim + dim)
  }
  for t in 0..<tasks {
    for i in 0..<dim {
      dWeight[i] += partial[t * 2 * dim + i]
      dBias[i] += partial[t * 2 * dim + dim + i]
    }
  }
}

/// Softmax backward, given the forward output p: dx = p ⊙ (dp − Σ_j dp_j·p_j) per row, rows in
/// parallel (the maths: Layers/Softmax.swift). In place allowed.
public func softmaxBackward(dp: UnsafePointer<Float>, p: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                            rows: Int, dim: Int) {
  parallelRows(rows, cols: dim) { r0, r1 in
    for r in r0..<r1 {
      let pr = p + r * dim, dpr = dp + r * dim, dxr = dx + r * dim
      var dot: Float = 0
      for i in 0..<dim { dot += dpr[i] * pr[i] }
      for i in 0..<dim { dxr[i] = pr[i] * (dpr[i] - dot) }
    }
  }
}

/// GELU's derivative: d/dx [x·Φ(x)] = Φ(x) + x·φ(x), φ the standard normal density.
@inline(__always)
func geluDerivative(_ x: Float) -> Float {
  let cdf = 0.5 * (1 + Foundation.erf(x * Float(0.70710678118654752440)))
  let pdf = Foundation.exp(-0.5 * x * x) * Float(0.39894228040143267794)
  return cdf + x * pdf
}

/// GELU backward: dx = dy · gelu'(x), SIMD, in parallel chunks.
public func geluBackward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
  parallelChunks(count) { start, end in
    var i = start
    while i + 16 <= end { store16(load16(dy + i) * geluDerivativeSIMD(load16(x + i)), dx + i); i += 16 }
    while i < end { dx[i] = dy[i] * geluDerivative(x[i]); i += 1 }
  }
}

/// out[j] += Σ_r x[r, j]: the bias gradient of a Linear layer (dbias = column sums of dy).
public func addColumnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
  for r in 0..<rows {
    let row = x + r * cols
    var j = 0
    while j + 16 <= cols { store16(load16(out + j) + load16(row + j), out + j); j += 16 }
    while j < cols { out[j] += row[j]; j += 1 }
  }
}

/// y = a + b elementwise (the residual connections), in parallel chunks.
public func addVectors(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
  let chunk = 65_536
  parallelRows((count + chunk - 1) / chunk, cols: chunk) { c0, c1 in
    var i = c0 * chunk
    let end = min(count, c1 * chunk)
    while i + 16 <= end { store16(load16(a + i) + load16(b + i), y + i); i += 16 }
    while i < end { y[i] = a[i] + b[i]; i += 1 }
  }
}
