// The image tower: timm's VisionTransformer (vit_base_patch16_224 and smaller configurations).
//
//   B batch, S image side, P patch side, N = (S/P)² patches, T = N + 1 tokens (class token first),
//   D width, H heads, Hm MLP width, C classes
//
//   tokens  = patch_embed(pixels)                       (B, N, D)
//   x       = [cls_token ; tokens] + pos_embed          (B, T, D)
//   x       = blocks(x)                                 (B, T, D)   depth pre-norm blocks
//   x       = norm(x)                                   (B, T, D)
//   pooled  = x[:, 0]                                   (B, D)      the class token's feature
//   logits  = head(pooled)                              (B, C)      ImageNet-1k logits
//
// The seed's CLIP uses the 1000 logits as its "image embedding"; `pooled` is what CLIP models
// usually project. Both are returned.

import TensorCore
import Layers
import Text
import IO
import Foundation

/// What a ViT forward pass returns; `cache` holds what the backward needs.
public struct ViTOutput: Sendable {
  public var logits: Tensor  // (B, C)
  public var pooled: Tensor  // (B, D)  final-norm class token
  public var tokens: Tensor  // (B, T, D) final-norm output for every token
  public var cache: ViTCache
  /// Attention probabilities of every block, (B, H, T, T) each.
  public var attention: [Tensor] { cache.blocks.map(\.attention.probs) }
}

public struct ViTCache: Sendable {
  public var patch: PatchEmbeddingCache
  public var embedded: Tensor  // (B, T, D) after class token and position embedding
  public var blocks: [PreNormBlockCache]
  public var norm: LayerNormCache
  public var beforeNorm: Tensor  // (B, T, D)
}

public struct ViT: Sendable {
  public var config: ViTConfig
  public var patchEmbed: PatchEmbedding
  public var clsToken: Tensor  // (1, 1, D)
  public var posEmbed: Tensor  // (1, T, D)
  public var blocks: [PreNormBlock]
  public var norm: LayerNorm
  public var head: Linear  // (C, D)

  // MARK: - Checkpoint keys (timm's names) → properties

  /// Every parameter, by its timm state-dict key.
  public static func parameterTable(_ config: ViTConfig) -> [Parameter<ViT>] {
    var table: [Parameter<ViT>] = [
      Parameter("cls_token", \.clsToken),
      Parameter("pos_embed", \.posEmbed),
      Parameter("patch_embed.proj.weight", \.patchEmbed.weight),
      Parameter("patch_embed.proj.bias", \.patchEmbed.bias),
    ]
    for i in 0..<config.depth {
      table += [
        Parameter("blocks.\(i).norm1.weight", \.blocks[i].norm1.weight),
        Parameter("blocks.\(i).norm1.bias", \.blocks[i].norm1.bias),
        Parameter("blocks.\(i).attn.qkv.weight", \.blocks[i].attn.qkv.weight),
        Parameter("blocks.\(i).attn.qkv.bias", \.blocks[i].attn.qkv.bias),
        Parameter("blocks.\(i).attn.proj.weight", \.blocks[i].attn.proj.weight),
        Parameter("blocks.\(i).attn.proj.bias", \.blocks[i].attn.proj.bias),
        Parameter("blocks.\(i).norm2.weight", \.blocks[i].norm2.weight),
        Parameter("blocks.\(i).norm2.bias", \.blocks[i].norm2.bias),
        Parameter("blocks.\(i).mlp.fc1.weight", \.blocks[i].mlp.fc1.weight),
        Parameter("blocks.\(i).mlp.fc1.bias", \.blocks[i].mlp.fc1.bias),
        Parameter("blocks.\(i).mlp.fc2.weight", \.blocks[i].mlp.fc2.weight),
        Parameter("blocks.\(i).mlp.fc2.bias", \.blocks[i].mlp.fc2.bias),
      ]
    }
    table += [Parameter("norm.weight", \.norm.weight), Parameter("norm.bias", \.norm.bias)]
    if config.numClasses > 0 {
      table += [Parameter("head.weight", \.head.weight), Parameter("head.bias", \.head.bias)]
    }
    return table
  }

  // MARK: - Construction

  /// A model with every parameter from `Tensor.deterministic` (untrained, reproducible in PyTorch).
  public init(config: ViTConfig, seed: UInt64 = 0) {
    self.config = config
    let d = config.width, c = config.channels, p = config.patchSize
    func z(_ s: [Int]) -> Tensor { Tensor.zeros(s) }
    func linear(_ o: Int, _ i: Int) -> Linear { Linear(weight: z([o, i]), bias: z([o])) }
    func ln() -> LayerNorm { LayerNorm(weight: z([d]), bias: z([d]), eps: config.layerNormEps) }
    patchEmbed = PatchEmbedding(weight: z([d, c, p, p]), bias: z([d]))
    clsToken = z([1, 1, d])
    posEmbed = z([1, config.numTokens, d])
    blocks = (0..<config.depth).map { _ in
      PreNormBlock(norm1: ln(), attn: MultiHeadAttention(qkv: linear(3 * d, d), proj: linear(d, d), heads: config.heads),
                   norm2: ln(), mlp: MLP(fc1: linear(config.mlpDim, d), fc2: linear(d, config.mlpDim)))
    }
    norm = ln()
    head = linear(config.numClasses, d)
    fillDeterministic(&self, table: Self.parameterTable(config), seed: seed)
  }

