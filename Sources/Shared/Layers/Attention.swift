// Multi-head self-attention with timm's fused qkv projection — the layer that lets every token look
// at every other token. BERT's separate query/key/value weights are fused into the same form.
//
//   B batch, N tokens, D width, H heads, Dh = D / H head width
//
//   qkv    = x · W_qkvᵀ + b_qkv                       (B, N, 3D)  columns [q | k | v], head h at h·Dh
//   S_bh   = Q_bh · K_bhᵀ / sqrt(Dh) + mask_b          (N, N)     mask: 0 to attend, −3.4e38 to ignore
//   P_bh   = softmax(S_bh) over keys                   (N, N)
//   O_bh   = P_bh · V_bh                               (N, Dh)    written into context[:, :, h·Dh ..]
//   out    = context · W_projᵀ + b_proj                (B, N, D)
//
// Backward, per (batch, head), dO its slice of dcontext, S the scores after the 1/√Dh scaling:
//
//   dV = Pᵀ · dO                      (N, Dh)
//   dP = dO · Vᵀ                      (N, N)
//   dS = P ⊙ (dP − rowsum(dP ⊙ P))    (N, N)     softmax backward, row by row
//   dQ = dS · K / √Dh,  dK = dSᵀ · Q / √Dh       the forward's 1/√Dh, applied again by the chain rule

import TensorCore
import Kernels

public struct AttentionCache: Sendable {
  public var input: Tensor  // (B, N, D)
  public var qkv: Tensor  // (B, N, 3D)
  public var probs: Tensor  // (B, H, N, N)  attention probabilities (also the attention maps)
  public var context: Tensor  // (B, N, D)   heads merged, before proj
}

public struct MultiHeadAttention: Sendable {
  public var qkv: Linear  // (3D, D)   checkpoint: attn.qkv
  public var proj: Linear  // (D, D)    checkpoint: attn.proj
  public var heads: Int
  /// Causal (OpenAI CLIP's text tower): token i attends to keys 0…i only, as if every later key were masked.
  public var causal: Bool

  public init(qkv: Linear, proj: Linear, heads: Int, causal: Bool = false) {
    let d = proj.outFeatures
    precondition(qkv.weight.shape == [3 * d, d], "qkv weight must be (3D, D) = (\(3 * d), \(d)), got \(qkv.weight.shape)")
    precondition(heads > 0 && d % heads == 0, "width \(d) is not divisible by \(heads) heads")
    self.qkv = qkv
    self.proj = proj
    self.heads = heads
    self.causal = causal
  }

  public var width: Int { proj.outFeatures }

  /// The additive mask value for ignored keys: HF's torch.finfo(float32).min.
  public static let maskedScore: Float = attentionMaskedScore

  // MARK: - The definition, as plain loops (tests hold the fast path below to it)

  /// x (B, N, D) → (B, N, D). `keyMask` (B, N) holds 1 for keys to attend to and 0 for padding; a
  /// causal layer also ignores, for query i, every key j > i.
  public func forwardDefinition(_ x: Tensor, keyMask: Tensor? = nil) -> (Tensor, AttentionCache) {
    let b = x.shape[0], n = x.shape[1], d = width, h = heads, dh = d / h
    let scale = 1 / Float(dh).squareRoot()
    let qkvOut = qkv.forward(x)  // (B, N, 3D): q at column h·Dh + c, k at D + h·Dh + c, v at 2D + h·Dh + c
    var scores = Tensor.zeros([b, h, n, n])  // (B, H, N, N)
    for bi in 0..<b {
      for hi in 0..<h {
        for i in 0..<n {
          for j in 0..<n {
            var s: Float = 0
            for c in 0..<dh { s += qkvOut[bi, i, hi * dh + c] * qkvOut[bi, j, d + hi * dh + c] }
            let ignored = (keyMask.map { $0[bi, j] == 0 } ?? false) || (causal && j > i)
            scores[bi, hi, i, j] = s * scale + (ignored ? Self.maskedScore : 0)
          }
        }
      }
    }
    let probs = scores.softmaxDefinition()  // over keys, the last axis
    var context = Tensor.zeros([b, n, d])  // (B, N, D)
    for bi in 0..<b {
      for hi in 0..<h {
        for i in 0..<n {
          for c in 0..<dh {
            var o: Float = 0
            for j in 0..<n { o += probs[bi, hi, i, j] * qkvOut[bi, j, 2 * d + hi * dh + c] }
            context[bi, i, hi * dh + c] = o
          }
        }
      }
    }
    return (proj.forward(context), AttentionCache(input: x, qkv: qkvOut, probs: probs, context: context))
  }

