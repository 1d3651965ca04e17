// Every layer's backward against PyTorch autograd (ch07-layer-grads), the projection head
// (ch06-projection), the two contrastive losses, and central finite differences for each backward.
//
// Tolerances: gradients within 1e-5 relative with a 1e-6 absolute floor, as the issue states;
// finite differences (float32, h = 1e-2) within 2e-2 relative + 2e-3 absolute — they catch wrong
// signs, factors and missing terms, not rounding.

import Foundation
import Shared
import Testing

/// f(x) = Σ y(x)·g in Double, for finite differences.
func weightedSum(_ y: Tensor, _ g: Tensor) -> Double {
  zip(y.storage, g.storage).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

/// Central differences on a few coordinates of `x`, compared with the analytic gradient.
func expectFiniteDifferences(_ label: String, at x: Tensor, analytic: Tensor, coordinates: Int = 8, h: Float = 1e-2,
                             sourceLocation: SourceLocation = #_sourceLocation, _ f: (Tensor) -> Double) {
  var rng = SeededRNG(seed: UInt64(label.utf8.count) &* 7919)
  for _ in 0..<min(coordinates, x.count) {
    let i = Int(rng.next() % UInt64(x.count))
    var plus = x, minus = x
    plus.storage[i] += h
    minus.storage[i] -= h
    let numeric = Float((f(plus) - f(minus)) / Double(2 * h))
    let a = analytic.storage[i]
    #expect(abs(numeric - a) <= 2e-3 + 2e-2 * abs(a), "\(label)[\(i)]: finite difference \(numeric) vs analytic \(a)",
            sourceLocation: sourceLocation)
  }
}

@Suite("Backward")
struct BackwardTests {
  let f: SafetensorsFile
  init() throws { f = try Fixtures.load("ch07-layer-grads") }
  func t(_ name: String) throws -> Tensor { try f.tensor(name) }

  @Test func linear() throws {
    let layer = Linear(weight: try t("linear.param.weight"), bias: try t("linear.param.bias"))
    let x = try t("linear.x"), g = try t("linear.g")
    expectClose(layer.forward(x), try t("linear.y"), atol: 1e-6, rtol: 1e-5, "y")
    var grads = Linear(weight: .zeros(layer.weight.shape), bias: .zeros(layer.bias.shape))
    let dx = layer.backward(g, input: x, grads: &grads)
    expectClose(dx, try t("linear.dx"), atol: 1e-6, rtol: 1e-5, "dx")
    expectClose(grads.weight, try t("linear.grad.weight"), atol: 1e-6, rtol: 1e-5, "dW")
    expectClose(grads.bias, try t("linear.grad.bias"), atol: 1e-6, rtol: 1e-5, "db")
    expectFiniteDifferences("linear dx", at: x, analytic: dx) { weightedSum(layer.forward($0), g) }
    expectFiniteDifferences("linear dW", at: layer.weight, analytic: grads.weight) {
      weightedSum(Linear(weight: $0, bias: layer.bias).forward(x), g)
    }
    // Gradients accumulate: a second backward doubles them.
    _ = layer.backward(g, input: x, grads: &grads)
    expectClose(grads.bias, try t("linear.grad.bias") * 2, atol: 1e-6, rtol: 1e-5, "accumulated db")
  }

  @Test func layerNorm() throws {
    let ln = LayerNorm(weight: try t("layernorm.param.weight"), bias: try t("layernorm.param.bias"), eps: 1e-6)
    let x = try t("layernorm.x"), g = try t("layernorm.g")
    let (y, cache) = ln.forward(x)
    expectClose(y, try t("layernorm.y"), atol: 1e-6, rtol: 1e-5, "y")
    var grads = LayerNorm(weight: .zeros([64]), bias: .zeros([64]), eps: 1e-6)
    let dx = ln.backward(g, input: x, cache: cache, grads: &grads)
    expectClose(dx, try t("layernorm.dx"), atol: 1e-6, rtol: 1e-5, "dx")
    expectClose(grads.weight, try t("layernorm.grad.weight"), atol: 1e-6, rtol: 1e-5, "dweight")
    expectClose(grads.bias, try t("layernorm.grad.bias"), atol: 1e-6, rtol: 1e-5, "dbias")
    expectFiniteDifferences("layernorm dx", at: x, analytic: dx) { weightedSum(ln.forward($0).0, g) }
    expectFiniteDifferences("layernorm dweight", at: ln.weight, analytic: grads.weight) {
      weightedSum(LayerNorm(weight: $0, bias: ln.bias, eps: 1e-6).forward(x).0, g)
    }
  }

