// GEMM: the one kernel every layer of CLIP spends its time in (Linear, attention, patch embedding).
// The naive triple loop is the definition; `gemm` is the fast version tests hold to it.
//
//   C (M×N) = op(A) (M×K) · op(B) (K×N)  [+ C if accumulate]  [+ bias (N) broadcast over rows]
//
//   op(A)[i, p] = transA ? a[p*lda + i] : a[i*lda + p]
//   op(B)[p, j] = transB ? b[j*ldb + p] : b[p*ldb + j]
//
// PyTorch's Linear, y = x·Wᵀ + b with W stored (out, in), is `gemm(transB: true, bias: b)`.

import CPUFeatures

// MARK: - Definition

/// The definition of GEMM: three loops, accumulating in Float in order p = 0..<K.
public func gemmNaive(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  c: UnsafeMutablePointer<Float>, ldc: Int,
  accumulate: Bool = false, bias: UnsafePointer<Float>? = nil
) {
  for i in 0..<m {
    for j in 0..<n {
      var sum: Float = 0
      for p in 0..<k {
        let aip = transA ? a[p * lda + i] : a[i * lda + p]
        let bpj = transB ? b[j * ldb + p] : b[p * ldb + j]
        sum += aip * bpj
      }
      if let bias { sum += bias[j] }
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum
    }
  }
}

// MARK: - Fast GEMM: packed panels, a register-tile micro-kernel, cache blocking, threads

/// Block sizes. MR×NR is the register tile, chosen for the CPU at run time:
///   AVX-512 (32 zmm registers): 8 rows × 32 columns = 16 SIMD16<Float> accumulators;
///   AVX2 (16 ymm registers):    6 rows × 16 columns = 12 SIMD8<Float> accumulators + 2 B + 1 broadcast.
/// (An 8×32 SIMD16 tile on AVX2 needs 32 ymm accumulators and spills: measured 25 GFLOP/s.)
/// KC×NR floats of packed B sit in L1 while a sliver of packed A streams through;
/// MC×KC of packed A (96 KB) stays in L2.
public enum GEMMBlocking {
  public static let wide = clip_cpu_has_avx512f() == 1
  public static let mr = wide ? 8 : 6  // rows of C per micro-kernel call
  public static let nr = wide ? 32 : 16  // columns of C per micro-kernel call
  public static let kc = 256  // depth of one packed panel
  public static let mc = 96  // rows of A per packed block (multiple of mr)
  public static let nc = 384  // columns of C per task (multiple of nr)
}

/// The micro-kernel for this CPU's tile.
@inline(__always)
func microKernel(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                 c: UnsafeMutablePointer<Float>, ldc: Int, loadC: Bool, bias: UnsafePointer<Float>?) {
  if GEMMBlocking.wide {
    microKernel8x32(kc: kc, a: a, b: b, c: c, ldc: ldc, loadC: loadC, bias: bias)
  } else {
    microKernel6x16(kc: kc, a: a, b: b, c: c, ldc: ldc, loadC: loadC, bias: bias)
  }
}

