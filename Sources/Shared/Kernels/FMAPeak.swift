// The machine's ceiling: a loop of independent FMAs with no memory traffic (`bench peak`), the rate
// no kernel on this core can pass — what the GEMM's percentages are of.


/// Independent FMA chains with no memory traffic, `steps` times: twelve SIMD16 chains on AVX-512,
/// ten SIMD8 chains on AVX2 (enough to cover FMA latency × 2 pipes without spilling a register).
/// Returns a value that keeps the loop alive; `fmaPeakFlopPerStep` FLOP per step. Its rate is the ceiling no kernel on
/// this core can pass (bench peak).
public var fmaPeakFlopPerStep: Double { GEMMBlocking.wide ? 12 * 32 : 10 * 16 }

@inline(never)
public func fmaPeakLoop(steps: Int, seed: Float) -> Float {
  if GEMMBlocking.wide {
    let x = SIMD16<Float>(repeating: 0.999_999), y = SIMD16<Float>(repeating: 1e-7)
    var a0 = SIMD16<Float>(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5
    var a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11
    for _ in 0..<steps {
      a0.addProduct(x, y); a1.addProduct(x, y); a2.addProduct(x, y); a3.addProduct(x, y)
      a4.addProduct(x, y); a5.addProduct(x, y); a6.addProduct(x, y); a7.addProduct(x, y)
      a8.addProduct(x, y); a9.addProduct(x, y); a10.addProduct(x, y); a11.addProduct(x, y)
    }
    return ((a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum())
  }
  let x = SIMD8<Float>(repeating: 0.999_999), y = SIMD8<Float>(repeating: 1e-7)
  var a0 = SIMD8<Float>(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4
  var a5 = a0 + 5, a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9
  for _ in 0..<steps {
    a0.addProduct(x, y); a1.addProduct(x, y); a2.addProduct(x, y); a3.addProduct(x, y); a4.addProduct(x, y)
    a5.addProduct(x, y); a6.addProduct(x, y); a7.addProduct(x, y); a8.addProduct(x, y); a9.addProduct(x, y)
  }
  return ((a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9).sum())
}

/// The micro-kernel alone, its packed A and B slivers already in L1 (`bench peak`): `calls` calls of
/// depth `kc` on the same slivers. The gap between this rate and the FMA peak is the micro-kernel's
/// own (loads, broadcasts, the C update); the gap between it and the GEMM is the driver's (packing,
/// cache misses, edge tiles, threads). Returns the FLOP done.
@inline(never)
public func microKernelInL1(calls: Int, kc: Int = GEMMBlocking.kc) -> Double {
  let MR = GEMMBlocking.mr, NR = GEMMBlocking.nr
  let a = UnsafeMutablePointer<Float>.allocate(capacity: MR * kc), b = UnsafeMutablePointer<Float>.allocate(capacity: NR * kc)
  let c = UnsafeMutablePointer<Float>.allocate(capacity: MR * NR)
  defer { a.deallocate(); b.deallocate(); c.deallocate() }
  a.initialize(repeating: 1e-3, count: MR * kc); b.initialize(repeating: 1e-3, count: NR * kc); c.initialize(repeating: 0, count: MR * NR)
  for _ in 0..<calls { microKernel(kc: kc, a: a, b: b, c: c, ldc: NR, loadC: true, bias: nil) }
  return 2.0 * Double(MR * NR * kc) * Double(calls)
}
