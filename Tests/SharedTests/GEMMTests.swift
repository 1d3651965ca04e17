// The fast GEMM held to the naive definition on awkward shapes, every transpose combination,
// accumulation, the fused bias, and 1 vs 2 threads.

import Kernels
import Shared
import Testing

@Suite("GEMM")
struct GEMMTests {
  /// Runs fast and naive GEMM on the same random inputs and compares.
  func check(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, accumulate: Bool, bias: Bool, threads: Int) {
    let a = randomTensor(transA ? [k, m] : [m, k], seed: UInt64(m * 31 + k))
    let b = randomTensor(transB ? [n, k] : [k, n], seed: UInt64(n * 17 + k + 1))
    let c0 = randomTensor([m, n], seed: 99)
    let biasT = randomTensor([n], seed: 7)
    var fast = c0, naive = c0
    let lda = transA ? m : k, ldb = transB ? k : n
    a.withUnsafePointer { ap in
      b.withUnsafePointer { bp in
        biasT.withUnsafePointer { biasP in
          fast.withUnsafeMutablePointer { cp in
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: ap, lda: max(lda, 1), b: bp, ldb: max(ldb, 1),
                 c: cp, ldc: n, accumulate: accumulate, bias: bias ? biasP : nil, threads: threads)
          }
          naive.withUnsafeMutablePointer { cp in
            gemmNaive(transA: transA, transB: transB, m: m, n: n, k: k, a: ap, lda: max(lda, 1), b: bp,
                      ldb: max(ldb, 1), c: cp, ldc: n, accumulate: accumulate, bias: bias ? biasP : nil)
          }
        }
      }
    }
    // Inputs are in [-1, 1): a sum of K products differs between orders by at most ~K·ε·Σ|a·b|.
    let atol = Float(k) * 1.2e-7 + 1e-6
    expectClose(fast, naive, atol: atol, rtol: 1e-5,
                "gemm \(m)×\(n)×\(k) tA \(transA) tB \(transB) acc \(accumulate) bias \(bias) threads \(threads)")
  }

  @Test("awkward shapes, all transposes", arguments: [
    (1, 1, 1), (197, 13, 769), (197, 769, 13), (3, 5, 7), (8, 32, 256), (9, 33, 257),
    (1000, 3, 7), (2, 1000, 5), (64, 64, 1), (17, 2304, 1),
  ])
  func shapes(_ shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    for transA in [false, true] {
      for transB in [false, true] {
        check(m: m, n: n, k: k, transA: transA, transB: transB, accumulate: false, bias: false, threads: 2)
      }
    }
    check(m: m, n: n, k: k, transA: false, transB: true, accumulate: true, bias: true, threads: 1)
    check(m: m, n: n, k: k, transA: true, transB: false, accumulate: false, bias: true, threads: 2)
  }

  @Test("few rows against a Linear weight (the unpacked path), split over 2 threads: 33×2305×769 and 64×1537×512")
  func skinnyThreads() {
    check(m: 33, n: 2305, k: 769, transA: false, transB: true, accumulate: true, bias: true, threads: 2)
    check(m: 64, n: 1537, k: 512, transA: false, transB: true, accumulate: false, bias: false, threads: 2)
    check(m: 65, n: 1537, k: 512, transA: false, transB: true, accumulate: false, bias: true, threads: 2)  // just past it: packed
  }

  @Test("many row blocks (the workers split the rows, each packing all of B): 1300×777×300, ragged, 2 and 3 threads")
  func rowOwners() {
    // 14 row blocks of 96: ≥ 4 per worker at 2 and 3 threads, so the rows are split.
    for threads in [2, 3] {
      for transA in [false, true] {
        check(m: 1300, n: 777, k: 300, transA: transA, transB: false, accumulate: true, bias: true, threads: threads)
      }
      check(m: 1300, n: 777, k: 300, transA: false, transB: true, accumulate: false, bias: false, threads: threads)
    }
    // One sliver of columns and 7 row blocks: the rows are split rather than leaving a thread idle.
    check(m: 600, n: 20, k: 300, transA: false, transB: true, accumulate: true, bias: true, threads: 2)
    check(m: 600, n: 20, k: 300, transA: true, transB: false, accumulate: false, bias: false, threads: 3)
  }

  @Test("few row blocks (the workers split the columns in NR slivers, each packing all of A): ragged, 2, 3 and 5 threads")
  func columnOwners() {
    // 197 rows (3 row blocks, or 5 of 40 at 5 threads) × 1601 columns: 51 slivers of 32 (101 of 16 on AVX2), the last ragged,
    // split 25/26, 17/17/17 or 10/10/10/10/11; K past two panels. Enough tiles that neither the tiles ≤ workers path
    // nor the row split takes them.
    for threads in [2, 3, 5] {
      check(m: 197, n: 1601, k: 600, transA: false, transB: true, accumulate: true, bias: true, threads: threads)
      check(m: 197, n: 1601, k: 600, transA: true, transB: false, accumulate: false, bias: false, threads: threads)
    }
  }

  @Test("ViT shape 197×2304×768 (qkv), 1 and 2 threads")
  func vitShape() {
    check(m: 197, n: 2304, k: 768, transA: false, transB: true, accumulate: false, bias: true, threads: 1)
    check(m: 197, n: 2304, k: 768, transA: false, transB: true, accumulate: false, bias: true, threads: 2)
  }

  @Test("K = 0 leaves only the epilogue")
  func emptyK() {
    var c = Tensor(shape: [2, 3], repeating: 5)
    let bias = Tensor(shape: [3], storage: [1, 2, 3])
    let dummy = Tensor(shape: [1], storage: [0])
    dummy.withUnsafePointer { p in
      bias.withUnsafePointer { bp in
        c.withUnsafeMutablePointer { cp in
          gemm(transA: false, transB: false, m: 2, n: 3, k: 0, a: p, lda: 1, b: p, ldb: 3, c: cp, ldc: 3,
               accumulate: true, bias: bp)
        }
      }
    }
    #expect(c.storage == [6, 7, 8, 6, 7, 8])
  }

  @Test("matmul on tensors equals a hand-computed product")
  func handChecked() {
    let a = Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6])
    let b = Tensor(shape: [3, 2], storage: [7, 8, 9, 10, 11, 12])
    #expect(a.matmul(b).storage == [58, 64, 139, 154])
    // Linear convention: W stored (out, in).
    let w = b.transposed()
    #expect(a.matmul(w, transposeOther: true, bias: Tensor(shape: [2], storage: [1, -1])).storage == [59, 63, 140, 153])
  }

  @Test("every teaching step of GEMMSteps.swift equals the definition on awkward shapes (edges, K past one block)",
        arguments: [[1, 1, 1], [5, 17, 3], [4, 16, 8], [33, 47, 300], [13, 50, 257], [8, 32, 513]])
  func teachingSteps(_ dims: [Int]) {
    let (m, n, k) = (dims[0], dims[1], dims[2])
    let a = randomTensor([m, k], seed: 11), b = randomTensor([k, n], seed: 12)
    var expected = Tensor.zeros([m, n])
    a.withUnsafePointer { ap in b.withUnsafePointer { bp in expected.withUnsafeMutablePointer { cp in
      gemmNaive(transA: false, transB: false, m: m, n: n, k: k, a: ap, lda: k, b: bp, ldb: n, c: cp, ldc: n)
    } } }
    let steps: [(String, (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void)] = [
      ("step 1", { gemmStep1(m: m, n: n, k: k, a: $0, b: $1, c: $2) }),
      ("step 2", { gemmStep2(m: m, n: n, k: k, a: $0, b: $1, c: $2) }),
      ("step 3", { gemmStep3(m: m, n: n, k: k, a: $0, b: $1, c: $2) }),
      ("step 4", { gemmStep4(m: m, n: n, k: k, a: $0, b: $1, c: $2) }),
      ("step 4, KC 7", { gemmStep4(m: m, n: n, k: k, a: $0, b: $1, c: $2, kc: 7) }),
    ]
    for (name, run) in steps {
      var c = Tensor(shape: [m, n], repeating: .nan)  // every element must be written
      a.withUnsafePointer { ap in b.withUnsafePointer { bp in c.withUnsafeMutablePointer { cp in run(ap, bp, cp) } } }
      expectClose(c, expected, atol: Float(k) * 1.2e-7 + 1e-6, rtol: 1e-5, "\(name) \(dims)")
    }
  }
}

