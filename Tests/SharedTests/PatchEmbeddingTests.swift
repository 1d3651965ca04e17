// Patch embedding (im2col + GEMM) equals torch's Conv2d.

import Shared
import Testing

@Suite("Patch embedding")
struct PatchEmbeddingTests {
  @Test("ViT-B/16 patch_embed with deterministic weights equals timm within 1e-5 relative")
  func fullSize() throws {
    let fixture = try Fixtures.load("ch01-patches")
    let pixels = try fixture.tensor("pixel_values.grace_hopper").reshaped([1, 3, 224, 224])
    let embedding = PatchEmbedding(
      weight: Tensor.deterministic([768, 3, 16, 16], name: "patch_embed.proj.weight", scale: 0.02),
      bias: Tensor.deterministic([768], name: "patch_embed.proj.bias", scale: 0.02))
    let (tokens, cache) = embedding.forward(pixels)
    #expect(cache.patches.shape == [1, 196, 768])
    expectClose(tokens, try fixture.tensor("conv.output"), atol: 1e-6, rtol: 1e-5, "patch tokens")
  }

  @Test("a small batched Conv2d(3, 16, 8, stride 8) equals torch")
  func smallBatch() throws {
    let fixture = try Fixtures.load("ch01-patches")
    let embedding = PatchEmbedding(weight: try fixture.tensor("small.weight"), bias: try fixture.tensor("small.bias"))
    let (tokens, _) = embedding.forward(try fixture.tensor("small.input"))
    #expect(tokens.shape == [2, 16, 16])
    expectClose(tokens, try fixture.tensor("small.output"), atol: 1e-6, rtol: 1e-5, "small conv")
  }

  @Test("im2col layout: patch (gy, gx), element c·P·P + ky·P + kx")
  func layout() {
    let pixels = Tensor(shape: [1, 2, 4, 4], storage: (0..<32).map(Float.init))
    let patches = extractPatches(pixels, patchSize: 2)
    #expect(patches.shape == [1, 4, 8])
    // patch 3 = (gy 1, gx 1): channel 0 rows 2–3, cols 2–3, then channel 1.
    #expect(patches.row(0).row(3).storage == [10, 11, 14, 15, 26, 27, 30, 31])
  }
}
