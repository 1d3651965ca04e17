// Deterministic weights that Python and Swift generate bit-for-bit identically, so a full-size
// model (ViT-B/16, BERT-base) can be checked against PyTorch without megabytes of weight fixtures.
// The reference scripts (Scripts/reference/common.py) implement the same recipe in numpy.
//
//   key        = FNV-1a-64(name) XOR seed
//   state_i    = key + (i + 1) · 0x9E3779B97F4A7C15        (wrapping)
//   z_i        = SplitMix64 finaliser(state_i)
//   u_i        = Float(z_i >> 40) · 2⁻²⁴                    ∈ [0, 1), exact in Float32
//   value_i    = (u_i · 2 − 1) · scale + offset              (Float32 arithmetic, in this order)

import Foundation

/// FNV-1a, 64-bit, over the UTF-8 bytes of `text`.
public func fnv1a64(_ text: String) -> UInt64 {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in text.utf8 {
    hash ^= UInt64(byte)
    hash = hash &* 0x0000_0100_0000_01b3
  }
  return hash
}

/// SplitMix64's output function applied to a counter state.
@inline(__always)
func splitMix64(_ state: UInt64) -> UInt64 {
  var z = state
  z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
  z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
  return z ^ (z >> 31)
}

extension Tensor {
  /// Uniform values in [offset − scale, offset + scale), reproducible from (name, seed) alone.
  public static func deterministic(_ shape: [Int], name: String, seed: UInt64 = 0, scale: Float,
                                   offset: Float = 0) -> Tensor {
    let key = fnv1a64(name) ^ seed
    let n = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: n)
    for i in 0..<n {
      let z = splitMix64(key &+ UInt64(i + 1) &* 0x9e37_79b9_7f4a_7c15)
      let u = Float(z >> 40) * (1.0 / 16_777_216.0)
      values[i] = (u * 2 - 1) * scale + offset
    }
    return Tensor(shape: shape, storage: values)
  }

  /// Normal values N(0, std²) from the same generator, by Box–Muller on pairs of uniforms in (0, 1].
  /// (timm's trunc_normal_(std=0.02) cuts at ±2 in absolute terms — 100 std — so it cuts nothing either.)
  public static func deterministicNormal(_ shape: [Int], name: String, seed: UInt64 = 0, std: Float) -> Tensor {
    let key = fnv1a64(name + "#normal") ^ seed
    let n = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: n)
    var i = 0, draw: UInt64 = 0
    func uniform() -> Double {
      draw += 1
      return (Double(splitMix64(key &+ draw &* 0x9e37_79b9_7f4a_7c15) >> 11) + 1) / 9_007_199_254_740_992.0
    }
    while i < n {
      let r = (-2 * Foundation.log(uniform())).squareRoot(), theta = 2 * Double.pi * uniform()
      for z in [r * Foundation.cos(theta), r * Foundation.sin(theta)] where i < n {
        values[i] = Float(z) * std
        i += 1
      }
    }
    return Tensor(shape: shape, storage: values)
  }
}
