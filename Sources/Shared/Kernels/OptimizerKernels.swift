// The optimiser's one kernel: AdamW's update over a parameter buffer and its two moments (AdamW.swift
// in Training holds the groups and the bookkeeping and calls this for every parameter, in place).

import Foundation

/// One AdamW step over a parameter buffer, in PyTorch's order (torch.optim.AdamW, foreach=False):
///   p ← p·(1 − lr·wd)                              decoupled weight decay
///   m ← m + (1 − β₁)(g − m),   v ← β₂v + (1 − β₂)g²
///   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
public func adamwUpdate(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                        v: UnsafeMutablePointer<Float>, count: Int, lr: Float, weightDecay: Float, beta1: Float,
                        beta2: Float, eps: Float, step: Int) {
  let biasCorrection1 = 1 - Float(pow(Double(beta1), Double(step)))
  let biasCorrection2Sqrt = Float(Double(1 - Float(pow(Double(beta2), Double(step)))).squareRoot())
  let stepSize = lr / biasCorrection1
  let decay = 1 - lr * weightDecay
  let chunk = 65_536  // big tensors in parallel chunks; element for element the same arithmetic
  parallelRows((count + chunk - 1) / chunk, cols: chunk) { c0, c1 in
    for i in (c0 * chunk)..<min(count, c1 * chunk) {
      if weightDecay != 0 { p[i] *= decay }
      m[i] = m[i] + (1 - beta1) * (g[i] - m[i])  // torch: m.lerp_(g, 1 − β₁)
      v[i] = v[i] * beta2 + (1 - beta2) * g[i] * g[i]  // torch: v.mul_(β₂).addcmul_(g, g, 1 − β₂)
      let denom = v[i].squareRoot() / biasCorrection2Sqrt + eps
      p[i] -= stepSize * (m[i] / denom)
    }
  }
}