@Suite("Attention kernels")
struct AttentionKernelTests {
  @Test("softmaxRow: masked, NaN and mixed rows as the definition gives them (zeros for all −∞, NaN wherever a NaN is)")
  func softmaxEdges() {
    let nan = Float.nan, inf = Float.infinity
    for row: [Float] in [[nan, nan], [nan, -inf], [-inf, -inf], [1, nan], [-inf, 2, 3], Array(repeating: -inf, count: 17) + [nan],
                         (0..<35).map { Float($0) / 7 }] {
      let definition = Tensor(shape: [1, row.count], storage: row).softmaxDefinition().storage
      var fast = [Float](repeating: 0, count: row.count)
      row.withUnsafeBufferPointer { x in fast.withUnsafeMutableBufferPointer { y in softmaxRow(x.baseAddress!, y.baseAddress!, dim: row.count) } }
      for j in row.indices {
        #expect(fast[j].isNaN == definition[j].isNaN && (fast[j].isNaN || abs(fast[j] - definition[j]) <= 1e-6), "\(row): \(fast) vs \(definition)")
      }
    }
  }

  /// LayerTests holds this CPU's tile shape to the plain-loop definition; this holds the other shape (AVX2's 4 × 16 on an
  /// AVX-512 machine, AVX-512's 4 × 32 on an AVX2 one, where it compiles to ymm registers) to this one, so both stay right
  /// whichever CPU CI lands on. Head widths 64, 48 (32 + 16) and 40 (tail columns); 197 tokens leaves a tile tail of 1.
  @Test("both tile shapes give the same probabilities, context and gradients", arguments: [[2, 197, 128, 2], [1, 18, 96, 2], [2, 77, 80, 2]])
  func tileShapes(_ dims: [Int]) {
    let (b, n, d, h) = (dims[0], dims[1], dims[2], dims[3])
    let qkv = randomTensor([b, n, 3 * d], seed: 5) * 0.3, dContext = randomTensor([b, n, d], seed: 6)
    var mask = Tensor(shape: [b, n], repeating: 1)
    for j in (n / 3)..<n { mask[b - 1, j] = 0 }
    for causal in [false, true] {
      for keyMask in [nil, mask] {
        var results: [[Tensor]] = []
        for wide in [true, false] {
          var probs = Tensor.zeros([b, h, n, n]), context = Tensor.zeros([b, n, d]), dqkv = Tensor.zeros([b, n, 3 * d])
          qkv.withUnsafePointer { q in
            probs.withUnsafeMutablePointer { p in
              context.withUnsafeMutablePointer { c in
                if let keyMask {
                  keyMask.withUnsafePointer { m in
                    attentionHeadsForward(qkv: q, batch: b, tokens: n, width: d, heads: h, keyMask: m, causal: causal, probs: p, context: c,
                                          wideTiles: wide)
                  }
                } else {
                  attentionHeadsForward(qkv: q, batch: b, tokens: n, width: d, heads: h, keyMask: nil, causal: causal, probs: p, context: c,
                                        wideTiles: wide)
                }
              }
            }
          }
          qkv.withUnsafePointer { q in
            probs.withUnsafePointer { p in
              dContext.withUnsafePointer { dc in
                dqkv.withUnsafeMutablePointer { dq in
                  attentionHeadsBackward(qkv: q, probs: p, dContext: dc, batch: b, tokens: n, width: d, heads: h, dqkv: dq, wideTiles: wide)
                }
              }
            }
          }
          results.append([probs, context, dqkv])
        }
        let tag = "\(dims) causal \(causal) mask \(keyMask != nil)"
        expectClose(results[1][0], results[0][0], atol: 1e-6, rtol: 1e-5, "probs \(tag)")
        expectClose(results[1][1], results[0][1], atol: 1e-5, rtol: 1e-5, "context \(tag)")
        expectClose(results[1][2], results[0][2], atol: 1e-5, rtol: 1e-4, "dqkv \(tag)")
      }
    }
  }
}
