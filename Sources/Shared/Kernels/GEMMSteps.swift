// The road from the triple loop to the fast GEMM, one step at a time, for Walkthroughs/GEMM.md and
// `bench gemm-steps`. Every step computes the same C = A·B (A: M×K, B: K×N, C: M×N, all row-major,
// C overwritten); only the order of the work and where the numbers sit change. The tests hold every
// step to `gemmNaive` on awkward shapes. The production kernel (GEMM.swift) is the last step plus
// transposes, bias and accumulate epilogues, and threads.
//
//   step 1  i, j, p             a dot product per C element: B read down a column, 4·N bytes apart
//   step 2  i, p, j             an axpy per (i, p): B and C read along rows, contiguous; the compiler
//                               vectorises the j loop
//   step 3  register tile       4 rows × 16 columns of C held in 8 SIMD8 registers across the whole p
//                               loop: each B load is used 4 times, each A broadcast 2 times
//   step 4  packed + blocked    B packed once per (KC × N) block into 16-wide column panels, A into
//                               4-row panels, so the micro-kernel reads both strictly sequentially
//                               and one packed block of B serves every row panel of A
//   step 5  `gemm`              GEMM.swift: 6×16 (AVX2) or 8×32 (AVX-512) tiles, tuned blocking,
//                               full-width edge tiles; one thread
//   step 6  `gemm`, threads     the same over the kernel threads, splitting the tile grid

// MARK: - Step 1: the definition's loop order

/// C[i, j] = Σ_p A[i, p] · B[p, j], one dot product at a time.
// ANCHOR: step1
public func gemmStep1(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
  for i in 0..<m {
    for j in 0..<n {
      var sum: Float = 0
      for p in 0..<k { sum += a[i * k + p] * b[p * n + j] }  // b: stride n between consecutive p
      c[i * n + j] = sum
    }
  }
}
// ANCHOR_END: step1

// MARK: - Step 2: loop order i, p, j

/// The same sums with the loops swapped: row i of C += A[i, p] · row p of B. Every inner access is
/// contiguous, and the j loop becomes SIMD by itself.
// ANCHOR: step2
public func gemmStep2(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
  for i in 0..<m {
    let ci = c + i * n
    for j in 0..<n { ci[j] = 0 }
    for p in 0..<k {
      let aip = a[i * k + p], bp = b + p * n
      for j in 0..<n { ci[j] += aip * bp[j] }
    }
  }
}
// ANCHOR_END: step2

// MARK: - Step 3: a register tile

/// 4 × 16 blocks of C stay in eight SIMD8 accumulators for the whole p loop (step 2 reloaded and stored
/// its row of C at every p). Edges (rows beyond a multiple of 4, columns beyond a multiple of 16) fall
/// back to step 2's loop.
public func gemmStep3(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
  let m4 = m / 4 * 4, n16 = n / 16 * 16
  var i = 0
  while i < m4 {
    var j = 0
    while j < n16 {
      var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
      var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
      for p in 0..<k {
        let b0 = load8(b + p * n + j), b1 = load8(b + p * n + j + 8)  // 16 columns of row p of B
        let a0 = SIMD8(repeating: a[i * k + p]), a1 = SIMD8(repeating: a[(i + 1) * k + p])
        let a2 = SIMD8(repeating: a[(i + 2) * k + p]), a3 = SIMD8(repeating: a[(i + 3) * k + p])
        c00.addProduct(a0, b0); c01.addProduct(a0, b1)
        c10.addProduct(a1, b0); c11.addProduct(a1, b1)
        c20.addProduct(a2, b0); c21.addProduct(a2, b1)
        c30.addProduct(a3, b0); c31.addProduct(a3, b1)
      }
      store8(c00, c + i * n + j); store8(c01, c + i * n + j + 8)
      store8(c10, c + (i + 1) * n + j); store8(c11, c + (i + 1) * n + j + 8)
      store8(c20, c + (i + 2) * n + j); store8(c21, c + (i + 2) * n + j + 8)
      store8(c30, c + (i + 3) * n + j); store8(c31, c + (i + 3) * n + j + 8)
      j += 16
    }
    i += 4
  }
  edges(m: m, n: n, k: k, a: a, b: b, c: c, rowsDone: m4, columnsDone: n16)
}

