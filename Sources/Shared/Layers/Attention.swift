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

import TensorCore
import Kernels
import Foundation

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

  public init(qkv: Linear, proj: Linear, heads: Int) {
    let d = proj.outFeatures
    precondition(qkv.weight.shape == [3 * d, d], "qkv weight must be (3D, D) = (\(3 * d), \(d)), got \(qkv.weight.shape)")
    precondition(heads > 0 && d % heads == 0, "width \(d) is not divisible by \(heads) heads")
    self.qkv = qkv
    self.proj = proj
    self.heads = heads
  }

  public var width: Int { proj.outFeatures }

  /// The additive mask value for ignored keys: HF's torch.finfo(float32).min.
  public static let maskedScore: Float = attentionMaskedScore

  // MARK: - Forward

  /// x (B, N, D) → (B, N, D). `keyMask` (B, N) holds 1 for keys to attend to and 0 for padding.
  public func forward(_ x: Tensor, keyMask: Tensor? = nil) -> (Tensor, AttentionCache) {
    precondition(x.rank == 3 && x.shape[2] == width, "attention expects (B, N, \(width)), got \(x.shape)")
    let b = x.shape[0], n = x.shape[1], d = width, h = heads
    if let keyMask { precondition(keyMask.shape == [b, n], "key mask must be (B, N) = (\(b), \(n)), got \(keyMask.shape)") }
    let qkvOut = qkv.forward(x)  // (B, N, 3D)
    var probs = Tensor.zeros([b, h, n, n])
    var context = Tensor.zeros([b, n, d])
    qkvOut.withUnsafePointer { qp in
      probs.withUnsafeMutablePointer { pp in
        context.withUnsafeMutablePointer { cp in
          keyMask.withOptionalPointer { mask in
            attentionHeadsForward(qkv: qp, batch: b, tokens: n, width: d, heads: h, keyMask: mask, probs: pp, context: cp)
          }
        }
      }
    }
    let out = proj.forward(context)
    return (out, AttentionCache(input: x, qkv: qkvOut, probs: probs, context: context))
  }

  // MARK: - Backward

  /// forward: S = Q·Kᵀ·scale + mask, P = softmax(S), O = P·V, out = proj(O). So, per (batch, head):
  ///   dV = Pᵀ·dO,   dP = dO·Vᵀ,   dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale,   dQ = dS·K,   dK = dSᵀ·Q
  /// (masked keys have P = 0, so they get no gradient). dQ, dK, dV land in their columns of dqkv, which
  /// flows back through the fused qkv projection. Accumulates parameter gradients; returns dx (B, N, D).
  public func backward(_ dy: Tensor, cache: AttentionCache, grads: inout MultiHeadAttention) -> Tensor {
    let b = cache.input.shape[0], n = cache.input.shape[1], d = width, h = heads
    let dContext = proj.backward(dy, input: cache.context, grads: &grads.proj)  // (B, N, D)
    var dqkv = Tensor.zeros([b, n, 3 * d])
    cache.qkv.withUnsafePointer { qp in
      cache.probs.withUnsafePointer { pp in
        dContext.withUnsafePointer { dop in
          dqkv.withUnsafeMutablePointer { dqp in
            attentionHeadsBackward(qkv: qp, probs: pp, dContext: dop, batch: b, tokens: n, width: d, heads: h, dqkv: dqp)
          }
        }
      }
    }
    return qkv.backward(dqkv, input: cache.input, grads: &grads.qkv)
  }
}

// MARK: - The per-head maths: the definition, then the fast loops

// Both work on the fused qkv activations (B, N, 3D): for batch b and head h, row i of Q is at
// qkv[b, i, h·Dh ..], of K at qkv[b, i, D + h·Dh ..], of V at qkv[b, i, 2D + h·Dh ..].

