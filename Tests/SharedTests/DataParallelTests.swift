// Data parallelism without MPI: two threads play two ranks through an in-memory GradientExchange.
// The same code path chapter 10 runs over MPI; here it must equal one process on the global batch.

import Foundation
import Shared
import Testing

/// All-gather and all-reduce between threads of one process, with a reusable barrier.
final class ThreadExchange: @unchecked Sendable {
  let ranks: Int
  private let condition = NSCondition()
  private var arrived = 0, generation = 0
  private var slots: [[Float]]
  init(ranks: Int) {
    self.ranks = ranks
    slots = Array(repeating: [], count: ranks)
  }

  func barrier() {
    condition.lock()
    let mine = generation
    arrived += 1
    if arrived == ranks {
      arrived = 0
      generation += 1
      condition.broadcast()
    } else {
      while generation == mine { condition.wait() }
    }
    condition.unlock()
  }

  /// Everyone posts, everyone reads every slot, everyone leaves.
  func exchange(_ rank: Int, _ values: [Float]) -> [[Float]] {
    condition.lock(); slots[rank] = values; condition.unlock()
    barrier()
    condition.lock(); let all = slots; condition.unlock()
    barrier()
    return all
  }

  struct Rank: GradientExchange {
    let shared: ThreadExchange
    let rank: Int
    var ranks: Int { shared.ranks }
    func allGather(_ local: Tensor) throws -> Tensor {
      let all = shared.exchange(rank, local.storage)
      return Tensor(shape: [local.shape[0] * ranks] + local.shape.dropFirst(), storage: all.flatMap { $0 })
    }
    func allReduceSum(_ buffer: inout [Float]) throws {
      let all = shared.exchange(rank, buffer)
      // Sum in rank order on every rank: the same float operations, so the same bits everywhere.
      for i in buffer.indices {
        var s: Float = 0
        for r in 0..<ranks { s += all[r][i] }
        buffer[i] = s
      }
    }
  }
}

@Suite("Data parallel")
struct DataParallelTests {
  @Test("two ranks on halves of a batch equal one process on the whole batch; the ranks stay bit-identical")
  func twoRanksEqualOne() throws {
    let config = CLIPConfig.testTiny
    let n = 8, length = 7, p = config.projectionDim
    let pixels = Tensor.deterministic([n, 3, config.vit.imageSize, config.vit.imageSize], name: "dp.pixels", scale: 1)
    let ids = (0..<(n * length)).map { i in i % length == 0 ? 101 : (i % length == length - 1 ? 102 : 1000 % 900 + (i * 37) % 800) }
    let batch = TokenBatch(inputIds: ids, attentionMask: [Int](repeating: 1, count: n * length), tokenTypeIds: [Int](repeating: 0, count: n * length),
                           batchSize: n, length: length)
    var rng = SeededRNG(seed: 5)
    let masks = DropoutMasks(image: dropoutMask(shape: [n, p], p: 0.1, rng: &rng), text: dropoutMask(shape: [n, p], p: 0.1, rng: &rng))
    let optimizerConfig = OptimizerConfig()
    let start = CLIP(config: config, seed: 3)
    let table = CLIP.parameterTable(config)

    // One process, the whole batch, three steps.
    var single = start
    var singleOptimizer = AdamW(model: single, config: optimizerConfig)
    var singleLosses: [Float] = []
    var firstGrads = single.zeroGradients()
    let firstForward = single.forward(pixels: pixels, batch: batch, dropoutMasks: masks)
    single.backward(firstForward, loss: contrastiveLoss(firstForward, model: single), grads: &firstGrads)
    for _ in 0..<3 {
      singleLosses.append(try trainStep(&single, optimizer: &singleOptimizer, config: optimizerConfig, pixels: pixels, batch: batch,
                                        dropoutMasks: masks).loss)
    }

    // Two ranks, four rows each, the same three steps.
    let shared = ThreadExchange(ranks: 2)
    final class Results: @unchecked Sendable { var byRank: [(CLIP, [Float])?] = [nil, nil]; let lock = NSLock() }
    let results = Results()
    DispatchQueue.concurrentPerform(iterations: 2) { rank in
      let rows = (rank * n / 2)..<((rank + 1) * n / 2)
      let localIds = Array(ids[(rows.lowerBound * length)..<(rows.upperBound * length)])
      let localBatch = TokenBatch(inputIds: localIds, attentionMask: [Int](repeating: 1, count: localIds.count),
                                  tokenTypeIds: [Int](repeating: 0, count: localIds.count), batchSize: n / 2, length: length)
      var model = start
      var optimizer = AdamW(model: model, config: optimizerConfig)
      var losses: [Float] = []
      for _ in 0..<3 {
        let r = try! trainStep(&model, optimizer: &optimizer, config: optimizerConfig, pixels: pixels.rows(rows), batch: localBatch,
                               dropoutMasks: masks.rows(rows),
                               exchange: ThreadExchange.Rank(shared: shared, rank: rank))
        losses.append(r.loss)
      }
      results.lock.lock(); results.byRank[rank] = (model, losses); results.lock.unlock()
    }
    let (rank0, losses0) = results.byRank[0]!, (rank1, losses1) = results.byRank[1]!
    for (a, b) in zip(losses0, singleLosses) { #expect(abs(a - b) <= 1e-5, "loss \(a) vs one process \(b)") }
    #expect(losses0.map(\.bitPattern) == losses1.map(\.bitPattern))
    var worst: Float = 0, noisy = 0
    for param in table {
      let a = param.get(rank0).storage, b = param.get(rank1).storage, s = param.get(single).storage
      #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(param.key): the ranks differ")
      // As in TrainingTests: entries whose gradient is zero up to float noise (|g| < 1e-4·max|g|) move by
      // ±lr with the noise's sign, which a different summation order may flip; they are held to 2·lr a step.
      let g = param.get(firstGrads).storage, scale = g.map(abs).max() ?? 0
      let lr = optimizerConfig.groups.first { $0.name == optimizerConfig.group(of: param.key) }?.learningRate ?? 0
      for i in a.indices {
        if g[i] == 0 || abs(g[i]) >= 1e-4 * scale {
          worst = max(worst, abs(a[i] - s[i]))
          #expect(abs(a[i] - s[i]) <= 1e-5, "\(param.key)[\(i)]: \(a[i]) vs one process \(s[i])")
        } else {
          noisy += 1
          #expect(abs(a[i] - s[i]) <= 3 * 2 * lr * 1.001, "\(param.key)[\(i)]")
        }
      }
    }
    print("data parallel vs one process after 3 steps: worst |Δparam| \(worst); \(noisy) near-zero-gradient entries held to 2·lr per step")
  }
}