/// Fast GEMM with the same contract as `gemmNaive` (results differ only by float summation order).
public func gemm(
  transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  c: UnsafeMutablePointer<Float>, ldc: Int,
  accumulate: Bool = false, bias: UnsafePointer<Float>? = nil,
  threads: Int? = nil
) {
  if m == 0 || n == 0 { return }
  if k == 0 {
    // op(A)·op(B) is all zeros: only the epilogue remains.
    for i in 0..<m {
      for j in 0..<n {
        let base = accumulate ? c[i * ldc + j] : 0
        c[i * ldc + j] = base + (bias?[j] ?? 0)
      }
    }
    return
  }
  let MR = GEMMBlocking.mr, NR = GEMMBlocking.nr
  let KC = GEMMBlocking.kc, NC = GEMMBlocking.nc
  let nPadded = (n + NR - 1) / NR * NR
  let nBlocks = (n + NC - 1) / NC
  let flops = 2.0 * Double(m) * Double(n) * Double(k)
  let threadsWanted = max(1, min(threads ?? kernelThreads, flops < 2e6 ? 1 : Int.max))
  // Few, tall-K products (a weight gradient: 128×128 from 4160 tokens) make few tiles: split M evenly
  // over the threads rather than leaving one thread 96 rows and the other 32.
  var MC = GEMMBlocking.mc
  if ((m + MC - 1) / MC) * nBlocks < 4 * threadsWanted {
    let share = (m + threadsWanted - 1) / threadsWanted
    MC = min(MC, max(MR, (share + MR - 1) / MR * MR))
  }
  let mBlocks = (m + MC - 1) / MC
  let tiles = mBlocks * nBlocks
  let workers = max(1, min(threadsWanted, tiles))

  // Sized to the problem, not the blocking: attention calls this for 65×65×32 products per head,
  // where 100 KB buffers cost more in malloc and page faults than the arithmetic.
  let kcMax = min(KC, k), mcMax = min(MC, (m + MR - 1) / MR * MR)
  if workers > 1 && tiles <= workers {
    // As many tiles as threads (a weight gradient: 128×128 summed over 4160 tokens): one dispatch
    // for the whole product, each thread walking every K panel of its own tile and packing its own
    // B columns. Two dispatches per K panel cost more than the panel's arithmetic here.
    let ncMax = min(NC, nPadded)
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: workers * (kcMax * ncMax + mcMax * kcMax))
    defer { scratch.deallocate() }
    parallelFor(workers) { worker in
      let packedB = scratch + worker * (kcMax * ncMax + mcMax * kcMax), packedA = packedB + kcMax * ncMax
      var tile = worker
      while tile < tiles {
        let ib = tile / nBlocks, jb = tile % nBlocks
        let i0 = ib * MC, mcCur = min(MC, m - i0)
        let j0 = jb * NC, ncCur = min(NC, n - j0)
        var pc = 0
        while pc < k {
          let kcCur = min(KC, k - pc)
          var s = 0
          while s * NR < ncCur {
            packB(transB: transB, b: b, ldb: ldb, rowStart: pc, depth: kcCur, columnStart: j0 + s * NR,
                  columns: min(NR, ncCur - s * NR), into: packedB + s * NR * kcCur)
            s += 1
          }
          packA(transA: transA, a: a, lda: lda, rowStart: i0, rows: mcCur, colStart: pc, depth: kcCur, into: packedA)
          macroKernel(packedA: packedA, packedB: packedB, mc: mcCur, nc: ncCur, kc: kcCur, c: c + i0 * ldc + j0, ldc: ldc,
                      loadC: accumulate || pc > 0, bias: pc == 0 ? bias.map { $0 + j0 } : nil)
          pc += kcCur
        }
        tile += workers
      }
    }
    return
  }
  let packedB = UnsafeMutablePointer<Float>.allocate(capacity: kcMax * nPadded)
  defer { packedB.deallocate() }
  let packedAAll = UnsafeMutablePointer<Float>.allocate(capacity: workers * mcMax * kcMax)
  defer { packedAAll.deallocate() }

  var pc = 0
  while pc < k {
    let kcCur = min(KC, k - pc)
    let first = pc == 0
    // Each worker packs every workers-th sliver of B: packing is memory-bound and would otherwise
    // be a serial phase as long as the compute for small M (197 tokens).
    let slivers = (n + NR - 1) / NR
    parallelFor(workers) { worker in
      var s = worker
      while s < slivers {
        packB(transB: transB, b: b, ldb: ldb, rowStart: pc, depth: kcCur, columnStart: s * NR,
              columns: min(NR, n - s * NR), into: packedB + s * NR * kcCur)
        s += workers
      }
    }
    let body = { (worker: Int) in
      let packedA = packedAAll + worker * mcMax * kcMax
      var tile = worker
      while tile < tiles {
        let ib = tile / nBlocks, jb = tile % nBlocks
        let i0 = ib * MC, mcCur = min(MC, m - i0)
        let j0 = jb * NC, ncCur = min(NC, n - j0)
        packA(transA: transA, a: a, lda: lda, rowStart: i0, rows: mcCur, colStart: pc, depth: kcCur,
              into: packedA)
        var jr = 0
        while jr < ncCur {
          let nrCur = min(NR, ncCur - jr)
          let bSliver = UnsafePointer(packedB + ((j0 + jr) / NR) * NR * kcCur)
          var ir = 0
          while ir < mcCur {
            let mrCur = min(MR, mcCur - ir)
            let aSliver = UnsafePointer(packedA + (ir / MR) * MR * kcCur)
            let cTile = c + (i0 + ir) * ldc + (j0 + jr)
            let loadC = accumulate || !first
            let tileBias: UnsafePointer<Float>? = first ? bias.map { $0 + j0 + jr } : nil
            if mrCur == MR && nrCur == NR {
              microKernel(kc: kcCur, a: aSliver, b: bSliver, c: cTile, ldc: ldc, loadC: loadC, bias: tileBias)
            } else {
              microKernelEdge(kc: kcCur, a: aSliver, b: bSliver, c: cTile, ldc: ldc, rows: mrCur, cols: nrCur,
                              loadC: loadC, bias: tileBias)
            }
            ir += MR
          }
          jr += NR
        }
        tile += workers
      }
    }
    parallelFor(workers, body)
    pc += kcCur
  }
}

