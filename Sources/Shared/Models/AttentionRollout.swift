// Attention rollout: where a ViT's class token looks, through all its layers (chapter 03's picture).

import TensorCore
import Layers
import Foundation

/// Attention rollout (Abnar & Zuidema, 2020): how much each patch feeds the class token through all
/// layers. Per layer, average the heads and add the residual path: Â = ½·mean_h(A) + ½·I; multiply
/// the layers: R = Â_L ⋯ Â_1. Returns the class-token row over the patches, (grid, grid), scaled to [0, 1].
public func attentionRollout(_ attention: [Tensor], batchIndex: Int = 0, grid: Int) -> Tensor {
  precondition(!attention.isEmpty, "no attention maps")
  let h = attention[0].shape[1], t = attention[0].shape[2]
  var rollout = Tensor.zeros([t, t])
  for i in 0..<t { rollout[i, i] = 1 }
  for layer in attention {
    var a = Tensor.zeros([t, t])
    let base = batchIndex * h * t * t
    for hi in 0..<h {
      for i in 0..<(t * t) { a.storage[i] += layer.storage[base + hi * t * t + i] / Float(h) }
    }
    for i in 0..<t { for j in 0..<t { a[i, j] = 0.5 * a[i, j] + (i == j ? 0.5 : 0) } }
    rollout = a.matmul(rollout)
  }
  var heat = Tensor(shape: [grid, grid], storage: Array(rollout.storage[1..<t]))
  let lo = heat.storage.min()!, hi = heat.storage.max()!
  heat = heat.map { hi > lo ? ($0 - lo) / (hi - lo) : 0 }
  return heat
}
