// `bench` — the package's benchmark executable (release mode). Not a test: it prints timings.
//
//   swift run -c release bench gemm [--threads 1,2] [--json]
//   swift run -c release bench vit  [--threads 1,2] [--batch 1,8] [--json]
//   swift run -c release bench minilm|bert [--threads 1,2] [--json]   (32 sentences × 32 tokens)
//   swift run -c release bench step [--threads 1,2] [--batch 8] [--json]   (CLIP forward + backward)
//   swift run -c release bench peak [--threads 1,2] [--json]   (FMA throughput: the machine's peak)
//   swift run -c release bench attention [--threads 1,2] [--json]   (197 tokens × 12 heads, width 768)
//   swift run -c release bench attention-core [--threads 1,2] [--json]   (the attention kernels alone, 5 shapes)
//   swift run -c release bench memory-vit [--batch 1]   (peak resident memory of a ViT-B/16 forward)
//
// Scripts/bench/compare.py runs it beside numpy/PyTorch in the same run and prints the ratios.

import ArgumentParser
import Foundation
import Kernels
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "bench", abstract: "Time one workload (Scripts/bench/compare.py adds PyTorch beside it).")
  @Argument(help: "gemm, gemm-steps, gemm-small, vit, minilm, bert, step, train-step, peak, attention, attention-core, clip-b32 or memory-vit.") var workload = "gemm"
  @Option(help: "Thread counts, comma-separated.") var threads = "1,2"
  @Option(help: "Batch sizes, comma-separated.") var batch = "1,8"
  @Option(name: .customLong("repeat"), help: "Fixed number of timed runs (0: about 0.5 s worth).") var repeats = 0
  @Flag(help: "One JSON object per line.") var json = false
  @Option(help: "gemm: only the shapes whose label contains this (e.g. qkv); clip-b32: image or text. For a profiler.") var only: String?

  func validate() throws {
    for (list, name) in [(threads, "--threads"), (batch, "--batch")] {
      let values = list.split(separator: ",").map { Int($0) }
      guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else { throw ValidationError("\(name) takes positive integers, e.g. 1,2") }
    }
    if repeats < 0 { throw ValidationError("--repeat must be at least 0") }
  }
}
let args = Options.parseOrExit()
keepFreedMemory()  // as every executable here does (Kernels/Memory.swift)
let workload = args.workload
let threadCounts = args.threads.split(separator: ",").compactMap { Int($0) }
let batches = args.batch.split(separator: ",").compactMap { Int($0) }
let repeats = args.repeats

/// Median seconds of `body` over enough runs to take ~0.5 s (at least 3; `--repeat N` fixes the count).
@MainActor func timeMedian(_ body: () -> Void) -> Double {
  body()  // warm up
  var times: [Double] = []
  let t0 = now()
  while times.count < max(3, repeats) || (repeats == 0 && now() - t0 < 0.5 && times.count < 200) {
    let s = now()
    body()
    times.append(now() - s)
  }
  return times.sorted()[times.count / 2]
}

@MainActor func report(_ name: String, threads: Int, seconds: Double, flop: Double) {
  if args.json {
    print("{\"workload\":\(jsonString(name)),\"threads\":\(threads),\"seconds\":\(seconds),\"gflops\":\(flop / seconds / 1e9)}")
  } else {
    print(String(format: "%-28@ threads %d  %9.3f ms  %7.1f GFLOP/s", name as NSString, threads, seconds * 1e3, flop / seconds / 1e9))
  }
}

