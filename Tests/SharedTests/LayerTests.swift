// The transformer layers against PyTorch (ch02-layers fixture), and the row kernels against their
// naive definitions.

import Kernels
import Shared
import Testing

@Suite("Layers")
struct LayerTests {
  let fixture: SafetensorsFile
  init() throws { fixture = try Fixtures.load("ch02-layers") }

  @Test func linear() throws {
    let layer = Linear(weight: try fixture.tensor("linear.weight"), bias: try fixture.tensor("linear.bias"))
    expectClose(layer.forward(try fixture.tensor("linear.x")), try fixture.tensor("linear.y"), atol: 1e-6, rtol: 1e-5, "linear")
  }

  @Test("LayerNorm, including constant, 1e4-offset and tiny-spread rows")
  func layerNorm() throws {
    let ln = LayerNorm(weight: try fixture.tensor("layernorm.weight"), bias: try fixture.tensor("layernorm.bias"), eps: 1e-6)
    let (y, cache) = ln.forward(try fixture.tensor("layernorm.x"))
    // The 1e4-offset row loses ~3 digits to float cancellation in torch as in ours: atol 1e-4 there.
    expectClose(y, try fixture.tensor("layernorm.y"), atol: 1e-4, rtol: 1e-4, "layernorm")
    expectClose(y.rows(0..<2), try fixture.tensor("layernorm.y").rows(0..<2), atol: 1e-5, rtol: 1e-5, "layernorm normal+constant rows")
    #expect(cache.mean.count == 6 && cache.rstd.count == 6)
  }

  @Test("GELU (exact, erf) over [-10, 10]")
  func gelu() throws {
    expectClose(try fixture.tensor("gelu.x").gelu(), try fixture.tensor("gelu.y"), atol: 1e-6, rtol: 1e-5, "gelu")
  }

  @Test("softmax with ±1000 scores, a constant row, -inf entries and a 1e4 offset")
  func softmax() throws {
    let y = try fixture.tensor("softmax.x").softmaxLastDim()
    expectClose(y, try fixture.tensor("softmax.y"), atol: 1e-7, rtol: 1e-5, "softmax")
    // A fully masked row is zeros, never NaN.
    let masked = Tensor(shape: [1, 3], repeating: -.infinity).softmaxLastDim()
    #expect(masked.storage == [0, 0, 0])
  }