/// The definition, as plain loops (tests hold the fast path to it). probs (B, H, N, N), context (B, N, D).
public func attentionHeadsForwardNaive(qkv: UnsafePointer<Float>, batch b: Int, tokens n: Int, width d: Int, heads h: Int,
                                       keyMask: UnsafePointer<Float>?, probs: UnsafeMutablePointer<Float>,
                                       context: UnsafeMutablePointer<Float>) {
  let dh = d / h, scale = 1 / Float(dh).squareRoot()
  for bi in 0..<b {
    for hi in 0..<h {
      let q = qkv + bi * n * 3 * d + hi * dh, k = q + d, v = q + 2 * d
      let p = probs + (bi * h + hi) * n * n
      for i in 0..<n {
        for j in 0..<n {  // S[i, j] = q_i · k_j / √Dh (+ mask)
          var s: Float = 0
          for c in 0..<dh { s += q[i * 3 * d + c] * k[j * 3 * d + c] }
          p[i * n + j] = s * scale + (keyMask.map { $0[bi * n + j] == 0 ? MultiHeadAttention.maskedScore : 0 } ?? 0)
        }
        softmaxRowNaive(p + i * n, dim: n)
        for c in 0..<dh {  // O[i, c] = Σ_j P[i, j] · V[j, c]
          var o: Float = 0
          for j in 0..<n { o += p[i * n + j] * v[j * 3 * d + c] }
          context[(bi * n + i) * d + hi * dh + c] = o
        }
      }
    }
  }
}

/// The definition of backward, as plain loops: dqkv (B, N, 3D) receives dQ, dK, dV (overwritten).
///   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale,  dQ = dS·K,  dK = dSᵀ·Q
public func attentionHeadsBackwardNaive(qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>, dContext: UnsafePointer<Float>,
                                        batch b: Int, tokens n: Int, width d: Int, heads h: Int, dqkv: UnsafeMutablePointer<Float>) {
  let dh = d / h, scale = 1 / Float(dh).squareRoot()
  var dS = [Float](repeating: 0, count: n * n)
  for bi in 0..<b {
    for hi in 0..<h {
      let q = qkv + bi * n * 3 * d + hi * dh, k = q + d, v = q + 2 * d
      let dq = dqkv + bi * n * 3 * d + hi * dh, dk = dq + d, dv = dq + 2 * d
      let dO = dContext + bi * n * d + hi * dh
      let p = probs + (bi * h + hi) * n * n
      for j in 0..<n {
        for c in 0..<dh {
          var s: Float = 0
          for i in 0..<n { s += p[i * n + j] * dO[i * d + c] }
          dv[j * 3 * d + c] = s
        }
      }
      for i in 0..<n {
        var rowDot: Float = 0
        for j in 0..<n {
          var dp: Float = 0
          for c in 0..<dh { dp += dO[i * d + c] * v[j * 3 * d + c] }
          dS[i * n + j] = dp
          rowDot += dp * p[i * n + j]
        }
        for j in 0..<n { dS[i * n + j] = p[i * n + j] * (dS[i * n + j] - rowDot) * scale }
      }
      for i in 0..<n {
        for c in 0..<dh {
          var sq: Float = 0, sk: Float = 0
          for j in 0..<n {
            sq += dS[i * n + j] * k[j * 3 * d + c]
            sk += dS[j * n + i] * q[j * 3 * d + c]
          }
          dq[i * 3 * d + c] = sq
          dk[i * 3 * d + c] = sk
        }
      }
    }
  }
}

/// softmax of one row in place, the definition.
func softmaxRowNaive(_ x: UnsafeMutablePointer<Float>, dim: Int) {
  var m = -Float.infinity
  for j in 0..<dim { m = max(m, x[j]) }
  if m == -.infinity { for j in 0..<dim { x[j] = 0 }; return }
  var s: Float = 0
  for j in 0..<dim { x[j] = exp(x[j] - m); s += x[j] }
  for j in 0..<dim { x[j] /= s }
}

extension Optional where Wrapped == Tensor {
  /// The tensor's storage pointer, or nil.
  func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
    switch self {
    case .some(let t): return t.withUnsafePointer { body($0) }
    case .none: return body(nil)
    }
  }
}