  /// Loads a timm state dict saved as safetensors (keys as timm names them), validating every key
  /// and shape against `config`.
  public init(config: ViTConfig, checkpoint: SafetensorsFile) throws {
    try checkpoint.requireParameters(atLeast: config.parameterLowerBound)
    self.init(config: config)
    try checkpoint.load(into: &self, table: Self.parameterTable(config))
  }

  public init(config: ViTConfig, checkpointPath: String) throws {
    try config.validate(source: "the ViT configuration")
    let file = try naming(checkpointPath) { try SafetensorsFile(path: checkpointPath) }
    do { try self.init(config: config, checkpoint: file) } catch { throw CheckpointError(path: checkpointPath, reason: "\(error)") }
  }

  public var parameterCount: Int { Self.parameterTable(config).reduce(0) { $0 + $1.get(self).count } }

  // MARK: - Forward

  /// pixels (B, 3, S, S) → logits, pooled feature and every token's output.
  /// `keepCaches: false` is inference: each block's cache (its attention probabilities, the MLP's hidden
  /// activations) is dropped as soon as the block is done, so memory holds one block's activations, not
  /// twelve; such an output cannot be passed to `backward`.
  public func forward(_ pixels: Tensor, keepCaches: Bool = true, onBlock: ((Int, Tensor, Double) -> Void)? = nil) -> ViTOutput {
    let s = config.imageSize
    precondition(pixels.rank == 4 && pixels.shape[1] == config.channels && pixels.shape[2] == s && pixels.shape[3] == s,
                 "ViT expects pixels (B, \(config.channels), \(s), \(s)), got \(pixels.shape)")
    let b = pixels.shape[0], t = config.numTokens, d = config.width
    let (patchTokens, patchCache) = patchEmbed.forward(pixels)  // (B, N, D)
    let embedded = prependClassToken(patchTokens, classToken: clsToken, positions: posEmbed)  // (B, T, D)
    let (x, caches) = forwardBlocks(embedded, blocks, keepCaches: keepCaches, onBlock: onBlock)
    let (normed, normCache) = norm.forward(x)  // (B, T, D)
    var pooled = Tensor.zeros([b, d])
    switch config.pool {
    case .classToken:
      for bi in 0..<b { for k in 0..<d { pooled.storage[bi * d + k] = normed.storage[bi * t * d + k] } }
    case .mean:  // the patch tokens' mean: Pooling.swift's meanPool with the class token masked out
      pooled = meanPool(normed, mask: patchTokenMask(batch: b))
    }
    let logits = config.numClasses > 0 ? head.forward(pooled) : Tensor.zeros([b, 0])
    return ViTOutput(logits: logits, pooled: pooled, tokens: normed,
                     cache: ViTCache(patch: patchCache, embedded: embedded, blocks: caches, norm: normCache, beforeNorm: x))
  }
}

// MARK: - Backward

extension ViT {
  /// Backpropagates from the outputs to every parameter, accumulating into `grads`.
  /// `dLogits` (B, C) flows through the head into the pooled feature; `dPooled` (B, D) is added to it.
  ///
  /// forward: x = [cls; patches]+pos → blocks → norm → pooled = x[:, 0] → logits = head(pooled); so the
  /// gradient enters the final norm at token 0 only, runs back through the blocks, and splits into the
  /// class token (token 0), the position embedding (every token) and the patch embedding (tokens 1…N).
  public func backward(dLogits: Tensor?, dPooled: Tensor?, output: ViTOutput, grads: inout ViT) {
    let b = output.pooled.shape[0], t = config.numTokens, d = config.width
    if output.cache.blocks.count != blocks.count { fatalError("ViT.backward needs an output of forward(keepCaches: true)") }
    var dPool = dPooled ?? Tensor.zeros([b, d])
    if let dLogits {
      dPool += head.backward(dLogits, input: output.pooled, grads: &grads.head)
    }
    var dNormed = Tensor.zeros([b, t, d])
    switch config.pool {
    case .classToken:
      for bi in 0..<b { for k in 0..<d { dNormed.storage[bi * t * d + k] = dPool.storage[bi * d + k] } }
    case .mean:  // forward: pooled = mean of tokens 1…N; so each gets dPooled / N
      dNormed = meanPoolBackward(dPool, mask: patchTokenMask(batch: b), length: t)
    }
    var dx = norm.backward(dNormed, input: output.cache.beforeNorm, cache: output.cache.norm, grads: &grads.norm)
    dx = backwardBlocks(dx, blocks, caches: output.cache.blocks, grads: &grads.blocks)
    // The gradient of [cls; patches] + pos splits into the class token, the positions and the patches.
    let dTokens = prependClassTokenBackward(dx, classToken: &grads.clsToken, positions: &grads.posEmbed)
    patchEmbed.backward(dTokens, cache: output.cache.patch, grads: &grads.patchEmbed)
  }

  /// A gradient container: this model's shape, all zeros.
  public func zeroGradients() -> ViT { zerosLike(self, table: Self.parameterTable(config)) }
}

extension ViT {
  /// (B, T): 0 for the class token, 1 for every patch token — what mean pooling averages over.
  func patchTokenMask(batch b: Int) -> Tensor {
    let t = config.numTokens
    return Tensor(shape: [b, t], storage: (0..<(b * t)).map { $0 % t == 0 ? 0 : 1 })
  }
}
