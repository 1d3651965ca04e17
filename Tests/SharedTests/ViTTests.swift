// The ViT against timm: a small model with every intermediate, the full vit_base_patch16_224 with
// deterministic weights, and the checkpoint loader's validation.

import Foundation
import Shared
import Testing

@Suite("ViT")
struct ViTTests {
  @Test("small timm ViT: every intermediate and the logits within 1e-4")
  func small() throws {
    let fixture = try Fixtures.load("ch03-vit")
    let model = try ViT(config: .small, checkpointPath: Fixtures.path("ch03-vit-small-weights.safetensors"))
    var blockOutputs: [Tensor] = []
    let out = model.forward(try fixture.tensor("small.pixels")) { _, x, _ in blockOutputs.append(x) }
    expectClose(out.cache.patch.patches.matmul(model.patchEmbed.weight.reshaped([64, -1]), transposeOther: true,
                                               bias: model.patchEmbed.bias),
                try fixture.tensor("small.patch_tokens"), atol: 1e-5, rtol: 1e-5, "patch tokens")
    expectClose(out.cache.embedded, try fixture.tensor("small.embedded"), atol: 1e-5, rtol: 1e-5, "embedded")
    expectClose(out.attention[0], try fixture.tensor("small.attn0"), atol: 1e-5, rtol: 1e-4, "layer-0 attention")
    for (i, y) in blockOutputs.enumerated() {
      expectClose(y, try fixture.tensor("small.block\(i)"), atol: 1e-4, rtol: 1e-4, "block \(i)")
    }
    expectClose(out.tokens, try fixture.tensor("small.normed"), atol: 1e-4, rtol: 1e-4, "final norm")
    expectClose(out.pooled, try fixture.tensor("small.pooled"), atol: 1e-4, rtol: 1e-4, "pooled")
    expectClose(out.logits, try fixture.tensor("small.logits"), atol: 1e-4, rtol: 0, "logits")
    // The same weights read out by mean pooling: timm's global_pool="avg" with fc_norm=False (the final norm
    // before the pooling), the class token left out.
    var meanConfig = ViTConfig.small
    meanConfig.pool = .mean
    let meanModel = try ViT(config: meanConfig, checkpointPath: Fixtures.path("ch03-vit-small-weights.safetensors"))
    let meanOut = meanModel.forward(try fixture.tensor("small.pixels"))
    expectClose(meanOut.pooled, try fixture.tensor("small_avg.pooled"), atol: 1e-5, rtol: 1e-4, "mean-pooled feature")
    expectClose(meanOut.logits, try fixture.tensor("small_avg.logits"), atol: 1e-4, rtol: 0, "logits from the mean-pooled feature")
    // Inference (no caches kept) is the same arithmetic: equal to the bit, and nothing kept for backward.
    let inference = model.forward(try fixture.tensor("small.pixels"), keepCaches: false)
    #expect(inference.logits.storage == out.logits.storage && inference.tokens.storage == out.tokens.storage)
    #expect(inference.cache.blocks.isEmpty && out.cache.blocks.count == model.blocks.count)
  }

  @Test("vit_base_patch16_224 with deterministic weights: logits within 1e-3 relative of timm")
  func base() throws {
    let fixture = try Fixtures.load("ch03-vit")
    let model = ViT(config: .base16)
    #expect(model.parameterCount == 86_567_656)
    let out = model.forward(try fixture.tensor("base.pixels"))
    let expectedLogits = try fixture.tensor("base.logits")
    let scale = expectedLogits.storage.map(abs).max()!
    expectClose(out.logits, expectedLogits, atol: 1e-3 * scale, rtol: 1e-3, "base logits")
    expectClose(out.pooled, try fixture.tensor("base.pooled"), atol: 1e-3, rtol: 1e-3, "base pooled")
  }

  @Test("a checkpoint that does not fit lists missing, unexpected and mis-shaped keys")
  func loaderValidation() throws {
    let file = try SafetensorsFile(path: Fixtures.path("ch03-vit-small-weights.safetensors"))
    var config = ViTConfig.small
    config.depth = 3  // one block more than the file has
    config.numClasses = 5  // head shape differs
    do {
      _ = try ViT(config: config, checkpoint: file)
      Issue.record("mismatched checkpoint accepted")
    } catch let error as CheckpointMismatch {
      #expect(error.missing.contains("blocks.2.attn.qkv.weight"))
      #expect(error.missing.count == 12)
      #expect(error.misshaped.contains("head.weight: expected [5, 64], file has [10, 64]"))
      #expect(error.misshaped.contains("head.bias: expected [5], file has [10]"))
      #expect(error.unexpected.isEmpty)
      #expect(error.description.contains("missing keys (12)"))
    }
    // Extra keys are reported too.
    var writer = SafetensorsWriter()
    for name in file.names { writer.add(name, try file.tensor(name)) }
    writer.add("blocks.9.extra", Tensor.zeros([1]))
    let path = temporaryDirectory() + "/extra.safetensors"
    try writer.write(to: path)
    do {
      _ = try ViT(config: .small, checkpointPath: path)
      Issue.record("a checkpoint with an extra key was accepted")
    } catch {
      // Loading by path names the file in front of the key list.
      #expect("\(error)" == path + ": " + CheckpointMismatch(missing: [], unexpected: ["blocks.9.extra"], misshaped: []).description)
    }
  }

  @Test("attention rollout is a normalised (grid × grid) map")
  func rollout() throws {
    let model = try ViT(config: .small, checkpointPath: Fixtures.path("ch03-vit-small-weights.safetensors"))
    let out = model.forward(randomTensor([1, 3, 32, 32], seed: 5))
    let heat = attentionRollout(out.attention, grid: 4)
    #expect(heat.shape == [4, 4])
    #expect(heat.storage.min() == 0 && heat.storage.max() == 1)
  }
}
