// A whole tiny CLIP — small ViT + small BERT + both heads + loss, dropout on with replayed masks —
// against PyTorch autograd: the loss, both projections, and every parameter's gradient.
// Tolerance: each gradient tensor within 1e-4 relative to its largest element (plus 1e-4 per element).

import Foundation
import Shared
import Testing

@Suite("Tiny CLIP")
struct CLIPTests {
  @Test("forward and every parameter gradient equal PyTorch", arguments: ["std", "seed"])
  func wholeModel(_ variant: String) throws {
    let f = try Fixtures.load("ch07-clip-tiny")
    var config = CLIPConfig.testTiny
    config.imageFeature = variant == "std" ? .pooled : .logits
    config.loss = variant == "std" ? .standard : .seedFaithful
    var model = CLIP(config: config)
    try f.load(into: &model, table: CLIP.parameterTable(config), prefix: "\(variant).weight.",
               ignoring: { !$0.hasPrefix("\(variant).weight.") })
    let ids = try f.integers("input_ids").values, mask = try f.integers("attention_mask").values
    let batch = TokenBatch(inputIds: ids, attentionMask: mask, tokenTypeIds: [Int](repeating: 0, count: ids.count), batchSize: 4, length: 7)
    let step = model.forward(pixels: try f.tensor("pixels"), batch: batch,
                             dropoutMasks: DropoutMasks(image: try f.tensor("image_dropout"), text: try f.tensor("text_dropout")))
    let expectedLoss = try f.tensor("\(variant).loss").storage[0]
    let loss = contrastiveLoss(step, model: model)
    #expect(abs(loss.loss - expectedLoss) <= 1e-4 * abs(expectedLoss), "loss \(loss.loss) vs \(expectedLoss)")
    expectClose(step.imageProjection, try f.tensor("\(variant).image_projection"), atol: 1e-4, rtol: 1e-4, "image embeddings")
    expectClose(step.textProjection, try f.tensor("\(variant).text_projection"), atol: 1e-4, rtol: 1e-4, "text embeddings")
    var grads = model.zeroGradients()
    model.backward(step, loss: loss, grads: &grads)
    var checked = 0
    var worst: (Float, String) = (0, "")
    for p in CLIP.parameterTable(config) {
      let expected = try f.tensor("\(variant).grad.\(p.key)")
      let scale = expected.storage.map(abs).max() ?? 0
      let c = expectClose(p.get(grads), expected, atol: max(1e-4 * scale, 1e-7), rtol: 1e-4, p.key)
      // (key biases get a mathematically zero gradient — softmax ignores a constant shift — so skip noise)
      if scale > 1e-5 && c.maxAbs / scale > worst.0 { worst = (c.maxAbs / scale, p.key) }
      checked += 1
    }
    print("tiny CLIP \(variant): \(checked) gradients, worst max|Δ|/max|g| = \(worst.0) at \(worst.1)")
    #expect(checked == CLIP.parameterTable(config).count && checked > 60)
  }

  @Test("a frozen text tower gets no gradients; the heads and image tower still do")
  func frozenText() throws {
    let model = CLIP(config: .testTiny)
    let batch = TokenBatch(inputIds: [101, 5, 6, 102, 101, 7, 102, 0], attentionMask: [1, 1, 1, 1, 1, 1, 1, 0],
                           tokenTypeIds: [Int](repeating: 0, count: 8), batchSize: 2, length: 4)
    var rng: SeededRNG? = SeededRNG(seed: 1)
    let step = model.forward(pixels: randomTensor([2, 3, 32, 32], seed: 3), batch: batch, dropout: &rng)
    var grads = model.zeroGradients()
    model.backward(step, loss: contrastiveLoss(step, model: model), grads: &grads, trainText: false)
    #expect(grads.text.layers[0].attention.qkv.weight.storage.allSatisfy { $0 == 0 })
    #expect(grads.textHead.projection.weight.storage.contains { $0 != 0 })
    #expect(grads.vit.blocks[0].attn.qkv.weight.storage.contains { $0 != 0 })
  }
}
