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
  public static let maskedScore: Float = -Float.greatestFiniteMagnitude

  // MARK: - Forward

  /// x (B, N, D) → (B, N, D). `keyMask` (B, N) holds 1 for keys to attend to and 0 for padding.
  public func forward(_ x: Tensor, keyMask: Tensor? = nil) -> (Tensor, AttentionCache) {
    precondition(x.rank == 3 && x.shape[2] == width, "attention expects (B, N, \(width)), got \(x.shape)")
    let b = x.shape[0], n = x.shape[1], d = width, h = heads, dh = d / h
    if let keyMask { precondition(keyMask.shape == [b, n], "key mask must be (B, N) = (\(b), \(n)), got \(keyMask.shape)") }
    let qkvOut = qkv.forward(x)  // (B, N, 3D)
    var probs = Tensor.zeros([b, h, n, n])
    var context = Tensor.zeros([b, n, d])
    let scale = 1 / Float(dh).squareRoot()
    qkvOut.withUnsafePointer { qp in
      probs.withUnsafeMutablePointer { pp in
        context.withUnsafeMutablePointer { cp in
          let mask = keyMask?.storage
          let workers = min(b * h, kernelThreads)
          parallelFor(workers) { worker in
            var task = worker
            while task < b * h {
              let bi = task / h, hi = task % h
              let base = qp + bi * n * 3 * d
              let scores = pp + task * n * n
              // S = Q·Kᵀ
              gemm(transA: false, transB: true, m: n, n: n, k: dh, a: base + hi * dh, lda: 3 * d,
                   b: base + d + hi * dh, ldb: 3 * d, c: scores, ldc: n, threads: 1)
              // scale and mask
              for i in 0..<n {
                let row = scores + i * n
                for j in 0..<n { row[j] *= scale }
                if let mask {
                  for j in 0..<n where mask[bi * n + j] == 0 { row[j] += MultiHeadAttention.maskedScore }
                }
              }
              for i in 0..<n { softmaxRow(scores + i * n, scores + i * n, dim: n) }
              // O = P·V into the head's columns of context
              gemm(transA: false, transB: false, m: n, n: dh, k: n, a: scores, lda: n,
                   b: base + 2 * d + hi * dh, ldb: 3 * d, c: cp + bi * n * d + hi * dh, ldc: d, threads: 1)
              task += workers
            }
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
    let b = cache.input.shape[0], n = cache.input.shape[1], d = width, h = heads, dh = d / h
    let dContext = proj.backward(dy, input: cache.context, grads: &grads.proj)  // (B, N, D)
    var dqkv = Tensor.zeros([b, n, 3 * d])
    let scale = 1 / Float(dh).squareRoot()
    let workers = min(b * h, kernelThreads)
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: workers * n * n)
    defer { scratch.deallocate() }
    cache.qkv.withUnsafePointer { qp in
      cache.probs.withUnsafePointer { pp in
        dContext.withUnsafePointer { dop in
          dqkv.withUnsafeMutablePointer { dqp in
            parallelFor(workers) { worker in
              let dS = scratch + worker * n * n
              var task = worker
              while task < b * h {
                let bi = task / h, hi = task % h
                let base = qp + bi * n * 3 * d, dBase = dqp + bi * n * 3 * d
                let dO = dop + bi * n * d + hi * dh
                let p = pp + task * n * n
                // dV = Pᵀ·dO
                gemm(transA: true, transB: false, m: n, n: dh, k: n, a: p, lda: n, b: dO, ldb: d,
                     c: dBase + 2 * d + hi * dh, ldc: 3 * d, threads: 1)
                // dP = dO·Vᵀ, then through the softmax and the scale
                gemm(transA: false, transB: true, m: n, n: n, k: dh, a: dO, lda: d, b: base + 2 * d + hi * dh, ldb: 3 * d,
                     c: dS, ldc: n, threads: 1)
                softmaxBackwardNaive(dp: dS, p: p, dx: dS, rows: n, dim: n)
                for i in 0..<(n * n) { dS[i] *= scale }
                // dQ = dS·K,  dK = dSᵀ·Q
                gemm(transA: false, transB: false, m: n, n: dh, k: n, a: dS, lda: n, b: base + d + hi * dh, ldb: 3 * d,
                     c: dBase + hi * dh, ldc: 3 * d, threads: 1)
                gemm(transA: true, transB: false, m: n, n: dh, k: n, a: dS, lda: n, b: base + hi * dh, ldb: 3 * d,
                     c: dBase + d + hi * dh, ldc: 3 * d, threads: 1)
                task += workers
              }
            }
          }
        }
      }
    }
    return qkv.backward(dqkv, input: cache.input, grads: &grads.qkv)
  }
}