/// The two inner loops over one packed block: C[mc, nc] (+)= packedA (mc × kc) · packedB (kc × nc)
/// in MR × NR micro-tiles, full tiles through the micro-kernel and the ragged edge through the edge one.
@inline(__always)
func macroKernel(packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>, mc: Int, nc: Int, kc: Int,
                 c: UnsafeMutablePointer<Float>, ldc: Int, loadC: Bool, bias: UnsafePointer<Float>?) {
  let MR = GEMMBlocking.mr, NR = GEMMBlocking.nr
  var jr = 0
  while jr < nc {
    let nrCur = min(NR, nc - jr)
    let bSliver = packedB + (jr / NR) * NR * kc
    var ir = 0
    while ir < mc {
      let mrCur = min(MR, mc - ir)
      let aSliver = packedA + (ir / MR) * MR * kc
      let cTile = c + ir * ldc + jr
      let tileBias = bias.map { $0 + jr }
      if mrCur == MR && nrCur == NR {
        microKernel(kc: kc, a: aSliver, b: bSliver, c: cTile, ldc: ldc, loadC: loadC, bias: tileBias)
      } else {
        microKernelEdge(kc: kc, a: aSliver, b: bSliver, c: cTile, ldc: ldc, rows: mrCur, cols: nrCur, loadC: loadC, bias: tileBias)
      }
      ir += MR
    }
    jr += NR
  }
}

// MARK: - Packing

/// Packs one NR-wide sliver of op(B): rows rowStart ..< rowStart+depth, columns
/// columnStart ..< columnStart+columns, stored p-major (NR contiguous floats per p), zero-padded.
@inline(__always)
func packB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, rowStart: Int, depth: Int, columnStart j0: Int,
           columns cols: Int, into dst: UnsafeMutablePointer<Float>) {
  let NR = GEMMBlocking.nr
  if !transB {
    for p in 0..<depth {
      let src = b + (rowStart + p) * ldb + j0
      let d = dst + p * NR
      if cols == NR {
        // NR is 16 or 32 floats: vector moves, not a memmove call per row.
        var j = 0
        while j < NR { store16(load16(src + j), d + j); j += 16 }
      } else {
        for j in 0..<cols { d[j] = src[j] }
        for j in cols..<NR { d[j] = 0 }
      }
    }
  } else {
    // op(B)[p, j] = b[j*ldb + p]: read each column of op(B) contiguously.
    if cols < NR { dst.initialize(repeating: 0, count: NR * depth) }
    for j in 0..<cols {
      let src = b + (j0 + j) * ldb + rowStart
      for p in 0..<depth { dst[p * NR + j] = src[p] }
    }
  }
}

