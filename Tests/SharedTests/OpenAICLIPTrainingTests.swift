// Fine-tuning OpenAI's CLIP: the training step every model shares, on the small CLIPModel, against
// torch.optim.AdamW with open_clip's parameter groups (Scripts/reference/ch11_finetune.py).

import Foundation
import Shared
import Testing

@Suite("OpenAI CLIP fine-tuning")
struct OpenAICLIPTrainingTests {
  /// The fixture's batch k: pixels and open_clip rows (<bos> … 999, zeros after) with their mask.
  static func batch(_ f: SafetensorsFile, _ k: Int) throws -> (Tensor, TokenBatch) {
    let ids = try f.tensor("batch\(k).ids"), mask = try f.tensor("batch\(k).mask")
    let b = ids.shape[0], l = ids.shape[1]
    return (try f.tensor("batch\(k).pixels"),
            TokenBatch(inputIds: ids.storage.map { Int($0) }, attentionMask: mask.storage.map { Int($0) },
                       tokenTypeIds: [Int](repeating: 0, count: b * l), batchSize: b, length: l))
  }

  static var optimizer: OptimizerConfig {
    var c = OptimizerConfig()
    (c.imageLearningRate, c.textLearningRate, c.headLearningRate, c.towerWeightDecay) = (1e-3, 2e-3, 1e-2, 0.1)
    return c
  }

  /// Three AdamW steps of `run` ("full", or "lit" with the image tower frozen) against PyTorch: every
  /// loss within 1e-5, the first step's gradients within the gradient test's tolerance, and every
  /// parameter after three steps within 1e-5 — except entries whose first gradient is float noise
  /// (|g| < 1e-4·max|g| of the tensor, and the key biases, whose gradient is zero in exact arithmetic:
  /// softmax ignores a constant shift), where the sign of the noise decides Adam's ±lr; those are held
  /// to |Δ| ≤ 3 steps · 1.01·lr of where they started.
  func trajectory(_ run: String, freezeImage: Bool) throws {
    let f = try Fixtures.load("ch11-finetune")
    var model = try OpenAICLIP(checkpoint: Fixtures.path("ch11-clip-small-hf"))
    var config = Self.optimizer
    config.freezeImage = freezeImage
    var optimizer = AdamW(model: model, config: config)
    let hf = OpenAICLIP.parameterTable(model.config, format: .huggingFace)
    let start = Dictionary(uniqueKeysWithValues: hf.map { ($0.key, $0.get(model)) })
    // The first step's gradients, from the same forward and backward the step runs.
    let (pixels0, tokens0) = try Self.batch(f, 0)
    let forward0 = model.trainingForward(pixels: pixels0, batch: tokens0, dropoutMasks: nil)
    var grads0 = model.zeroGradients()
    model.backward(forward0, loss: contrastiveLoss(forward0, model: model), grads: &grads0, trainImage: !freezeImage, trainText: true)
    var noisy: [String: [Bool]] = [:]
    for p in hf {
      let isImage = p.key.hasPrefix("vision_model.") || p.key.hasPrefix("visual_projection")
      if freezeImage && isImage { continue }
      let g = p.get(grads0)
      expectClose(g, try f.tensor("\(run).grad0.\(p.key)"), atol: 2e-5, rtol: 1e-4, "\(run) d \(p.key)")
      let scale = g.storage.map(abs).max() ?? 0
      noisy[p.key] = g.storage.indices.map { i in
        p.key.contains("k_proj.bias") || (g.storage[i] != 0 && abs(g.storage[i]) < 1e-4 * scale)
      }
    }
    let expectedLosses = try f.tensor("\(run).loss").storage
    for k in 0..<3 {
      let (pixels, tokens) = try Self.batch(f, k)
      let result = try trainStep(&model, optimizer: &optimizer, config: config, pixels: pixels, batch: tokens, dropoutMasks: nil)
      #expect(abs(result.loss - expectedLosses[k]) <= 1e-5, "\(run) step \(k): loss \(result.loss) vs torch \(expectedLosses[k])")
    }
    var worst: Float = 0, heldToBound = 0
    for p in hf {
      let actual = p.get(model).storage, expected = try f.tensor("\(run).final.\(p.key)").storage, before = start[p.key]!.storage
      guard let mask = noisy[p.key] else {
        #expect(actual == before, "\(p.key) is frozen (LiT) and must not move")
        #expect(expected == before, "torch's \(p.key) is frozen too")
        continue
      }
      let lr: Float = p.key == "logit_scale" ? 1e-2 : (p.key.hasPrefix("text") ? 2e-3 : 1e-3)
      for i in actual.indices {
        if mask[i] {
          heldToBound += 1
          #expect(abs(actual[i] - before[i]) <= 3 * 1.01 * lr, "\(run) \(p.key)[\(i)] moved more than 3·lr")
        } else {
          worst = max(worst, abs(actual[i] - expected[i]))
          #expect(abs(actual[i] - expected[i]) <= 1e-5, "\(run) after 3 steps \(p.key)[\(i)]: \(actual[i]) vs torch \(expected[i])")
        }
      }
    }
    print("\(run): worst |Δparam| after 3 AdamW steps \(worst) (\(heldToBound) float-noise-gradient entries held to 3·lr)")
  }

  @Test("three AdamW steps of the whole model equal torch.optim.AdamW with open_clip's groups")
  func fullFineTune() throws { try trajectory("full", freezeImage: false) }

  @Test("LiT (locked image): the vision tower never moves and the text tower follows torch")
  func lockedImage() throws { try trajectory("lit", freezeImage: true) }

  @Test("open_clip's weight-decay rule: matrices and the patch conv decay; biases, norms, embeddings, logit_scale do not")
  func groups() {
    let c = Self.optimizer
    #expect(OpenAICLIP.optimizerGroup(of: "visual.conv1.weight", c) == "image")
    #expect(OpenAICLIP.optimizerGroup(of: "visual.proj", c) == "image")
    #expect(OpenAICLIP.optimizerGroup(of: "visual.class_embedding", c) == "image.no_decay")
    #expect(OpenAICLIP.optimizerGroup(of: "visual.transformer.resblocks.0.ln_1.weight", c) == "image.no_decay")
    #expect(OpenAICLIP.optimizerGroup(of: "transformer.resblocks.1.attn.in_proj_weight", c) == "text")
    #expect(OpenAICLIP.optimizerGroup(of: "transformer.resblocks.1.attn.in_proj_bias", c) == "text.no_decay")
    #expect(OpenAICLIP.optimizerGroup(of: "token_embedding.weight", c) == "text.no_decay")
    #expect(OpenAICLIP.optimizerGroup(of: "positional_embedding", c) == "text.no_decay")
    #expect(OpenAICLIP.optimizerGroup(of: "text_projection", c) == "text")
    #expect(OpenAICLIP.optimizerGroup(of: "logit_scale", c) == "scale")
    var lit = c
    lit.freezeImage = true
    #expect(OpenAICLIP.optimizerGroup(of: "visual.proj", lit) == nil && OpenAICLIP.optimizerGroup(of: "text_projection", lit) == "text")
  }
}
