// Patch embedding, the ViT's first layer: timm's `patch_embed.proj` is Conv2d(C, D, kernel P, stride P).
// Because stride = kernel, the convolution is exactly: cut the image into P×P patches, flatten each
// to C·P·P numbers (channel-major, then row, then column — the order of the conv weight), and
// multiply by the weight viewed as a (D, C·P·P) matrix. That is im2col + one GEMM.
//
//   B batch, C channels (3), S image side (224), P patch side (16), G = S/P patches per side (14),
//   N = G·G patches (196), K = C·P·P values per patch (768), D embedding width (768)
//
//   patches (B, N, K):   patches[b, gy·G + gx, c·P·P + ky·P + kx] = pixels[b, c, gy·P + ky, gx·P + kx]
//   tokens  (B, N, D) =  patches · weightᵀ + bias,   weight (D, C, P, P) viewed as (D, K)
//
// Backward: dWeight += dTokensᵀ · patches (viewed (D, C, P, P)), dBias += Σ dTokens. The pixels
// need no gradient (they are the input), so none is computed.

import TensorCore
import Kernels

/// im2col for non-overlapping patches: pixels (B, C, S, S) → patches (B, N, C·P·P).
public func extractPatches(_ pixels: Tensor, patchSize p: Int) -> Tensor {
  precondition(pixels.rank == 4, "pixels must be (B, C, H, W), got \(pixels.shape)")
  let b = pixels.shape[0], c = pixels.shape[1], h = pixels.shape[2], w = pixels.shape[3]
  precondition(h % p == 0 && w % p == 0, "image \(h)×\(w) is not a whole number of \(p)×\(p) patches")
  let gy = h / p, gx = w / p, k = c * p * p
  var out = Tensor.zeros([b, gy * gx, k])
  pixels.withUnsafePointer { src in
    out.withUnsafeMutablePointer { dst in
      for bi in 0..<b {
        for py in 0..<gy {
          for px in 0..<gx {
            let patch = dst + (bi * gy * gx + py * gx + px) * k
            for ci in 0..<c {
              for ky in 0..<p {
                let row = src + ((bi * c + ci) * h + py * p + ky) * w + px * p
                (patch + ci * p * p + ky * p).update(from: row, count: p)
              }
            }
          }
        }
      }
    }
  }
  return out
}

/// What the patch embedding's backward will need.
public struct PatchEmbeddingCache: Sendable {
  public var patches: Tensor  // (B, N, K)
}

/// timm's `patch_embed.proj`: Conv2d(C, D, P, stride P) as im2col + GEMM.
public struct PatchEmbedding: Sendable {
  public var weight: Tensor  // (D, C, P, P)   checkpoint: patch_embed.proj.weight
  public var bias: Tensor  // (D)              checkpoint: patch_embed.proj.bias

  public var patchSize: Int { weight.shape[2] }
  public var width: Int { weight.shape[0] }

  public init(weight: Tensor, bias: Tensor) {
    precondition(weight.rank == 4 && weight.shape[2] == weight.shape[3], "conv weight must be (D, C, P, P), got \(weight.shape)")
    precondition(bias.shape == [weight.shape[0]], "conv bias must be (\(weight.shape[0])), got \(bias.shape)")
    self.weight = weight
    self.bias = bias
  }

  // ANCHOR: forward
  /// pixels (B, C, S, S) → tokens (B, N, D).
  public func forward(_ pixels: Tensor) -> (tokens: Tensor, cache: PatchEmbeddingCache) {
    precondition(pixels.rank == 4 && pixels.shape[1] == weight.shape[1],
                 "pixels must be (B, \(weight.shape[1]), H, W), got \(pixels.shape)")
    let patches = extractPatches(pixels, patchSize: patchSize)  // (B, N, K)
    let matrix = weight.reshaped([width, -1])  // (D, K)
    let tokens = patches.matmul(matrix, transposeOther: true, bias: bias)  // (B, N, D)
    return (tokens, PatchEmbeddingCache(patches: patches))
  }
  // ANCHOR_END: forward

  // MARK: - Backward

  /// forward: tokens = patches · Wᵀ + b; so dW += dTokensᵀ·patches, db += Σ_rows dTokens.
  public func backward(_ dTokens: Tensor, cache: PatchEmbeddingCache, grads: inout PatchEmbedding) {
    let d = width, k = weight.count / width
    let rows = dTokens.count / d
    precondition(cache.patches.count == rows * k, "patch embedding backward: dTokens \(dTokens.shape) vs patches \(cache.patches.shape)")
    reading(dTokens, cache.patches) { dTokens, patches in
      writing(&grads.weight, &grads.bias) { dw, db in
        gemm(transA: true, transB: false, m: d, n: k, k: rows, a: dTokens, lda: d, b: patches, ldb: k, c: dw, ldc: k, accumulate: true)
        addColumnSums(dTokens, rows: rows, cols: d, into: db)
      }
    }
  }
}

// MARK: - The class token and positions (ViT; OpenAI CLIP's vision tower)

/// [class; patches] + positions: patch tokens (B, N, D), a class token (D values) and positions (T = N + 1
/// rows of D) → (B, T, D).
public func prependClassToken(_ patchTokens: Tensor, classToken: Tensor, positions: Tensor) -> Tensor {
  let b = patchTokens.shape[0], n = patchTokens.shape[1], d = patchTokens.shape[2], t = n + 1
  precondition(classToken.count == d && positions.count == t * d, "class token (\(d)) and positions (\(t), \(d)) do not fit \(patchTokens.shape)")
  var x = Tensor.zeros([b, t, d])
  for bi in 0..<b {
    for ti in 0..<t {
      for k in 0..<d {
        let v = ti == 0 ? classToken.storage[k] : patchTokens.storage[(bi * n + ti - 1) * d + k]
        x.storage[(bi * t + ti) * d + k] = v + positions.storage[ti * d + k]
      }
    }
  }
  return x
}

/// The backward of `prependClassToken`: dx (B, T, D) adds into the class token's gradient (token 0) and
/// the positions' (every token); returns the patch tokens' gradient (B, N, D).
public func prependClassTokenBackward(_ dx: Tensor, classToken dClass: inout Tensor, positions dPositions: inout Tensor) -> Tensor {
  let b = dx.shape[0], t = dx.shape[1], d = dx.shape[2], n = t - 1
  var dTokens = Tensor.zeros([b, n, d])
  for bi in 0..<b {
    for ti in 0..<t {
      for k in 0..<d {
        let g = dx.storage[(bi * t + ti) * d + k]
        dPositions.storage[ti * d + k] += g
        if ti == 0 { dClass.storage[k] += g } else { dTokens.storage[(bi * n + ti - 1) * d + k] = g }
      }
    }
  }
  return dTokens
}
