// Packing for the GEMM: A and B copied into the panel layouts the micro-kernels stream through
// (row panels of A, column panels of B, zero-padded at the edges).

import CPUFeatures

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
    // op(B)[p, j] = b[j*ldb + p]: a transpose. Eight columns of op(B) (rows of b) at a time, eight p at a
    // time, through registers: eight contiguous loads, eight contiguous stores. (Column by column, each
    // float went to its own cache line: packing B was 30% of a 197×768×2304 Linear product on Zen 4.)
    if cols < NR { dst.initialize(repeating: 0, count: NR * depth) }
    var j = 0
    while j + 8 <= cols {
      let s0 = b + (j0 + j) * ldb + rowStart
      let s1 = s0 + ldb, s2 = s1 + ldb, s3 = s2 + ldb, s4 = s3 + ldb, s5 = s4 + ldb, s6 = s5 + ldb, s7 = s6 + ldb
      var p = 0
      while p + 8 <= depth {
        transpose8x8(s0 + p, stride: ldb, into: dst + p * NR + j, stride: NR)
        p += 8
      }
      while p < depth {
        let d = dst + p * NR + j
        d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p]; d[4] = s4[p]; d[5] = s5[p]; d[6] = s6[p]; d[7] = s7[p]
        p += 1
      }
      j += 8
    }
    while j < cols {
      let src = b + (j0 + j) * ldb + rowStart
      for p in 0..<depth { dst[p * NR + j] = src[p] }
      j += 1
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
    } else if r == MR && MR == 8 {
      // A full AVX-512 sliver: eight rows, eight columns at a time, through the 8×8 register transpose
      // (one float per store cost 2.5% of a ViT-B/16 + BERT-base training step on Zen 4).
      let r0 = a + (rowStart + i0) * lda + colStart
      let r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda, r6 = r5 + lda, r7 = r6 + lda
      var p = 0
      while p + 8 <= depth {
        transpose8x8(r0 + p, stride: lda, into: dst + p * 8, stride: 8)
        p += 8
      }
      while p < depth {
        let d = dst + p * 8
        d[0] = r0[p]; d[1] = r1[p]; d[2] = r2[p]; d[3] = r3[p]; d[4] = r4[p]; d[5] = r5[p]; d[6] = r6[p]; d[7] = r7[p]
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

/// Writes the transpose of the 8×8 block at `src` (rows `srcStride` apart) to `dst` (rows `dstStride` apart):
/// eight contiguous loads and eight contiguous stores, the shuffles in registers. Both packings of the GEMM
/// use it: a Linear weight's slivers of B (stored transposed) and 8-row slivers of A.
@inline(__always)
func transpose8x8(_ src: UnsafePointer<Float>, stride srcStride: Int, into dst: UnsafeMutablePointer<Float>, stride dstStride: Int) {
  let v0 = load8(src), v1 = load8(src + srcStride), v2 = load8(src + 2 * srcStride), v3 = load8(src + 3 * srcStride)
  let v4 = load8(src + 4 * srcStride), v5 = load8(src + 5 * srcStride), v6 = load8(src + 6 * srcStride), v7 = load8(src + 7 * srcStride)
  for q in 0..<8 { store8(SIMD8(v0[q], v1[q], v2[q], v3[q], v4[q], v5[q], v6[q], v7[q]), dst + q * dstStride) }
}