  @Test func gelu() throws {
    let x = try t("gelu.x"), g = try t("gelu.g")
    let dx = g.geluBackward(input: x)
    expectClose(dx, try t("gelu.dx"), atol: 1e-6, rtol: 1e-5, "dx")
    expectFiniteDifferences("gelu dx", at: x, analytic: dx, coordinates: 20) { weightedSum($0.gelu(), g) }
  }

  @Test("QuickGELU (OpenAI CLIP): finite differences; autograd through the CLIP fixture (OpenAICLIPTests)")
  func quickGELU() throws {
    let x = try t("gelu.x"), g = try t("gelu.g")
    let dx = g.quickGELUBackward(input: x)
    expectFiniteDifferences("quickGELU dx", at: x, analytic: dx, coordinates: 20) { weightedSum($0.quickGELU(), g) }
  }

  @Test("causal attention: finite differences for dx and dqkv; a later token never changes an earlier output")
  func causalAttention() throws {
    var attn = try attentionLayer()
    attn.causal = true
    let x = try t("attention.x"), g = try t("attention.g")
    let (y, cache) = attn.forward(x)
    var grads = MultiHeadAttention(qkv: Linear(weight: .zeros([48, 16]), bias: .zeros([48])),
                                   proj: Linear(weight: .zeros([16, 16]), bias: .zeros([16])), heads: 4)
    let dx = attn.backward(g, cache: cache, grads: &grads)
    expectFiniteDifferences("causal attention dx", at: x, analytic: dx, coordinates: 12) { weightedSum(attn.forward($0).0, g) }
    expectFiniteDifferences("causal attention dqkv", at: attn.qkv.weight, analytic: grads.qkv.weight) {
      var a = attn
      a.qkv.weight = $0
      return weightedSum(a.forward(x).0, g)
    }
    // Change the last token: every earlier token's output stays the same to the bit.
    var changed = x
    let n = x.shape[1], d = x.shape[2]
    for k in 0..<d { changed[0, n - 1, k] += 1 }
    let y2 = attn.forward(changed).0
    for i in 0..<(n - 1) { for k in 0..<d { #expect(y2[0, i, k] == y[0, i, k]) } }
  }

  @Test func softmax() throws {
    let x = try t("softmax.x"), g = try t("softmax.g")
    let y = x.softmaxLastDim()
    let dx = g.softmaxBackward(output: y)
    expectClose(dx, try t("softmax.dx"), atol: 1e-6, rtol: 1e-5, "dx")
    expectFiniteDifferences("softmax dx", at: x, analytic: dx) { weightedSum($0.softmaxLastDim(), g) }
  }

  func attentionLayer() throws -> MultiHeadAttention {
    MultiHeadAttention(qkv: Linear(weight: try t("attention.param.qkv.weight"), bias: try t("attention.param.qkv.bias")),
                       proj: Linear(weight: try t("attention.param.proj.weight"), bias: try t("attention.param.proj.bias")), heads: 4)
  }

  @Test("attention with a key mask, through the fused qkv")
  func attention() throws {
    let attn = try attentionLayer()
    let x = try t("attention.x"), g = try t("attention.g"), mask = try t("attention.mask")
    let (y, cache) = attn.forward(x, keyMask: mask)
    expectClose(y, try t("attention.y"), atol: 1e-6, rtol: 1e-5, "y")
    var grads = MultiHeadAttention(qkv: Linear(weight: .zeros([48, 16]), bias: .zeros([48])),
                                   proj: Linear(weight: .zeros([16, 16]), bias: .zeros([16])), heads: 4)
    let dx = attn.backward(g, cache: cache, grads: &grads)
    expectClose(dx, try t("attention.dx"), atol: 1e-6, rtol: 1e-5, "dx")
    expectClose(grads.qkv.weight, try t("attention.grad.qkv.weight"), atol: 1e-6, rtol: 1e-5, "dqkv.weight")
    expectClose(grads.qkv.bias, try t("attention.grad.qkv.bias"), atol: 1e-6, rtol: 1e-5, "dqkv.bias")
    expectClose(grads.proj.weight, try t("attention.grad.proj.weight"), atol: 1e-6, rtol: 1e-5, "dproj.weight")
    expectClose(grads.proj.bias, try t("attention.grad.proj.bias"), atol: 1e-6, rtol: 1e-5, "dproj.bias")
    expectFiniteDifferences("attention dx", at: x, analytic: dx) { weightedSum(attn.forward($0, keyMask: mask).0, g) }
    expectFiniteDifferences("attention dqkv", at: attn.qkv.weight, analytic: grads.qkv.weight) {
      var a = attn
      a.qkv.weight = $0
      return weightedSum(a.forward(x, keyMask: mask).0, g)
    }
  }

  @Test func mlp() throws {
    let mlp = MLP(fc1: Linear(weight: try t("mlp.param.fc1.weight"), bias: try t("mlp.param.fc1.bias")),
                  fc2: Linear(weight: try t("mlp.param.fc2.weight"), bias: try t("mlp.param.fc2.bias")))
    let x = try t("mlp.x"), g = try t("mlp.g")
    let (y, cache) = mlp.forward(x)
    expectClose(y, try t("mlp.y"), atol: 1e-6, rtol: 1e-5, "y")
    var grads = MLP(fc1: Linear(weight: .zeros([32, 8]), bias: .zeros([32])), fc2: Linear(weight: .zeros([8, 32]), bias: .zeros([8])))
    let dx = mlp.backward(g, cache: cache, grads: &grads)
    expectClose(dx, try t("mlp.dx"), atol: 1e-6, rtol: 1e-5, "dx")
    expectClose(grads.fc1.weight, try t("mlp.grad.fc1.weight"), atol: 1e-6, rtol: 1e-5, "dfc1")
    expectClose(grads.fc2.bias, try t("mlp.grad.fc2.bias"), atol: 1e-6, rtol: 1e-5, "dfc2.bias")
    expectFiniteDifferences("mlp dx", at: x, analytic: dx) { weightedSum(mlp.forward($0).0, g) }
  }

  @Test("timm's pre-norm Block: every parameter")
  func block() throws {
    func ln(_ n: String) throws -> LayerNorm { LayerNorm(weight: try t("block.param.\(n).weight"), bias: try t("block.param.\(n).bias"), eps: 1e-6) }
    func lin(_ n: String) throws -> Linear { Linear(weight: try t("block.param.\(n).weight"), bias: try t("block.param.\(n).bias")) }
    let block = PreNormBlock(norm1: try ln("norm1"), attn: MultiHeadAttention(qkv: try lin("attn.qkv"), proj: try lin("attn.proj"), heads: 4),
                             norm2: try ln("norm2"), mlp: MLP(fc1: try lin("mlp.fc1"), fc2: try lin("mlp.fc2")))
    let x = try t("block.x"), g = try t("block.g")
    let (y, cache) = block.forward(x)
    expectClose(y, try t("block.y"), atol: 1e-6, rtol: 1e-5, "y")
    var grads = block
    for p in [\PreNormBlock.norm1.weight, \.norm1.bias, \.attn.qkv.weight, \.attn.qkv.bias, \.attn.proj.weight, \.attn.proj.bias,
              \.norm2.weight, \.norm2.bias, \.mlp.fc1.weight, \.mlp.fc1.bias, \.mlp.fc2.weight, \.mlp.fc2.bias] {
      grads[keyPath: p] = .zeros(block[keyPath: p].shape)
    }
    let dx = block.backward(g, cache: cache, grads: &grads)
    expectClose(dx, try t("block.dx"), atol: 1e-6, rtol: 1e-5, "dx")
    for (name, path) in [("norm1.weight", \PreNormBlock.norm1.weight), ("attn.qkv.weight", \.attn.qkv.weight), ("attn.qkv.bias", \.attn.qkv.bias),
                         ("attn.proj.weight", \.attn.proj.weight), ("norm2.bias", \.norm2.bias), ("mlp.fc1.weight", \.mlp.fc1.weight),
                         ("mlp.fc2.weight", \.mlp.fc2.weight), ("mlp.fc2.bias", \.mlp.fc2.bias)] {
      expectClose(grads[keyPath: path], try t("block.grad.\(name)"), atol: 1e-6, rtol: 1e-5, name)
    }
    expectFiniteDifferences("block dx", at: x, analytic: dx) { weightedSum(block.forward($0).0, g) }
  }

  @Test("patch embedding (conv as GEMM)")
  func patchEmbedding() throws {
    let conv = PatchEmbedding(weight: try t("patch.param.weight"), bias: try t("patch.param.bias"))
    let x = try t("patch.x"), g = try t("patch.g")
    let (y, cache) = conv.forward(x)
    expectClose(y, try t("patch.y"), atol: 1e-6, rtol: 1e-5, "y")
    var grads = PatchEmbedding(weight: .zeros(conv.weight.shape), bias: .zeros(conv.bias.shape))
    conv.backward(g, cache: cache, grads: &grads)
    expectClose(grads.weight, try t("patch.grad.weight"), atol: 1e-6, rtol: 1e-5, "dW")
    expectClose(grads.bias, try t("patch.grad.bias"), atol: 1e-6, rtol: 1e-5, "db")
    expectFiniteDifferences("patch dW", at: conv.weight, analytic: grads.weight) {
      weightedSum(PatchEmbedding(weight: $0, bias: conv.bias).forward(x).0, g)
    }
  }

  @Test("mean pooling with a mask, then L2 normalisation")
  func pooling() throws {
    let x = try t("pool.x"), g = try t("pool.g"), mask = try t("pool.mask")
    let pooled = meanPool(x, mask: mask)
    let normalized = l2Normalize(pooled)
    let (y, norms) = (normalized.unit, normalized.norms)
    expectClose(y, try t("pool.y"), atol: 1e-6, rtol: 1e-5, "y")
    let dx = meanPoolBackward(l2NormalizeBackward(g, output: y, norms: norms), mask: mask, length: 5)
    expectClose(dx, try t("pool.dx"), atol: 1e-6, rtol: 1e-5, "dx")
    expectFiniteDifferences("pool dx", at: x, analytic: dx) { weightedSum(l2Normalize(meanPool($0, mask: mask)).unit, g) }
  }

  @Test func crossEntropyLoss() throws {
    let logits = try t("ce.logits")
    let targets = try f.integers("ce.targets").values
    let (loss, d) = crossEntropy(logits: logits, targets: targets)
    #expect(abs(loss - (try t("ce.loss")).storage[0]) < 1e-6)
    expectClose(d, try t("ce.dlogits"), atol: 1e-6, rtol: 1e-5, "dlogits")
    expectFiniteDifferences("ce", at: logits, analytic: d) { Double(crossEntropy(logits: $0, targets: targets).loss) }
  }

  @Test("contrastive loss, standard and seed-faithful", arguments: [ContrastiveLossKind.standard, .seedFaithful])
  func contrastive(_ kind: ContrastiveLossKind) throws {
    let p = kind == .standard ? "loss.standard" : "loss.seed"
    let i = try t("\(p).I"), tt = try t("\(p).T")
    let scale = Float(log(1 / 0.07))
    let out = contrastiveLoss(image: i, text: tt, logitScale: scale, kind: kind)
    #expect(abs(out.loss - (try t("\(p).loss")).storage[0]) < 1e-5, "loss \(out.loss)")
    expectClose(out.logits, try t("\(p).logits"), atol: 1e-5, rtol: 1e-5, "logits")
    expectClose(out.dImage, try t("\(p).dI"), atol: 1e-6, rtol: 1e-5, "dI")
    expectClose(out.dText, try t("\(p).dT"), atol: 1e-6, rtol: 1e-5, "dT")
    #expect(abs(out.dLogitScale - (try t("\(p).dscale")).storage[0]) < 1e-5)
    expectFiniteDifferences("\(kind) dI", at: i, analytic: out.dImage, h: 3e-3) {
      Double(contrastiveLoss(image: $0, text: tt, logitScale: scale, kind: kind).loss)
    }
    let h: Float = 1e-3
    let numeric = (contrastiveLoss(image: i, text: tt, logitScale: scale + h, kind: kind).loss
      - contrastiveLoss(image: i, text: tt, logitScale: scale - h, kind: kind).loss) / (2 * h)
    #expect(abs(numeric - out.dLogitScale) < 2e-2 * abs(out.dLogitScale) + 2e-3)
  }

  @Test("the seed's projection head with a replayed dropout mask")
  func projectionHead() throws {
    let p = try Fixtures.load("ch06-projection")
    var head = ProjectionHead(inputWidth: 10, outputWidth: 6)
    head.projection = Linear(weight: try p.tensor("head.projection.weight"), bias: try p.tensor("head.projection.bias"))
    head.fc = Linear(weight: try p.tensor("head.fc.weight"), bias: try p.tensor("head.fc.bias"))
    head.layerNorm = LayerNorm(weight: try p.tensor("head.layer_norm.weight"), bias: try p.tensor("head.layer_norm.bias"), eps: 1e-5)
    let x = try p.tensor("x"), g = try p.tensor("g"), mask = try p.tensor("mask")
    let (y, cache) = head.forward(x, dropoutMask: mask)
    expectClose(y, try p.tensor("y"), atol: 1e-6, rtol: 1e-5, "y")
    var grads = head
    grads.projection = Linear(weight: .zeros([6, 10]), bias: .zeros([6]))
    grads.fc = Linear(weight: .zeros([6, 6]), bias: .zeros([6]))
    grads.layerNorm = LayerNorm(weight: .zeros([6]), bias: .zeros([6]), eps: 1e-5)
    let dx = head.backward(g, cache: cache, grads: &grads)
    expectClose(dx, try p.tensor("dx"), atol: 1e-6, rtol: 1e-5, "dx")
    expectClose(grads.projection.weight, try p.tensor("grad.head.projection.weight"), atol: 1e-6, rtol: 1e-5, "dprojection")
    expectClose(grads.fc.weight, try p.tensor("grad.head.fc.weight"), atol: 1e-6, rtol: 1e-5, "dfc")
    expectClose(grads.fc.bias, try p.tensor("grad.head.fc.bias"), atol: 1e-6, rtol: 1e-5, "dfc.bias")
    expectClose(grads.layerNorm.weight, try p.tensor("grad.head.layer_norm.weight"), atol: 1e-6, rtol: 1e-5, "dln")
    expectFiniteDifferences("head dx", at: x, analytic: dx) { weightedSum(head.forward($0, dropoutMask: mask).0, g) }
  }

  @Test("the linear projection head (OpenAI's): one Linear, its gradients by finite differences, only its two keys in the table")
  func linearProjectionHead() throws {
    var head = ProjectionHead(inputWidth: 10, outputWidth: 6, kind: .linear)
    head.projection = Linear(weight: randomTensor([6, 10], seed: 3), bias: randomTensor([6], seed: 4))
    let x = randomTensor([5, 10], seed: 5), g = randomTensor([5, 6], seed: 6)
    let (y, cache) = head.forward(x, dropoutMask: randomTensor([5, 6], seed: 7))  // a mask is ignored: no dropout
    expectClose(y, head.projection.forward(x), atol: 0, rtol: 0, "y = projection(x)")
    var grads = head
    grads.projection = Linear(weight: .zeros([6, 10]), bias: .zeros([6]))
    let dx = head.backward(g, cache: cache, grads: &grads)
    expectFiniteDifferences("linear head dx", at: x, analytic: dx) { weightedSum(head.forward($0).0, g) }
    expectFiniteDifferences("linear head dW", at: head.projection.weight, analytic: grads.projection.weight) { w in
      var h = head
      h.projection.weight = w
      return weightedSum(h.forward(x).0, g)
    }
    var config = CLIPConfig.testTiny
    config.head = .linear
    let keys = CLIP.parameterTable(config).map(\.key).filter { $0.contains("projection.") }
    #expect(keys == ["image_projection.projection.weight", "image_projection.projection.bias", "text_projection.projection.weight",
                     "text_projection.projection.bias"])
  }

