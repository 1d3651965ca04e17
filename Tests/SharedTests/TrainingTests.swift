// Training steps against PyTorch: AdamW with the seed's groups (one step: every parameter within 1e-5
// absolute; ten steps: the loss trajectory within 1e-4), and ReduceLROnPlateau's learning rates.

import Foundation
import Shared
import Testing

@Suite("Training")
struct TrainingTests {
  func tinyModel() throws -> CLIP {
    let f = try Fixtures.load("ch07-clip-tiny")
    var model = CLIP(config: .testTiny)
    try f.load(into: &model, table: CLIP.parameterTable(.testTiny), prefix: "std.weight.", ignoring: { !$0.hasPrefix("std.weight.") })
    return model
  }

  func batch(_ f: SafetensorsFile, _ s: Int) throws -> (Tensor, TokenBatch, DropoutMasks) {
    let ids = try f.integers("step\(s).input_ids").values, mask = try f.integers("step\(s).attention_mask").values
    return (try f.tensor("step\(s).pixels"),
            TokenBatch(inputIds: ids, attentionMask: mask, tokenTypeIds: [Int](repeating: 0, count: ids.count), batchSize: 4, length: 7),
            DropoutMasks(image: try f.tensor("step\(s).image_dropout"), text: try f.tensor("step\(s).text_dropout")))
  }

  /// Adam's first step moves a parameter by ≈ lr·g/(|g| + ε): for a gradient that is zero up to float
  /// noise (the key biases' gradient is exactly zero in exact arithmetic — softmax ignores a constant
  /// shift — and a few other entries are tiny by chance) the *sign of the noise* decides ±lr, and our
  /// summation order and torch's disagree on it. Such entries (|g| < 1e-4·max|g| of their tensor, where
  /// our gradients can differ from torch's by their own size), and every key bias (see below), are held
  /// only to the bound |Δ| ≤ 2·lr; every
  /// other entry to 1e-5 absolute after one step and 1e-4 after ten.
  @Test("one step and ten steps of AdamW with the three groups equal PyTorch")
  func adamwSteps() throws {
    let f = try Fixtures.load("ch08-training")
    var model = try tinyModel()
    let table = CLIP.parameterTable(model.config)
    let config = OptimizerConfig()
    var optimizer = AdamW(model: model, config: config)
    let expectedLosses = try f.tensor("losses").storage
    // The well-conditioned entries, from the first step's gradients.
    let (pixels0, tokens0, masks0) = try batch(f, 0)
    var grads0 = model.zeroGradients()
    let forward0 = model.forward(pixels: pixels0, batch: tokens0, dropoutMasks: masks0)
    model.backward(forward0, loss: contrastiveLoss(forward0, model: model), grads: &grads0)
    // Key biases have a zero gradient in exact arithmetic (softmax ignores a constant shift of a row of
    // scores), so their whole trajectory is float noise: never well-conditioned, whatever the noise's
    // size on a given summation order (ViT: the middle third of attn.qkv.bias; BERT: key.bias).
    func isKeyBias(_ key: String, _ index: Int, _ count: Int) -> Bool {
      (key.hasSuffix("attn.qkv.bias") && index >= count / 3 && index < 2 * count / 3) || key.hasSuffix("attention.self.key.bias")
    }
    let wellConditioned: [String: [Bool]] = Dictionary(uniqueKeysWithValues: table.map { p in
      let g = p.get(grads0).storage
      let scale = g.map(abs).max() ?? 0
      return (p.key, g.indices.map { i in !isKeyBias(p.key, i, g.count) && (g[i] == 0 || abs(g[i]) >= 1e-4 * scale) })
    })
    let lrOf: [String: Float] = Dictionary(uniqueKeysWithValues: table.map { p in
      (p.key, config.groups.first { $0.name == config.group(of: p.key) }!.learningRate)
    })
    let before = Dictionary(uniqueKeysWithValues: table.map { ($0.key, $0.get(model)) })
    var worst: Float = 0, noisy = 0
    for s in 0..<10 {
      let (pixels, tokens, masks) = try batch(f, s)
      let result = try trainStep(&model, optimizer: &optimizer, config: config, pixels: pixels, batch: tokens, dropoutMasks: masks)
      #expect(abs(result.loss - expectedLosses[s]) <= 1e-4, "step \(s): loss \(result.loss) vs \(expectedLosses[s])")
      guard s == 0 || s == 9 else { continue }
      for p in table {
        let expected = try f.tensor("after\(s + 1).\(p.key)").storage, actual = p.get(model).storage
        let mask = wellConditioned[p.key]!, start = before[p.key]!.storage
        for i in actual.indices {
          let diff = abs(actual[i] - expected[i])
          if mask[i] {
            if s == 0 { worst = max(worst, diff) }
            #expect(diff <= (s == 0 ? 1e-5 : 1e-4), "after \(s + 1) steps \(p.key)[\(i)]: \(actual[i]) vs \(expected[i])")
          } else if s == 0 {
            noisy += 1
            #expect(abs(actual[i] - start[i]) <= 2 * lrOf[p.key]! * 1.001, "\(p.key)[\(i)] moved more than 2·lr")
          }
        }
      }
    }
    print("AdamW vs torch: worst |Δparam| after one step \(worst) (\(noisy) near-zero-gradient entries held to |step| ≤ 2·lr)")
    #expect(optimizer.step == 10)
  }