  /// Backward, spelled out. Per (batch, head), with S the scores after the 1/√Dh scaling:
  ///   dV = Pᵀ·dO,   dP = dO·Vᵀ,   dS = P ⊙ (dP − rowsum(dP ⊙ P)),   dQ = dS·K·scale,   dK = dSᵀ·Q·scale
  /// (masked keys have P = 0, so they get no gradient). dQ, dK, dV land in their columns of dqkv, which
  /// flows back through the fused qkv projection. Accumulates parameter gradients; returns dx (B, N, D).
  public func backwardDefinition(_ dy: Tensor, cache: AttentionCache, grads: inout MultiHeadAttention) -> Tensor {
    let b = cache.input.shape[0], n = cache.input.shape[1], d = width, h = heads, dh = d / h
    let scale = 1 / Float(dh).squareRoot()
    let q = cache.qkv, p = cache.probs
    let dO = proj.backward(dy, input: cache.context, grads: &grads.proj)  // (B, N, D)
    var dP = Tensor.zeros([b, h, n, n])
    var dqkv = Tensor.zeros([b, n, 3 * d])
    for bi in 0..<b {
      for hi in 0..<h {
        for j in 0..<n {
          for c in 0..<dh {  // dV[j, c] = Σ_i P[i, j] · dO[i, c]
            var s: Float = 0
            for i in 0..<n { s += p[bi, hi, i, j] * dO[bi, i, hi * dh + c] }
            dqkv[bi, j, 2 * d + hi * dh + c] = s
          }
        }
        for i in 0..<n {
          for j in 0..<n {  // dP[i, j] = Σ_c dO[i, c] · V[j, c]
            var s: Float = 0
            for c in 0..<dh { s += dO[bi, i, hi * dh + c] * q[bi, j, 2 * d + hi * dh + c] }
            dP[bi, hi, i, j] = s
          }
        }
      }
    }
    let dS = dP.softmaxBackwardDefinition(output: p)  // (B, H, N, N), gradient of the scaled scores
    for bi in 0..<b {
      for hi in 0..<h {
        for i in 0..<n {
          for c in 0..<dh {  // dQ[i, c] = Σ_j dS[i, j] · K[j, c] · scale,  dK[i, c] = Σ_j dS[j, i] · Q[j, c] · scale
            var sq: Float = 0, sk: Float = 0
            for j in 0..<n {
              sq += dS[bi, hi, i, j] * q[bi, j, d + hi * dh + c]
              sk += dS[bi, hi, j, i] * q[bi, j, hi * dh + c]
            }
            dqkv[bi, i, hi * dh + c] = sq * scale
            dqkv[bi, i, d + hi * dh + c] = sk * scale
          }
        }
      }
    }
    return qkv.backward(dqkv, input: cache.input, grads: &grads.qkv)
  }

  // MARK: - The fast path: the same maths, one (batch, head) task per worker (Kernels/AttentionKernels.swift)

  public func forward(_ x: Tensor, keyMask: Tensor? = nil) -> (Tensor, AttentionCache) {
    precondition(x.rank == 3 && x.shape[2] == width, "attention expects (B, N, \(width)), got \(x.shape)")
    let b = x.shape[0], n = x.shape[1], d = width, h = heads
    if let keyMask { precondition(keyMask.shape == [b, n], "key mask must be (B, N) = (\(b), \(n)), got \(keyMask.shape)") }
    let qkvOut = qkv.forward(x)  // (B, N, 3D)
    var probs = Tensor.zeros([b, h, n, n])  // (B, H, N, N)
    var context = Tensor.zeros([b, n, d])  // (B, N, D)
    func runHeads(mask: UnsafePointer<Float>?) {
      reading(qkvOut) { qkv in
        writing(&probs, &context) { probs, context in
          attentionHeadsForward(qkv: qkv, batch: b, tokens: n, width: d, heads: h, keyMask: mask, causal: causal, probs: probs, context: context)
        }
      }
    }
    if let keyMask { reading(keyMask) { runHeads(mask: $0) } } else { runHeads(mask: nil) }
    let out = proj.forward(context)
    return (out, AttentionCache(input: x, qkv: qkvOut, probs: probs, context: context))
  }

  public func backward(_ dy: Tensor, cache: AttentionCache, grads: inout MultiHeadAttention) -> Tensor {
    let b = cache.input.shape[0], n = cache.input.shape[1], d = width, h = heads
    let dContext = proj.backward(dy, input: cache.context, grads: &grads.proj)  // (B, N, D)
    var dqkv = Tensor.zeros([b, n, 3 * d])  // (B, N, 3D)
    reading(cache.qkv, cache.probs, dContext) { qkv, probs, dContext in
      writing(&dqkv) { dqkv in
        attentionHeadsBackward(qkv: qkv, probs: probs, dContext: dContext, batch: b, tokens: n, width: d, heads: h, dqkv: dqkv)
      }
    }
    return qkv.backward(dqkv, input: cache.input, grads: &grads.qkv)
  }
}
