// The GEMM's register-tile micro-kernels: 8×32 with SIMD16 on AVX-512, 6×16 with SIMD8 on AVX2 (picked
// at run time), and the edge kernel for partial tiles.

import CPUFeatures

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
  for row in 0..<8 {  // C's rows, fetched during the k loop (see microKernel6x16)
    clip_prefetch_for_write(c + row * ldc)
    clip_prefetch_for_write(c + row * ldc + 16)
    clip_prefetch_for_write(c + row * ldc + 31)
  }
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
  // C's six rows are far apart (ldc floats) and usually not in cache: ask for them now, so their lines
  // arrive during the k loop instead of stalling the stores at the end. Each 16-float row spans two
  // 64-byte lines unless aligned. Measured on the bench gemm shapes, best of 3 interleaved runs:
  // +10–45% (ViT qkv 35 → 40 GFLOP/s on one thread, 62 → 86 on two; 6304×768×768 58 → 70, 91 → 132).
  for row in 0..<6 {
    clip_prefetch_for_write(c + row * ldc)
    clip_prefetch_for_write(c + row * ldc + 15)
  }
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
