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
  /// Up to this many rows, a Linear layer's product skips packing (`gemmSkinny`; `gemm(…, skinnyRows:)` overrides it). `bench gemm-small`,
  /// packed → skinny, one thread, on Zen 4 (AVX-512) after round three's packing: 12×2304×768 1.07 → 0.49 ms;
  /// 50 rows 2.37 → 2.07 ms; 64 rows 2.56 → 2.55 (even); from 96 rows on the packed kernel is faster.
  /// (Round two, AVX2 EPYC, before it: 12 rows 3.1 → 0.7, 50 rows 4.9 → 3.5, 64 rows 7.6 → 5.5 ms.)
  public static let skinnyRows = 64
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
  threads: Int? = nil, skinnyRows: Int = GEMMBlocking.skinnyRows
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
  if transB && !transA && m <= skinnyRows {
    gemmSkinny(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate, bias: bias,
               threads: threads ?? kernelThreads)
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
  // Every other product: each worker owns a block of C for the whole product and walks every K panel
  // over it, packing the panels of A and B it needs itself: one dispatch per product, no barrier
  // between packing and computing. (Packing B together and then computing cost two dispatches per K
  // panel: 24 for a 197×3072×768 product, about 5% of it in the scheduler.)
  //   Many row blocks (a batch of images, 1,576 tokens): the workers split the rows; each packs all of B
  //   per panel, which is cheap beside the rows it multiplies it by.
  //   Few row blocks (one image's 197 tokens): the workers split the columns (in NR slivers); each packs
  //   only its columns of B and all of A, which is small.
  // (Rows too when there are fewer slivers than workers: 600 rows × 32 columns is one sliver.)
  let slivers = nPadded / NR
  let splitRows = mBlocks >= 4 * workers || (slivers < workers && mBlocks > slivers)
  let owners = max(1, min(workers, splitRows ? mBlocks : slivers))
  let bFloats = kcMax * (splitRows ? nPadded : (slivers + owners - 1) / owners * NR)
  let scratch = UnsafeMutablePointer<Float>.allocate(capacity: owners * (bFloats + mcMax * kcMax))
  defer { scratch.deallocate() }
  parallelFor(owners) { worker in
    let packedB = scratch + worker * (bFloats + mcMax * kcMax), packedA = packedB + bFloats
    // My rows (whole MC blocks) and my columns (whole NR slivers).
    let (rowBlocks, sliverRange): (Range<Int>, Range<Int>) = splitRows
      ? (worker * mBlocks / owners ..< (worker + 1) * mBlocks / owners, 0..<slivers)
      : (0..<mBlocks, worker * slivers / owners ..< (worker + 1) * slivers / owners)
    if rowBlocks.isEmpty || sliverRange.isEmpty { return }
    let j0 = sliverRange.lowerBound * NR, jEnd = min(n, sliverRange.upperBound * NR)
    var pc = 0
    while pc < k {
      let kcCur = min(KC, k - pc)
      let first = pc == 0
      for s in sliverRange {
        packB(transB: transB, b: b, ldb: ldb, rowStart: pc, depth: kcCur, columnStart: s * NR, columns: min(NR, n - s * NR),
              into: packedB + (s - sliverRange.lowerBound) * NR * kcCur)
      }
      for ib in rowBlocks {
        let i0 = ib * MC, mcCur = min(MC, m - i0)
        packA(transA: transA, a: a, lda: lda, rowStart: i0, rows: mcCur, colStart: pc, depth: kcCur, into: packedA)
        macroKernel(packedA: packedA, packedB: packedB, mc: mcCur, nc: jEnd - j0, kc: kcCur, c: c + i0 * ldc + j0, ldc: ldc,
                    loadC: accumulate || !first, bias: first ? bias.map { $0 + j0 } : nil)
      }
      pc += kcCur
    }
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

// MARK: - Few rows: no packing

/// C (M×N) = A (M×K) · Bᵀ with B stored (N, K) — a Linear layer's weight — for small M (a text of a
/// dozen tokens, one image's class token). Packing B would copy as many floats as this product
/// multiplies, so here each output is a dot product over K of a row of A and a row of B, read where
/// they are: 4 rows of A × 3 rows of B at a time, twelve SIMD8 accumulators, the columns split over
/// the threads. Same contract as `gemmNaive` (accumulate, bias).
func gemmSkinny(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>?, threads: Int) {
  let groups = (n + 2) / 3  // column groups of three
  let flops = 2.0 * Double(m) * Double(n) * Double(k)
  let workers = max(1, min(threads, groups, flops < 2e6 ? 1 : Int.max))
  parallelFor(workers) { worker in
    let g0 = groups * worker / workers, g1 = groups * (worker + 1) / workers
    var sums = (SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>())
    // Columns outer, rows inner: three rows of B (the weight, megabytes) are read from memory once and
    // stay in L1 while every row of A (kilobytes, in L2) passes them. Rows outer streamed all of B once
    // per four rows of A: 13 times for ViT-B/32's 50 tokens, memory-bound at 69% of the FMA peak.
    for g in g0..<g1 {
      let j0 = 3 * g, cols = min(3, n - j0)
      // A missing row or column reads row 0 of the block again; its sums are not written.
      let b0 = b + j0 * ldb, b1 = cols > 1 ? b0 + ldb : b0, b2 = cols > 2 ? b0 + 2 * ldb : b0
      for i0 in stride(from: 0, to: m, by: 4) {
        let rows = min(4, m - i0)
        let a0 = a + i0 * lda, a1 = rows > 1 ? a0 + lda : a0, a2 = rows > 2 ? a0 + 2 * lda : a0, a3 = rows > 3 ? a0 + 3 * lda : a0
        sums = dots4x3(k: k, a0, a1, a2, a3, b0, b1, b2)
        for r in 0..<rows {
          for col in 0..<cols {
            let v = (col == 0 ? sums.0 : col == 1 ? sums.1 : sums.2)[r] + (bias?[j0 + col] ?? 0)
            let dst = c + (i0 + r) * ldc + j0 + col
            dst.pointee = accumulate ? dst.pointee + v : v
          }
        }
      }
    }
  }
}

/// The twelve dot products of 4 rows of A with 3 rows of B, over k: one sum per (row, column),
/// returned as three columns of four rows.
@inline(__always)
func dots4x3(k: Int, _ a0: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ a2: UnsafePointer<Float>, _ a3: UnsafePointer<Float>,
             _ b0: UnsafePointer<Float>, _ b1: UnsafePointer<Float>, _ b2: UnsafePointer<Float>)
  -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)
{
  var s00 = SIMD8<Float>(), s01 = SIMD8<Float>(), s02 = SIMD8<Float>()
  var s10 = SIMD8<Float>(), s11 = SIMD8<Float>(), s12 = SIMD8<Float>()
  var s20 = SIMD8<Float>(), s21 = SIMD8<Float>(), s22 = SIMD8<Float>()
  var s30 = SIMD8<Float>(), s31 = SIMD8<Float>(), s32 = SIMD8<Float>()
  var p = 0
  while p + 8 <= k {
    let w0 = load8(b0 + p), w1 = load8(b1 + p), w2 = load8(b2 + p)
    var x = load8(a0 + p)
    s00.addProduct(x, w0); s01.addProduct(x, w1); s02.addProduct(x, w2)
    x = load8(a1 + p)
    s10.addProduct(x, w0); s11.addProduct(x, w1); s12.addProduct(x, w2)
    x = load8(a2 + p)
    s20.addProduct(x, w0); s21.addProduct(x, w1); s22.addProduct(x, w2)
    x = load8(a3 + p)
    s30.addProduct(x, w0); s31.addProduct(x, w1); s32.addProduct(x, w2)
    p += 8
  }
  var c0 = SIMD4<Float>(s00.sum(), s10.sum(), s20.sum(), s30.sum())
  var c1 = SIMD4<Float>(s01.sum(), s11.sum(), s21.sum(), s31.sum())
  var c2 = SIMD4<Float>(s02.sum(), s12.sum(), s22.sum(), s32.sum())
  while p < k {
    let x = SIMD4<Float>(a0[p], a1[p], a2[p], a3[p])
    c0 += x * b0[p]; c1 += x * b1[p]; c2 += x * b2[p]
    p += 1
  }
  return (c0, c1, c2)
}