/// C's right edge (columns ≥ columnsDone of rows < rowsDone) and bottom edge (rows ≥ rowsDone), by step 2.
func edges(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
           rowsDone: Int, columnsDone: Int) {
  for i in 0..<m {
    let from = i < rowsDone ? columnsDone : 0
    if from == n { continue }
    let ci = c + i * n
    for j in from..<n { ci[j] = 0 }
    for p in 0..<k {
      let aip = a[i * k + p], bp = b + p * n
      for j in from..<n { ci[j] += aip * bp[j] }
    }
  }
}

// MARK: - Step 4: packing and cache blocking

/// Step 3's tile, fed from packed panels. For each block of KC rows of B: pack it into 16-column panels
/// (panel q holds B[p, 16q ..< 16q+16] for p in the block, 16 floats per p, one after another), then for
/// every 4-row panel of A (packed the same way, 4 floats per p) run the tile over every B panel. The
/// micro-kernel's loads are then sequential, and the packed block of B (KC × N floats) is copied once and
/// read by every row panel. C accumulates over the K blocks.
public func gemmStep4(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                      kc: Int = 256) {
  let m4 = m / 4 * 4, n16 = n / 16 * 16, panels = n16 / 16
  for i in 0..<m4 { for j in 0..<n16 { c[i * n + j] = 0 } }
  let packedB = UnsafeMutablePointer<Float>.allocate(capacity: max(1, kc * n16))
  let packedA = UnsafeMutablePointer<Float>.allocate(capacity: max(1, kc * 4))
  defer { packedB.deallocate(); packedA.deallocate() }
  var p0 = 0
  while p0 < k {
    let depth = min(kc, k - p0)
    for q in 0..<panels {  // pack B[p0 ..< p0+depth, 16q ..< 16q+16]
      let dst = packedB + q * depth * 16
      for p in 0..<depth { (dst + p * 16).update(from: b + (p0 + p) * n + q * 16, count: 16) }
    }
    var i = 0
    while i < m4 {
      for p in 0..<depth { for r in 0..<4 { packedA[p * 4 + r] = a[(i + r) * k + p0 + p] } }  // pack A[i ..< i+4, block]
      for q in 0..<panels {
        tile4x16(depth: depth, a: packedA, b: packedB + q * depth * 16, c: c + i * n + q * 16, ldc: n)
      }
      i += 4
    }
    p0 += depth
  }
  edges(m: m, n: n, k: k, a: a, b: b, c: c, rowsDone: m4, columnsDone: n16)
}

// ANCHOR: tile
/// C[0..<4, 0..<16] += Apanel · Bpanel over `depth` steps, both panels packed.
@inline(__always)
func tile4x16(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int) {
  var c00 = load8(c), c01 = load8(c + 8), c10 = load8(c + ldc), c11 = load8(c + ldc + 8)
  var c20 = load8(c + 2 * ldc), c21 = load8(c + 2 * ldc + 8), c30 = load8(c + 3 * ldc), c31 = load8(c + 3 * ldc + 8)
  for p in 0..<depth {
    let b0 = load8(b + p * 16), b1 = load8(b + p * 16 + 8)
    let a0 = SIMD8(repeating: a[p * 4]), a1 = SIMD8(repeating: a[p * 4 + 1])
    let a2 = SIMD8(repeating: a[p * 4 + 2]), a3 = SIMD8(repeating: a[p * 4 + 3])
    c00.addProduct(a0, b0); c01.addProduct(a0, b1)
    c10.addProduct(a1, b0); c11.addProduct(a1, b1)
    c20.addProduct(a2, b0); c21.addProduct(a2, b1)
    c30.addProduct(a3, b0); c31.addProduct(a3, b1)
  }
  store8(c00, c); store8(c01, c + 8); store8(c10, c + ldc); store8(c11, c + ldc + 8)
  store8(c20, c + 2 * ldc); store8(c21, c + 2 * ldc + 8); store8(c30, c + 3 * ldc); store8(c31, c + 3 * ldc + 8)
}
// ANCHOR_END: tile