/// Packs op(A)[rowStart ..< rowStart+rows, colStart ..< colStart+depth] into MR-tall slivers,
/// stored p-major (MR contiguous floats per p), zero-padded to a multiple of MR rows.
@inline(__always)
func packA(transA: Bool, a: UnsafePointer<Float>, lda: Int, rowStart: Int, rows: Int, colStart: Int,
           depth: Int, into packed: UnsafeMutablePointer<Float>) {
  let MR = GEMMBlocking.mr
  let slivers = (rows + MR - 1) / MR
  if transA {
    // op(A)[i, p] = a[p*lda + i]: row p of the stored matrix holds column p of op(A) for every
    // sliver. Read it once, contiguously, and deal it out to the slivers (reading sliver by sliver
    // instead strides through memory and stalled the weight-gradient products on L2 latency).
    let full = rows / MR
    for p in 0..<depth {
      let src = a + (colStart + p) * lda + rowStart
      for s in 0..<full {
        let d = packed + s * MR * depth + p * MR, from = src + s * MR
        for i in 0..<MR { d[i] = from[i] }
      }
      if full < slivers {
        let d = packed + full * MR * depth + p * MR, from = src + full * MR
        let r = rows - full * MR
        for i in 0..<r { d[i] = from[i] }
        for i in r..<MR { d[i] = 0 }
      }
    }
    return
  }
  for s in 0..<slivers {
    let i0 = s * MR
    let r = min(MR, rows - i0)
    let dst = packed + s * MR * depth
    if transA {
      // op(A)[i, p] = a[p*lda + i]: rows of the stored matrix are columns of op(A).
      for p in 0..<depth {
        let src = a + (colStart + p) * lda + rowStart + i0
        let d = dst + p * MR
        for i in 0..<r { d[i] = src[i] }
        for i in r..<MR { d[i] = 0 }
      }
    } else if r == MR && MR == 6 {
      // A full AVX2 sliver: read the six rows eight columns at a time and write them p-major.
      let r0 = a + (rowStart + i0) * lda + colStart
      let r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda
      var p = 0
      while p + 8 <= depth {
        let v0 = load8(r0 + p), v1 = load8(r1 + p), v2 = load8(r2 + p), v3 = load8(r3 + p), v4 = load8(r4 + p), v5 = load8(r5 + p)
        let d = dst + p * 6
        for q in 0..<8 {
          d[q * 6] = v0[q]; d[q * 6 + 1] = v1[q]; d[q * 6 + 2] = v2[q]
          d[q * 6 + 3] = v3[q]; d[q * 6 + 4] = v4[q]; d[q * 6 + 5] = v5[q]
        }
        p += 8
      }
      while p < depth {
        let d = dst + p * 6
        d[0] = r0[p]; d[1] = r1[p]; d[2] = r2[p]; d[3] = r3[p]; d[4] = r4[p]; d[5] = r5[p]
        p += 1
      }
    } else {
      if r < MR { dst.initialize(repeating: 0, count: MR * depth) }
      for i in 0..<r {
        let src = a + (rowStart + i0 + i) * lda + colStart
        for p in 0..<depth { dst[p * MR + i] = src[p] }
      }
    }
  }
}