  @Test("ReduceLROnPlateau(min, factor 0.8, patience 1) follows torch's learning rates")
  func plateau() throws {
    let f = try Fixtures.load("ch08-training")
    let metrics = try f.tensor("plateau.metrics").storage
    let expected = try f.tensor("plateau.lr")
    var groups = [OptimizerGroup(name: "image", learningRate: 1e-4, weightDecay: 0),
                  OptimizerGroup(name: "text", learningRate: 1e-5, weightDecay: 0),
                  OptimizerGroup(name: "heads", learningRate: 1e-3, weightDecay: 0)]
    var scheduler = ReduceLROnPlateau(factor: 0.8, patience: 1)
    for (i, m) in metrics.enumerated() {
      scheduler.step(metric: m, groups: &groups)
      for g in 0..<3 {
        #expect(abs(groups[g].learningRate - expected[i, g]) <= 1e-6 * expected[i, g], "epoch \(i) group \(g)")
      }
    }
  }

  @Test("the seed-faithful switch gives the image tower the text tower's learning rate; LiT freezes text")
  func groups() {
    var config = OptimizerConfig()
    #expect(config.groups[0].learningRate == 1e-4)
    config.seedFaithfulImageLearningRate = true
    #expect(config.groups[0].learningRate == 1e-5)
    config.freezeText = true
    #expect(config.group(of: "text_encoder.model.embeddings.word_embeddings.weight") == nil)
    #expect(config.group(of: "logit_scale") == "scale")
    #expect(config.group(of: "image_projection.fc.weight") == "heads")
  }

  @Test("gradient clipping scales to the max norm; a NaN loss is refused and leaves the model untouched")
  func clippingAndNaN() throws {
    var model = try tinyModel()
    let f = try Fixtures.load("ch08-training")
    let (pixels, tokens, masks) = try batch(f, 0)
    var config = OptimizerConfig()
    config.gradientClip = 0.01
    var optimizer = AdamW(model: model, config: config)
    let result = try trainStep(&model, optimizer: &optimizer, config: config, pixels: pixels, batch: tokens, dropoutMasks: masks)
    #expect(result.gradientNorm > 0.01)
    var poisoned = pixels
    poisoned.storage[0] = .nan
    let before = model.logitScale
    #expect(throws: NonFiniteError.self) {
      _ = try trainStep(&model, optimizer: &optimizer, config: config, pixels: poisoned, batch: tokens, dropoutMasks: masks)
    }
    #expect(model.logitScale == before && optimizer.step == 1)
  }
}