  @Test("standard initialisation: towers N(0, 0.02²) with biases 0 and norms 1/0, deterministic from the seed")
  func standardInitialisation() {
    var config = CLIPConfig.testTiny
    config.initialisation = .standard
    let a = CLIP(config: config, seed: 5), b = CLIP(config: config, seed: 5)
    for p in CLIP.parameterTable(config) where p.key.hasPrefix("image_encoder.") || p.key.hasPrefix("text_encoder.") {
      let values = p.get(a).storage
      #expect(values == p.get(b).storage, "\(p.key) deterministic")
      if p.key.hasSuffix(".bias") { #expect(values.allSatisfy { $0 == 0 }, "\(p.key)") }
      else if p.key.lowercased().contains("norm") { #expect(values.allSatisfy { $0 == 1 }, "\(p.key)") }
      else if values.count >= 1000 {
        let mean = values.reduce(0, +) / Float(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)).squareRoot()
        #expect(abs(mean) < 0.002 && abs(std - 0.02) < 0.002 && values.allSatisfy { abs($0) <= 0.13 }, "\(p.key): mean \(mean), std \(std)")
      }
    }
  }

  @Test("dropout: the seeded mask is replayed, and has the right rate and scale")
  func dropout() {
    var rng1 = SeededRNG(seed: 9), rng2 = SeededRNG(seed: 9)
    let m1 = dropoutMask(shape: [100, 100], p: 0.1, rng: &rng1), m2 = dropoutMask(shape: [100, 100], p: 0.1, rng: &rng2)
    #expect(m1 == m2)
    let dropped = m1.storage.filter { $0 == 0 }.count
    #expect(dropped > 900 && dropped < 1100)
    #expect(m1.storage.allSatisfy { $0 == 0 || abs($0 - 1 / 0.9) < 1e-6 })
  }
}