// MARK: - Micro-kernels

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// C[0..<8, 0..<32] (+)= Apacked(8×kc) · Bpacked(kc×32) (+ bias). 16 accumulators live in registers;
/// each step loads two B vectors, broadcasts eight A values and issues sixteen FMAs.
@inline(never)
func microKernel8x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                     c: UnsafeMutablePointer<Float>, ldc: Int, loadC: Bool, bias: UnsafePointer<Float>?) {
  var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
  var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
  var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
  var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
  var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
  var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
  var c60 = SIMD16<Float>(), c61 = SIMD16<Float>()
  var c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
  var ap = a, bp = b
  for _ in 0..<kc {
    let b0 = load16(bp), b1 = load16(bp + 16)
    var av = SIMD16<Float>(repeating: ap[0])
    c00.addProduct(av, b0); c01.addProduct(av, b1)
    av = SIMD16<Float>(repeating: ap[1])
    c10.addProduct(av, b0); c11.addProduct(av, b1)
    av = SIMD16<Float>(repeating: ap[2])
    c20.addProduct(av, b0); c21.addProduct(av, b1)
    av = SIMD16<Float>(repeating: ap[3])
    c30.addProduct(av, b0); c31.addProduct(av, b1)
    av = SIMD16<Float>(repeating: ap[4])
    c40.addProduct(av, b0); c41.addProduct(av, b1)
    av = SIMD16<Float>(repeating: ap[5])
    c50.addProduct(av, b0); c51.addProduct(av, b1)
    av = SIMD16<Float>(repeating: ap[6])
    c60.addProduct(av, b0); c61.addProduct(av, b1)
    av = SIMD16<Float>(repeating: ap[7])
    c70.addProduct(av, b0); c71.addProduct(av, b1)
    ap += 8
    bp += 32
  }
  // Epilogue: bias (first K panel only) and accumulation into C.
  if let bias {
    let bias0 = load16(bias), bias1 = load16(bias + 16)
    c00 += bias0; c10 += bias0; c20 += bias0; c30 += bias0; c40 += bias0; c50 += bias0; c60 += bias0; c70 += bias0
    c01 += bias1; c11 += bias1; c21 += bias1; c31 += bias1; c41 += bias1; c51 += bias1; c61 += bias1; c71 += bias1
  }
  @inline(__always) func put(_ row: Int, _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
    let p = c + row * ldc
    if loadC {
      store16(load16(p) + v0, p)
      store16(load16(p + 16) + v1, p + 16)
    } else {
      store16(v0, p)
      store16(v1, p + 16)
    }
  }
  put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31)
  put(4, c40, c41); put(5, c50, c51); put(6, c60, c61); put(7, c70, c71)
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// C[0..<6, 0..<16] (+)= Apacked(6×kc) · Bpacked(kc×16) (+ bias), for AVX2: 12 SIMD8 accumulators,
/// two B vectors and one broadcast — 15 of the 16 ymm registers; each step issues twelve FMAs.
@inline(never)
func microKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                     c: UnsafeMutablePointer<Float>, ldc: Int, loadC: Bool, bias: UnsafePointer<Float>?) {
  var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
  var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
  var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
  var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
  var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
  var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
  var ap = a, bp = b
  for _ in 0..<kc {
    let b0 = load8(bp), b1 = load8(bp + 8)
    var av = SIMD8<Float>(repeating: ap[0])
    c00.addProduct(av, b0); c01.addProduct(av, b1)
    av = SIMD8<Float>(repeating: ap[1])
    c10.addProduct(av, b0); c11.addProduct(av, b1)
    av = SIMD8<Float>(repeating: ap[2])
    c20.addProduct(av, b0); c21.addProduct(av, b1)
    av = SIMD8<Float>(repeating: ap[3])
    c30.addProduct(av, b0); c31.addProduct(av, b1)
    av = SIMD8<Float>(repeating: ap[4])
    c40.addProduct(av, b0); c41.addProduct(av, b1)
    av = SIMD8<Float>(repeating: ap[5])
    c50.addProduct(av, b0); c51.addProduct(av, b1)
    ap += 6
    bp += 16
  }
  if let bias {
    let bias0 = load8(bias), bias1 = load8(bias + 8)
    c00 += bias0; c10 += bias0; c20 += bias0; c30 += bias0; c40 += bias0; c50 += bias0
    c01 += bias1; c11 += bias1; c21 += bias1; c31 += bias1; c41 += bias1; c51 += bias1
  }
  @inline(__always) func put(_ row: Int, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>) {
    let p = c + row * ldc
    if loadC {
      store8(load8(p) + v0, p)
      store8(load8(p + 8) + v1, p + 8)
    } else {
      store8(v0, p)
      store8(v1, p + 8)
    }
  }
  put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31); put(4, c40, c41); put(5, c50, c51)
}

/// The same product for a partial tile at the matrix edge (rows ≤ MR, cols ≤ NR): computed into a
/// full MR×NR scratch tile (the packed panels are zero-padded), then only the valid part is written.
@inline(never)
func microKernelEdge(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                     c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
                     loadC: Bool, bias: UnsafePointer<Float>?) {
  let MR = GEMMBlocking.mr, NR = GEMMBlocking.nr
  withUnsafeTemporaryAllocation(of: Float.self, capacity: MR * NR) { scratch in
    let t = scratch.baseAddress!
    microKernel(kc: kc, a: a, b: b, c: t, ldc: NR, loadC: false, bias: nil)
    for i in 0..<rows {
      for j in 0..<cols {
        var v = t[i * NR + j]
        if let bias { v += bias[j] }
        let dst = c + i * ldc + j
        dst.pointee = loadC ? dst.pointee + v : v
      }
    }
  }
}