  @Test("multi-head attention with timm's fused qkv and a key mask")
  func attention() throws {
    let attn = MultiHeadAttention(
      qkv: Linear(weight: try fixture.tensor("attention.qkv.weight"), bias: try fixture.tensor("attention.qkv.bias")),
      proj: Linear(weight: try fixture.tensor("attention.proj.weight"), bias: try fixture.tensor("attention.proj.bias")),
      heads: 4)
    let x = try fixture.tensor("attention.x")
    let (out, cache) = attn.forward(x, keyMask: try fixture.tensor("attention.mask"))
    expectClose(cache.probs, try fixture.tensor("attention.probs"), atol: 1e-6, rtol: 1e-5, "attention probs")
    expectClose(out, try fixture.tensor("attention.out"), atol: 1e-6, rtol: 1e-5, "attention out")
    // Masked keys get exactly zero probability.
    for h in 0..<4 { for i in 0..<5 { #expect(cache.probs[1, h, i, 3] == 0 && cache.probs[1, h, i, 4] == 0) } }
    // Without a mask it is timm's Attention module.
    let (plain, _) = attn.forward(x)
    expectClose(plain, try fixture.tensor("attention.unmasked_out"), atol: 1e-6, rtol: 1e-5, "timm Attention")
  }

  @Test("fast row kernels equal their definitions on awkward widths (LayerNorm forward and backward, softmax, GELU)", arguments: [1, 15, 16, 17, 197, 768, 1001])
  func rowKernels(_ dim: Int) {
    let rows = 37
    let x = randomTensor([rows, dim], seed: UInt64(dim)) * 4
    let w = randomTensor([dim], seed: 1), b = randomTensor([dim], seed: 2)
    // LayerNorm, forward and backward, against the definition in Layers/LayerNorm.swift
    let norm = LayerNorm(weight: w, bias: b, eps: 1e-6)
    let (y, cache) = norm.forward(x), (yDef, cacheDef) = norm.forwardDefinition(x)
    expectClose(y, yDef, atol: 1e-5, rtol: 1e-5, "layerNorm dim \(dim)")
    expectClose(cache.rstd, cacheDef.rstd, atol: 1e-6, rtol: 1e-5, "layerNorm rstd dim \(dim)")
    let dyNorm = randomTensor([rows, dim], seed: 78)
    var g1 = norm, g2 = norm
    (g1.weight, g1.bias, g2.weight, g2.bias) = (.zeros([dim]), .zeros([dim]), .zeros([dim]), .zeros([dim]))
    let dx = norm.backward(dyNorm, input: x, cache: cache, grads: &g1)
    let dxDef = norm.backwardDefinition(dyNorm, input: x, cache: cacheDef, grads: &g2)
    expectClose(dx, dxDef, atol: 1e-5, rtol: 1e-4, "layerNorm backward dx dim \(dim)")
    expectClose(g1.weight, g2.weight, atol: 1e-4, rtol: 1e-4, "layerNorm backward dweight dim \(dim)")
    expectClose(g1.bias, g2.bias, atol: 1e-4, rtol: 1e-4, "layerNorm backward dbias dim \(dim)")
    // softmax and GELU, forward and backward, against the definitions in Layers/Softmax.swift and GELU.swift;
    // softmax also on a row with -inf entries (masked keys) and a row of only -inf (all keys masked).
    var xInf = x
    for j in stride(from: 0, to: dim, by: 2) { xInf.storage[3 * dim + j] = -.infinity }
    for j in 0..<dim { xInf.storage[5 * dim + j] = -.infinity }
    let pInf = xInf.softmaxLastDim()
    expectClose(pInf, xInf.softmaxDefinition(), atol: 1e-7, rtol: 1e-6, "softmax with -inf rows dim \(dim)")
    #expect(pInf.row(5).storage.allSatisfy { $0 == 0 }, "a row of only -inf gives zeros, dim \(dim)")
    let p = x.softmaxLastDim()
    expectClose(p, x.softmaxDefinition(), atol: 1e-7, rtol: 1e-6, "softmax dim \(dim)")
    let dy = randomTensor([rows, dim], seed: 77)
    expectClose(dy.softmaxBackward(output: p), dy.softmaxBackwardDefinition(output: p), atol: 1e-7, rtol: 1e-5, "softmax backward dim \(dim)")
    expectClose(x.gelu(), x.geluDefinition(), atol: 1e-7, rtol: 1e-6, "gelu dim \(dim)")
    expectClose(dy.geluBackward(input: x), dy.geluBackwardDefinition(input: x), atol: 1e-7, rtol: 1e-6, "gelu backward dim \(dim)")
    // QuickGELU (chapter 11), forward and backward.
    expectClose(x.quickGELU(), x.quickGELUDefinition(), atol: 1e-6, rtol: 1e-6, "quickGELU dim \(dim)")
    expectClose(dy.quickGELUBackward(input: x), dy.quickGELUBackwardDefinition(input: x), atol: 1e-6, rtol: 1e-5,
                "quickGELU backward dim \(dim)")
  }

  @Test("the fast Linear (packed GEMM) equals its plain-loop definition, forward and backward, on awkward shapes",
        arguments: [[1, 5, 3], [7, 33, 17], [197, 64, 48], [3, 1, 1], [40, 17, 129]])
  func linearMatchesDefinition(_ dims: [Int]) {
    let (rows, inp, out) = (dims[0], dims[1], dims[2])
    let layer = Linear(weight: randomTensor([out, inp], seed: 5), bias: randomTensor([out], seed: 6))
    let x = randomTensor([rows, inp], seed: 7), dy = randomTensor([rows, out], seed: 8)
    expectClose(layer.forward(x), layer.forwardDefinition(x), atol: 1e-5, rtol: 1e-5, "y \(dims)")
    let zero = Linear(weight: .zeros([out, inp]), bias: .zeros([out]))
    var g = zero, gDef = zero
    let dx = layer.backward(dy, input: x, grads: &g), dxDef = layer.backwardDefinition(dy, input: x, grads: &gDef)
    expectClose(dx, dxDef, atol: 1e-5, rtol: 1e-5, "dx \(dims)")
    expectClose(g.weight, gDef.weight, atol: 1e-4, rtol: 1e-5, "dW \(dims)")
    expectClose(g.bias, gDef.bias, atol: 1e-4, rtol: 1e-5, "db \(dims)")
  }

  @Test("fast attention equals its plain-loop definition, forward and backward, with and without a mask, causal or not",
        arguments: [[2, 7, 16, 2], [1, 17, 96, 2], [2, 65, 64, 2], [1, 3, 6, 3], [2, 33, 64, 1], [3, 1, 8, 2], [3, 6, 8, 2]])
  func attentionMatchesDefinition(_ dims: [Int]) {
    let (b, n, d, h) = (dims[0], dims[1], dims[2], dims[3])
    // Weights at the usual 1/√D scale: scores of a few units, as in a real model. (At 0.5 the scores of the
    // 128-wide, 65-token case reach ±30, softmax rows are one-hot, and dS = P ⊙ (dP − rowsum) cancels to float noise:
    // 4 of 16,640 dx entries then differ by 7e-5 between any two summation orders.)
    let scale = 1 / Float(d).squareRoot()
    let plain = MultiHeadAttention(qkv: Linear(weight: randomTensor([3 * d, d], seed: 1) * scale, bias: randomTensor([3 * d], seed: 2)),
                                   proj: Linear(weight: randomTensor([d, d], seed: 3) * scale, bias: randomTensor([d], seed: 4)), heads: h)
    let x = randomTensor([b, n, d], seed: UInt64(n)), dy = randomTensor([b, n, d], seed: 99)
    // The last batch row ignores its second half of keys; with three rows the first ignores all of them.
    var mask = Tensor(shape: [b, n], repeating: 1)
    for j in (n / 2)..<n { mask[b - 1, j] = 0 }
    if b == 3 { for j in 0..<n { mask[0, j] = 0 } }
    for causal in [false, true] {
    var attn = plain
    attn.causal = causal
    for keyMask in [nil, mask] {
      let tag = "b\(b) n\(n) d\(d) h\(h) mask \(keyMask != nil) causal \(causal)"
      let (y, cache) = attn.forward(x, keyMask: keyMask), (yDef, cacheDef) = attn.forwardDefinition(x, keyMask: keyMask)
      if causal {  // no query attends to a later key
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { #expect(cache.probs[b - 1, h - 1, i, j] == 0, "\(tag) P[\(i), \(j)]") } }
      }
      expectClose(cache.probs, cacheDef.probs, atol: 1e-6, rtol: 1e-4, "probs \(tag)")
      expectClose(y, yDef, atol: 1e-5, rtol: 1e-4, "out \(tag)")
      let zero = MultiHeadAttention(qkv: Linear(weight: .zeros([3 * d, d]), bias: .zeros([3 * d])),
                                    proj: Linear(weight: .zeros([d, d]), bias: .zeros([d])), heads: h)
      var g = zero, gDef = zero
      let dx = attn.backward(dy, cache: cache, grads: &g), dxDef = attn.backwardDefinition(dy, cache: cacheDef, grads: &gDef)
      expectClose(dx, dxDef, atol: 1e-5, rtol: 1e-4, "dx \(tag)")
      expectClose(g.qkv.weight, gDef.qkv.weight, atol: 1e-4, rtol: 1e-4, "dW_qkv \(tag)")
      expectClose(g.qkv.bias, gDef.qkv.bias, atol: 1e-4, rtol: 1e-4, "db_qkv \(tag)")
      expectClose(g.proj.weight, gDef.proj.weight, atol: 1e-4, rtol: 1e-4, "dW_proj \(tag)")
    }
    }
  }
}
