// Vectorised exp and erfc for the row kernels (softmax, GELU). libm's scalar expf/erff were a fifth
// of a training step; these run 16 lanes at a time.
//
//   exp:  x = n·ln2 + r, |r| ≤ ln2/2;  eʳ by Cephes' degree-6 polynomial;  2ⁿ by building the exponent
//         bits. ≈ 1 ulp. Below −87.3 the result is exactly 0 (masked attention scores must vanish).
//   erfc: Numerical Recipes' Chebyshev fit, erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2), relative
//         error < 1.2e-7 for all z ≥ 0 — relative, so GELU of large negative x keeps its digits.

@inline(__always)
func expSIMD(_ x: SIMD16<Float>) -> SIMD16<Float> {
  // (The generic SIMD `clamped` and Float→Int conversions are not specialised and ran element by
  // element; min/max and the round-by-adding-1.5·2²³ trick stay in vector registers.)
  let clamped = pointwiseMin(pointwiseMax(x, SIMD16(repeating: -87.3)), SIMD16(repeating: 88.7))
  let magic = SIMD16<Float>(repeating: 12_582_912)  // 1.5·2²³: adding it rounds to an integer
  let shifted = clamped * 1.442_695_040_888_963_4 + magic
  let n = shifted - magic
  var r = clamped - n * 0.693_359_375  // ln2, high part (exact in float)
  r = r - n * (-2.121_944_400_546_905_8e-4)  // ln2, low part
  var p = SIMD16<Float>(repeating: 1.987_569_150_0e-4)
  p = p * r + 1.398_199_950_7e-3
  p = p * r + 8.333_451_907_3e-3
  p = p * r + 4.166_579_589_4e-2
  p = p * r + 1.666_666_545_9e-1
  p = p * r + 5.000_000_120_1e-1
  p = p * (r * r) + r + 1
  // The integer n sits in the low mantissa bits of `shifted` (whose bit pattern is 0x4B400000 + n).
  let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
  let scale = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD16<Float>.self)
  var result = p * scale
  result.replace(with: 0, where: x .< -87.3)
  return result
}

/// erfc(z) for z ≥ 0.
@inline(__always)
func erfcPositiveSIMD(_ z: SIMD16<Float>) -> SIMD16<Float> {
  let t = 1 / (1 + 0.5 * z)
  var poly = SIMD16<Float>(repeating: 0.170_872_77)
  poly = poly * t - 0.822_152_23
  poly = poly * t + 1.488_515_87
  poly = poly * t - 1.135_203_98
  poly = poly * t + 0.278_868_07
  poly = poly * t - 0.186_288_06
  poly = poly * t + 0.096_784_18
  poly = poly * t + 0.374_091_96
  poly = poly * t + 1.000_023_68
  poly = poly * t - 1.265_512_23
  return t * expSIMD(-z * z + poly)
}

/// Exact-form GELU, 16 lanes: x·Φ(x) with Φ(x) = erfc(−x/√2)/2, evaluated on |x| so neither tail
/// loses digits to cancellation.
@inline(__always)
func geluSIMD(_ x: SIMD16<Float>) -> SIMD16<Float> {
  let e = erfcPositiveSIMD(x.replacing(with: -x, where: x .< 0) * 0.707_106_781_186_547_52)
  var cdf = 0.5 * e  // Φ(x) for x < 0
  cdf.replace(with: 1 - 0.5 * e, where: x .>= 0)
  return x * cdf
}

/// GELU's derivative, 16 lanes: Φ(x) + x·φ(x).
@inline(__always)
func geluDerivativeSIMD(_ x: SIMD16<Float>) -> SIMD16<Float> {
  let e = erfcPositiveSIMD(x.replacing(with: -x, where: x .< 0) * 0.707_106_781_186_547_52)
  var cdf = 0.5 * e
  cdf.replace(with: 1 - 0.5 * e, where: x .>= 0)
  let pdf = expSIMD(-0.5 * x * x) * 0.398_942_280_401_432_68
  return cdf + x * pdf
}

// MARK: - Horizontal reductions

// The standard library's `SIMD16.sum()` and `.max()` are generic: on AVX2 they spill the vector to
// the stack and fold it one lane at a time, which cost more than the arithmetic in a 65-wide softmax
// row. Halving in registers is four vector operations.

/// The sum of the 16 lanes (in the pairwise order of the halvings).
@inline(__always)
func horizontalSum(_ v: SIMD16<Float>) -> Float {
  let h8 = v.lowHalf + v.highHalf
  let h4 = h8.lowHalf + h8.highHalf
  let h2 = h4.lowHalf + h4.highHalf
  return h2[0] + h2[1]
}