switch workload {
case "gemm":
  // (M, N, K): C(M×N) = A(M×K)·Bᵀ with B stored (N, K), the Linear layout.
  let shapes: [(Int, Int, Int, String)] = [
    (197, 2304, 768, "gemm vit qkv 197x768x2304"),
    (197, 3072, 768, "gemm vit fc1 197x768x3072"),
    (197, 768, 3072, "gemm vit fc2 197x3072x768"),
    (6304, 768, 768, "gemm proj 6304x768x768"),
    (1024, 768, 768, "gemm bert 32x32 1024x768x768"),
    (2048, 2048, 2048, "gemm square 2048^3"),
  ] + (args.json ? [] : [
    (1576, 2304, 768, "gemm batch-8 qkv"),
    (1576, 3072, 768, "gemm batch-8 fc1"),
    (1576, 768, 3072, "gemm batch-8 fc2"),
  ])
  for threads in threadCounts {
    for (m, n, k, label) in shapes where args.only.map({ label.contains($0) }) ?? true {
      let a = Tensor.deterministic([m, k], name: "a", scale: 1)
      let b = Tensor.deterministic([n, k], name: "b", scale: 1)
      var c = Tensor.zeros([m, n])
      let seconds = a.withUnsafePointer { ap in
        b.withUnsafePointer { bp in
          c.withUnsafeMutablePointer { cp in
            timeMedian {
              gemm(transA: false, transB: true, m: m, n: n, k: k, a: ap, lda: k, b: bp, ldb: k, c: cp, ldc: n, threads: threads)
            }
          }
        }
      }
      report(label, threads: threads, seconds: seconds, flop: 2.0 * Double(m) * Double(n) * Double(k))
    }
  }
case "vit":
  let model = ViT(config: .base16)
  // FLOPs of one image: the matrix products (patch embed, qkv, scores, mix, proj, fc1, fc2, head).
  let t = 197.0, d = 768.0
  let perImage = 2 * 196 * 768 * d + 12 * (2 * t * d * 3 * d + 2 * 2 * t * t * d + 2 * t * d * d + 2 * 2 * t * d * 4 * d) + 2 * d * 1000
  for threads in threadCounts {
    kernelThreads = threads
    for batch in batches {
      let pixels = Tensor.deterministic([batch, 3, 224, 224], name: "pixels", scale: 1)
      let seconds = timeMedian { _ = model.forward(pixels, keepCaches: false) }
      report("vit-b/16 forward batch \(batch)", threads: threads, seconds: seconds, flop: perImage * Double(batch))
    }
  }
case "minilm", "bert":
  // 32 sentences of exactly 32 tokens ([CLS] + 30 one-piece words + [SEP]), tokenization included.
  let words = ["a", "dog", "runs", "across", "the", "green", "grass", "while", "two", "children", "play", "in", "snow"]
  let sentences = (0..<32).map { i in (0..<30).map { words[(i + $0 * 7) % words.count] }.joined(separator: " ") }
  let encoder: SentenceEncoder
  if workload == "minilm" {
    guard MiniLM.isAvailable else { fail("all-MiniLM-L6-v2 not found; run \(MiniLM.fetchCommand)") }
    encoder = try! SentenceEncoder(directory: MiniLM.directory)
  } else {
    encoder = SentenceEncoder(tokenizer: try! BertTokenizer.bundledUncased(), model: BERT(config: .base))
  }
  precondition(encoder.tokenizer.batch(sentences).length == 32)
  let c = encoder.model.config
  let d = Double(c.hiddenSize), t = 32.0
  let perSentence = Double(c.layers) * (2 * t * d * 3 * d + 2 * 2 * t * t * d + 2 * t * d * d + 2 * 2 * t * d * Double(c.intermediateSize))
  for threads in threadCounts {
    kernelThreads = threads
    let seconds = timeMedian { _ = encoder.embed(sentences, batchSize: 32) }
    report("\(workload) forward 32x32", threads: threads, seconds: seconds, flop: perSentence * 32)
  }
case "step":
  // One forward + backward (no optimiser) of CLIP: the test-tiny config at batch 8, and ViT-B/16 +
  // BERT-base (pooled feature, standard loss) at batch 8 with 32-token captions.
  for (name, config) in [("tiny", CLIPConfig.testTiny), ("vit-b/16+bert-base", CLIPConfig(vit: .base16, text: .base))] {
    let model = CLIP(config: config)
    let b = batches.last ?? 8, s = config.vit.imageSize, l = min(32, config.text.maxPositions)
    let pixels = Tensor.deterministic([b, 3, s, s], name: "pixels", scale: 1)
    let ids = (0..<(b * l)).map { 1000 + ($0 * 7919) % 900 }.map { min($0, config.text.vocabSize - 1) }
    let batch = TokenBatch(inputIds: ids, attentionMask: [Int](repeating: 1, count: b * l), tokenTypeIds: [Int](repeating: 0, count: b * l),
                           batchSize: b, length: l)
    for threads in threadCounts {
      kernelThreads = threads
      let seconds = timeMedian {
        var rng: SeededRNG? = SeededRNG(seed: 1)
        let step = model.forward(pixels: pixels, batch: batch, dropout: &rng)
        var grads = model.zeroGradients()
        model.backward(step, loss: contrastiveLoss(step, model: model), grads: &grads)
      }
      report("clip \(name) fwd+bwd batch \(b)", threads: threads, seconds: seconds, flop: 0)
    }
  }
case "train-step":
  // One training step of chapter 08's default recipe (TrainingConfig.tiny): forward, loss, backward,
  // AdamW, at its batch size with 24-token captions — the number the race against PyTorch turns on.
  let config = TrainingConfig.tiny
  var model = CLIP(config: config.model, seed: config.seed)
  var optimizer = AdamW(model: model, config: config.optimizer)
  let b = config.batchSize, s = config.model.vit.imageSize, l = config.model.maxTextLength
  let pixels = Tensor.deterministic([b, 3, s, s], name: "pixels", scale: 1)
  let ids = (0..<(b * l)).map { 1000 + ($0 * 7919) % 900 }
  let batch = TokenBatch(inputIds: ids, attentionMask: [Int](repeating: 1, count: b * l), tokenTypeIds: [Int](repeating: 0, count: b * l),
                         batchSize: b, length: l)
  for threads in threadCounts {
    kernelThreads = threads
    let seconds = timeMedian {
      _ = try? trainStep(&model, optimizer: &optimizer, config: config.optimizer, pixels: pixels, batch: batch, dropoutMasks: nil)
    }
    report("tiny train step batch \(b)", threads: threads, seconds: seconds, flop: 0)
    let forward = timeMedian { _ = contrastiveLoss(model.forward(pixels: pixels, batch: batch, dropoutMasks: nil), model: model) }
    report("  forward + loss", threads: threads, seconds: forward, flop: 0)
    let out = model.forward(pixels: pixels, batch: batch, dropoutMasks: nil)
    var grads = model.zeroGradients()
    let outLoss = contrastiveLoss(out, model: model)
    let backward = timeMedian { grads = model.zeroGradients(); model.backward(out, loss: outLoss, grads: &grads) }
    report("  zero grads + backward", threads: threads, seconds: backward, flop: 0)
    let update = timeMedian { optimizer.update(&model, grads: grads) }
    report("  AdamW update", threads: threads, seconds: update, flop: 0)
    let vitOnly = timeMedian { _ = model.vit.forward(pixels) }
    report("  ViT forward", threads: threads, seconds: vitOnly, flop: 0)
  }
  // Its attention alone: 65 tokens, 4 heads of 32, forward + backward.
  let attention = MultiHeadAttention(
    qkv: Linear(weight: .deterministic([384, 128], name: "qkv.weight", scale: 0.05), bias: .deterministic([384], name: "qkv.bias", scale: 0.02)),
    proj: Linear(weight: .deterministic([128, 128], name: "proj.weight", scale: 0.05), bias: .deterministic([128], name: "proj.bias", scale: 0.02)),
    heads: 4)
  let x = Tensor.deterministic([b, 65, 128], name: "x", scale: 1)
  for threads in threadCounts {
    kernelThreads = threads
    var grads = attention
    let seconds = timeMedian {
      let (y, cache) = attention.forward(x)
      _ = attention.backward(y, cache: cache, grads: &grads)
    }
    report("attention 65 tok x 4 heads fwd+bwd b\(b)", threads: threads, seconds: seconds, flop: 0)
    let forward = timeMedian { _ = attention.forward(x) }
    report("  forward only", threads: threads, seconds: forward, flop: 0)
    let qkvOnly = timeMedian { _ = attention.qkv.forward(x) }
    report("  qkv linear forward only", threads: threads, seconds: qkvOnly, flop: 2.0 * Double(b * 65) * 128 * 384)
  }
case "gemm-steps":
  // Walkthroughs/GEMM.md's table: each step of GEMMSteps.swift on one thread, then the production GEMM on
  // one and on every thread asked for, with the fraction of the FMA peak measured in the same run.
  var peak: [Int: Double] = [:]
  for threads in Set([1] + threadCounts) {
    let steps = 2_000_000
    let seconds = timeMedian {
      DispatchQueue.concurrentPerform(iterations: threads) { worker in
        if fmaPeakLoop(steps: steps, seed: Float(worker)) == .infinity { print("") }
      }
    }
    peak[threads] = Double(threads * steps) * fmaPeakFlopPerStep / seconds / 1e9
  }
  print(String(format: "FMA peak: %.1f GFLOP/s on 1 thread", peak[1]!))
  for (m, n, k) in [(197, 2304, 768), (1024, 1024, 1024)] {
    let a = Tensor.deterministic([m, k], name: "a", scale: 1), b = Tensor.deterministic([k, n], name: "b", scale: 1)
    var c = Tensor.zeros([m, n])
    let flop = 2.0 * Double(m) * Double(n) * Double(k)
    print("C(\(m)×\(n)) = A(\(m)×\(k))·B(\(k)×\(n)):")
    let variants: [(String, Int, (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void)] = [
      ("1 triple loop i,j,p", 1, { gemmStep1(m: m, n: n, k: k, a: $0, b: $1, c: $2) }),
      ("2 loop order i,p,j", 1, { gemmStep2(m: m, n: n, k: k, a: $0, b: $1, c: $2) }),
      ("3 4x16 register tile", 1, { gemmStep3(m: m, n: n, k: k, a: $0, b: $1, c: $2) }),
      ("4 packed panels, K blocks", 1, { gemmStep4(m: m, n: n, k: k, a: $0, b: $1, c: $2) }),
      ("5 gemm, 1 thread", 1, { gemm(transA: false, transB: false, m: m, n: n, k: k, a: $0, lda: k, b: $1, ldb: n, c: $2, ldc: n, threads: 1) }),
    ] + threadCounts.filter { $0 > 1 }.map { t in
      ("6 gemm, \(t) threads", t, { gemm(transA: false, transB: false, m: m, n: n, k: k, a: $0, lda: k, b: $1, ldb: n, c: $2, ldc: n, threads: t) })
    }
    for (name, threads, run) in variants {
      let seconds = a.withUnsafePointer { ap in b.withUnsafePointer { bp in c.withUnsafeMutablePointer { cp in timeMedian { run(ap, bp, cp) } } } }
      let gflops = flop / seconds / 1e9
      if args.json {
        print("{\"workload\":\(jsonString("gemm-step " + name)),\"threads\":\(threads),\"seconds\":\(seconds),\"gflops\":\(gflops)}")
      } else {
        print(String(format: "  %-30@ %9.2f ms  %7.1f GFLOP/s  %5.1f%% of %d-thread peak", name as NSString, seconds * 1e3, gflops,
                     100 * gflops / (peak[threads] ?? peak[1]!), threads))
      }
    }
  }
case "peak":
  // Independent FMA chains on every thread: the ceiling no kernel can pass (fmaPeakLoop in FMAPeak.swift).
  for threads in threadCounts {
    let steps = 2_000_000
    let seconds = timeMedian {
      DispatchQueue.concurrentPerform(iterations: threads) { worker in
        if fmaPeakLoop(steps: steps, seed: Float(worker)) == .infinity { print("") }
      }
    }
    let flop = Double(threads * steps) * fmaPeakFlopPerStep
    report("peak fma", threads: threads, seconds: seconds, flop: flop)
  }
  for threads in threadCounts {
    let calls = 20_000
    let seconds = timeMedian {
      DispatchQueue.concurrentPerform(iterations: threads) { _ in _ = microKernelInL1(calls: calls) }
    }
    let flop = Double(threads * calls) * 2 * Double(GEMMBlocking.mr * GEMMBlocking.nr * GEMMBlocking.kc)
    report("micro-kernel \(GEMMBlocking.mr)x\(GEMMBlocking.nr) in L1", threads: threads, seconds: seconds, flop: flop)
  }
case "attention":
  // One multi-head self-attention layer of ViT-B/16 (qkv projection, scores, softmax, mix, output
  // projection) on one image's 197 tokens.
  let attention = MultiHeadAttention(
    qkv: Linear(weight: .deterministic([2304, 768], name: "qkv.weight", scale: 0.02), bias: .deterministic([2304], name: "qkv.bias", scale: 0.02)),
    proj: Linear(weight: .deterministic([768, 768], name: "proj.weight", scale: 0.02), bias: .deterministic([768], name: "proj.bias", scale: 0.02)),
    heads: 12)
  let x = Tensor.deterministic([1, 197, 768], name: "x", scale: 1)
  let projections: Double = 2 * 197 * 768 * 2304 + 2 * 197 * 768 * 768
  let scoresAndMix: Double = 2 * 2 * 197 * 197 * 768
  let flop = projections + scoresAndMix
  for threads in threadCounts {
    kernelThreads = threads
    let seconds = timeMedian { _ = attention.forward(x) }  // the cache it returns is what backward would need
    report("attention 197 tokens x 12 heads", threads: threads, seconds: seconds, flop: flop)
  }
case "attention-core":
  // The attention kernels alone (scores, softmax, mix, and their backward), batch 8, on the shapes this
  // package runs: 17 and 65 tokens (the tiny ViT, 4 heads of 32), 50 (ViT-B/32), 197 (ViT-B/16),
  // 77 causal (CLIP's text tower, 8 heads of 64). The projections are not in it.
  let shapes: [(n: Int, d: Int, h: Int, causal: Bool)] = [(17, 128, 4, false), (65, 128, 4, false), (50, 768, 12, false),
                                                        (197, 768, 12, false), (77, 512, 8, true)]
  let b = 8
  for threads in threadCounts {
    kernelThreads = threads
    for s in shapes {
      let qkv = Tensor.deterministic([b, s.n, 3 * s.d], name: "qkv", scale: 1)
      let dContext = Tensor.deterministic([b, s.n, s.d], name: "dcontext", scale: 1)
      var probs = Tensor.zeros([b, s.h, s.n, s.n]), context = Tensor.zeros([b, s.n, s.d]), dqkv = Tensor.zeros([b, s.n, 3 * s.d])
      let flop = 2 * 2 * Double(b * s.n * s.n * s.d)  // S = Q·Kᵀ and O = P·V
      let label = "attention core \(s.n) tok x \(s.h)x\(s.d / s.h)\(s.causal ? " causal" : "") b\(b)"
      let forward = timeMedian {
        qkv.storage.withUnsafeBufferPointer { q in
          probs.storage.withUnsafeMutableBufferPointer { p in
            context.storage.withUnsafeMutableBufferPointer { c in
              attentionHeadsForward(qkv: q.baseAddress!, batch: b, tokens: s.n, width: s.d, heads: s.h, keyMask: nil, causal: s.causal,
                                    probs: p.baseAddress!, context: c.baseAddress!)
            }
          }
        }
      }
      report(label + " fwd", threads: threads, seconds: forward, flop: flop)
      let backward = timeMedian {
        qkv.storage.withUnsafeBufferPointer { q in
          probs.storage.withUnsafeBufferPointer { p in
            dContext.storage.withUnsafeBufferPointer { dc in
              dqkv.storage.withUnsafeMutableBufferPointer { dq in
                attentionHeadsBackward(qkv: q.baseAddress!, probs: p.baseAddress!, dContext: dc.baseAddress!, batch: b, tokens: s.n,
                                       width: s.d, heads: s.h, dqkv: dq.baseAddress!)
              }
            }
          }
        }
      }
      report(label + " bwd", threads: threads, seconds: backward, flop: 2 * flop)
    }
  }
case "gemm-small":
  // Few-row Linear products (a text's tokens, one image's class token) through the packed GEMM and
  // through gemmSkinny: where the crossover is (GEMMBlocking.skinnyRows).
  for threads in threadCounts {
    for (n, k) in [(2304, 768), (1536, 512)] {
      for m in [1, 4, 12, 16, 24, 32, 50, 64, 96, 128, 197] {
        let a = Tensor.deterministic([m, k], name: "a", scale: 1), b = Tensor.deterministic([n, k], name: "b", scale: 1)
        var c = Tensor.zeros([m, n])
        for (label, rows) in [("packed", 0), ("skinny", 1 << 20)] {
          let seconds = a.withUnsafePointer { ap in
            b.withUnsafePointer { bp in
              c.withUnsafeMutablePointer { cp in
                timeMedian {
                  gemm(transA: false, transB: true, m: m, n: n, k: k, a: ap, lda: k, b: bp, ldb: k, c: cp, ldc: n, threads: threads, skinnyRows: rows)
                }
              }
            }
          }
          report("gemm \(label) \(m)x\(n)x\(k)", threads: threads, seconds: seconds, flop: 2.0 * Double(m * n * k))
        }
      }
    }
  }
case "clip-b32":
  // OpenAI's CLIP ViT-B/32 (chapter 11), deterministic weights: image features for batches of 1 and 32
  // photos' pixels, text features for 1 and 32 prompts ("a photo of a {ImageNet class}.", cut at <|endoftext|>).
  let model = OpenAICLIP(config: .b32)
  let tokenizer = try! CLIPTokenizer.bundled()
  let classes = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead shark", "electric ray", "stingray", "rooster"]
  let prompts = (0..<32).map { "a photo of a \(classes[$0 % classes.count]) number \($0)." }
  let c = model.config
  let imageFlop = Double(c.visionLayers) * (2 * 50 * 768 * 768 * 12 + 2 * 2 * 50 * 50 * 768) + 2 * 49 * 3 * 32 * 32 * 768
  for threads in threadCounts {
    kernelThreads = threads
    for batch in batches.contains(8) && batches.contains(1) ? [1, 32] : batches {
      if args.only.map({ "image".contains($0) }) ?? true {
        let pixels = Tensor.deterministic([batch, 3, 224, 224], name: "pixels", scale: 1)
        let seconds = timeMedian { _ = model.encodeImage(pixels) }
        report("clip b/32 image features batch \(batch)", threads: threads, seconds: seconds, flop: imageFlop * Double(batch))
      }
      if let only = args.only, !"text".contains(only) { continue }
      let ids = tokenizer.batch(Array(prompts.prefix(batch)))
      let textSeconds = timeMedian { _ = model.encodeText(ids) }
      report("clip b/32 text features batch \(batch)", threads: threads, seconds: textSeconds, flop: 0)
    }
  }
case "memory-vit":
  // Peak resident memory of: ViT-B/16 weights + one forward of `batch` images (one process per measurement).
  let batch = batches.first ?? 1
  let model = ViT(config: .base16)
  _ = model.forward(Tensor.deterministic([batch, 3, 224, 224], name: "pixels", scale: 1), keepCaches: false)
  // VmHWM (peak resident set of this address space); ru_maxrss would include the parent's peak,
  // which Linux carries across fork + exec.
  let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
  let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
  let megabytes = Double(line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0) / 1024
  if args.json {
    print("{\"workload\":\"vit-b/16 peak memory batch \(batch)\",\"threads\":\(kernelThreads),\"megabytes\":\(megabytes)}")
  } else {
    print(String(format: "vit-b/16 batch %d: peak resident memory %.0f MB", batch, megabytes))
  }
default:
  fail("unknown workload '\(workload)' (available: gemm, gemm-steps, gemm-small, vit, minilm, bert, step, train-step, peak, attention, attention-core, clip-b32, memory-vit)")
}
