// One BERT encoder layer (post-norm), forward and backward:
//
//   B batch, L tokens, D width, Hm intermediate width
//   x = LayerNorm(x + attention(x, mask))                            attention.output.LayerNorm
//   x = LayerNorm(x + output(GELU(intermediate(x))))                 output.LayerNorm

import TensorCore
import Layers
import IO
import Foundation

public struct BERTLayerCache: Sendable {
  public var input: Tensor  // (B, L, D)
  public var attention: AttentionCache
  public var attentionSum: Tensor  // (B, L, D) x + attention(x)
  public var attentionNorm: LayerNormCache
  public var afterAttention: Tensor  // (B, L, D)
  public var mlp: MLPCache
  public var outputSum: Tensor  // (B, L, D)
  public var outputNorm: LayerNormCache
}

/// One post-norm encoder layer.
public struct BERTLayer: Sendable {
  public var attention: MultiHeadAttention  // qkv fused from attention.self.{query,key,value}; proj = attention.output.dense
  public var attentionNorm: LayerNorm  // attention.output.LayerNorm
  public var mlp: MLP  // fc1 = intermediate.dense, fc2 = output.dense
  public var outputNorm: LayerNorm  // output.LayerNorm

  // MARK: Forward
  // ANCHOR: forward
  public func forward(_ x: Tensor, mask: Tensor) -> (Tensor, BERTLayerCache) {
    let (a, ca) = attention.forward(x, keyMask: mask)
    let s1 = x + a
    let (x1, n1) = attentionNorm.forward(s1)
    let (m, cm) = mlp.forward(x1)
    let s2 = x1 + m
    let (x2, n2) = outputNorm.forward(s2)
    return (x2, BERTLayerCache(input: x, attention: ca, attentionSum: s1, attentionNorm: n1, afterAttention: x1, mlp: cm,
                               outputSum: s2, outputNorm: n2))
  }
  // ANCHOR_END: forward

  // MARK: Backward
  /// forward: s₁ = x + attn(x), x₁ = LN₁(s₁), s₂ = x₁ + mlp(x₁), y = LN₂(s₂); so
  /// ds₂ = LN₂ᵀ(dy), dx₁ = ds₂ + mlpᵀ(ds₂), ds₁ = LN₁ᵀ(dx₁), dx = ds₁ + attnᵀ(ds₁).
  public func backward(_ dy: Tensor, cache: BERTLayerCache, grads: inout BERTLayer) -> Tensor {
    let ds2 = outputNorm.backward(dy, input: cache.outputSum, cache: cache.outputNorm, grads: &grads.outputNorm)
    var dx1 = mlp.backward(ds2, cache: cache.mlp, grads: &grads.mlp)
    dx1 += ds2
    let ds1 = attentionNorm.backward(dx1, input: cache.attentionSum, cache: cache.attentionNorm, grads: &grads.attentionNorm)
    var dx = attention.backward(ds1, cache: cache.attention, grads: &grads.attention)
    dx += ds1
    return dx
  }
}
