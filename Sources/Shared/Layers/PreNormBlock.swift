// The pre-norm transformer block of timm's ViT:
//
//   x₁ = x + attn(norm1(x))
//   x₂ = x₁ + mlp(norm2(x₁))
//
//   B batch, N tokens, D width

import TensorCore

public struct PreNormBlockCache: Sendable {
  public var input: Tensor  // (B, N, D)
  public var norm1: LayerNormCache
  public var attention: AttentionCache
  public var afterAttention: Tensor  // (B, N, D) x₁
  public var norm2: LayerNormCache
  public var mlp: MLPCache
}

public struct PreNormBlock: Sendable {
  public var norm1: LayerNorm  // checkpoint: blocks.i.norm1
  public var attn: MultiHeadAttention  // blocks.i.attn.qkv, blocks.i.attn.proj
  public var norm2: LayerNorm  // blocks.i.norm2
  public var mlp: MLP  // blocks.i.mlp.fc1, blocks.i.mlp.fc2

  public init(norm1: LayerNorm, attn: MultiHeadAttention, norm2: LayerNorm, mlp: MLP) {
    self.norm1 = norm1
    self.attn = attn
    self.norm2 = norm2
    self.mlp = mlp
  }

  // MARK: - Forward

  // ANCHOR: forward
  public func forward(_ x: Tensor, keyMask: Tensor? = nil) -> (Tensor, PreNormBlockCache) {
    let (n1, c1) = norm1.forward(x)
    let (a, ca) = attn.forward(n1, keyMask: keyMask)
    let x1 = x + a
    let (n2, c2) = norm2.forward(x1)
    let (m, cm) = mlp.forward(n2)
    let x2 = x1 + m
    return (x2, PreNormBlockCache(input: x, norm1: c1, attention: ca, afterAttention: x1, norm2: c2, mlp: cm))
  }
  // ANCHOR_END: forward

  // MARK: - Backward

  /// forward: x₁ = x + attn(norm1(x)), x₂ = x₁ + mlp(norm2(x₁)); the residual paths pass gradients
  /// straight through, so dx₁ = dy + norm2ᵀ(mlpᵀ(dy)) and dx = dx₁ + norm1ᵀ(attnᵀ(dx₁)).
  public func backward(_ dy: Tensor, cache: PreNormBlockCache, grads: inout PreNormBlock) -> Tensor {
    let dNorm2 = mlp.backward(dy, cache: cache.mlp, grads: &grads.mlp)
    var dx1 = norm2.backward(dNorm2, input: cache.afterAttention, cache: cache.norm2, grads: &grads.norm2)
    dx1 += dy
    let dNorm1 = attn.backward(dx1, cache: cache.attention, grads: &grads.attn)
    var dx = norm1.backward(dNorm1, input: cache.input, cache: cache.norm1, grads: &grads.norm1)
    dx += dx1
    return dx
  }
}

// MARK: - A stack of blocks, and the class token in front of the patches (ViT and OpenAI's CLIP share them)

/// x through every block in order. `keepCaches: false` drops each block's cache when the block is done
/// (inference); `onBlock(i, output, seconds)` sees each block's output.
public func forwardBlocks(_ x: Tensor, _ blocks: [PreNormBlock], keyMask: Tensor? = nil, keepCaches: Bool,
                          onBlock: ((Int, Tensor, Double) -> Void)?) -> (Tensor, [PreNormBlockCache]) {
  var x = x
  var caches: [PreNormBlockCache] = []
  if keepCaches { caches.reserveCapacity(blocks.count) }
  for (i, block) in blocks.enumerated() {
    let t0 = now()
    let (y, cache) = block.forward(x, keyMask: keyMask)
    x = y
    if keepCaches { caches.append(cache) }
    onBlock?(i, x, now() - t0)
  }
  return (x, caches)
}

/// dy back through the blocks (their caches from `forwardBlocks(keepCaches: true)`), last to first.
public func backwardBlocks(_ dy: Tensor, _ blocks: [PreNormBlock], caches: [PreNormBlockCache], grads: inout [PreNormBlock]) -> Tensor {
  var dx = dy
  for i in stride(from: blocks.count - 1, through: 0, by: -1) {
    dx = blocks[i].backward(dx, cache: caches[i], grads: &grads[i])
  }
  return dx
}
