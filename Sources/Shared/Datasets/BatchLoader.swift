// The batch loader: decodes, transforms and tokenizes (image, caption) pairs ahead of the training
// step on a background thread.

import TensorCore
import Text
import Image
import IO
import Dispatch
import Foundation

public struct TrainingBatch: Sendable {
  public var pixels: Tensor  // (N, 3, S, S)
  public var tokens: TokenBatch  // (N, L)
  public var images: [String]
  public var captions: [String]
  public var skipped: [String]  // images that could not be read, with the reason
}

/// Builds batches of (image, caption) pairs on a background thread, `prefetch` batches ahead.
/// Which caption an image gets in an epoch, and the order of images, are pure functions of
/// (seed, epoch) — so an interrupted run resumes on exactly the same batches.
public final class BatchLoader: @unchecked Sendable {
  public let dataset: CaptionDataset
  public let order: [String]  // images of this epoch, in order
  public let batchSize: Int
  let tokenizer: any CaptionTokenizer
  let pipeline: ImagePipeline
  let side: Int
  let maxLength: Int
  let train: Bool
  let seed: UInt64
  let epoch: Int
  public var batchCount: Int { (order.count + batchSize - 1) / batchSize }

  private let lock = NSLock()
  private var ready: [Int: TrainingBatch] = [:]
  private let available = DispatchSemaphore(value: 0)
  private let slots: DispatchSemaphore
  public let shard: Range<Int>?
  private var cancelled = false
  /// Seconds the consumer spent waiting for batches.
  public private(set) var waitSeconds = 0.0

  /// `images`: this split's images; `shuffle`: a new order every epoch (training) or file order.
  /// `captionChoice`: nil = a random caption per image per epoch (training); k = always caption k.
  /// `shard`: only these rows of every batch are made (chapter 10: each rank decodes its own share of
  /// the global batch; the order, captions and augmentation of those rows are the whole batch's).
  public init(dataset: CaptionDataset, images: [String], batchSize: Int, tokenizer: any CaptionTokenizer, pipeline: ImagePipeline,
              side: Int, maxLength: Int, train: Bool, seed: UInt64, epoch: Int, startBatch: Int = 0, prefetch: Int = 3,
              shard: Range<Int>? = nil) {
    self.shard = shard
    self.dataset = dataset
    self.batchSize = batchSize
    self.tokenizer = tokenizer
    self.pipeline = pipeline
    self.side = side
    self.maxLength = maxLength
    self.train = train
    self.seed = seed
    self.epoch = epoch
    order = train ? seededShuffle(images, seed: seed &+ UInt64(epoch) &* 0x9E37_79B9) : images
    // Created at 0 and raised to `prefetch`: libdispatch traps when a semaphore is freed with a value
    // below the one it was created with, which an epoch cut short (maxStepsPerEpoch) would leave.
    slots = DispatchSemaphore(value: 0)
    for _ in 0..<prefetch { slots.signal() }
    let total = (order.count + batchSize - 1) / batchSize
    Thread.detachNewThread { [self] in
      for index in startBatch..<total {
        slots.wait()
        if isCancelled { return }
        let batch = make(index)
        lock.lock()
        ready[index] = batch
        lock.unlock()
        available.signal()
      }
    }
  }

  private var isCancelled: Bool {
    lock.lock()
    defer { lock.unlock() }
    return cancelled
  }

  /// Stops the producer (call when leaving an epoch early).
  public func cancel() {
    lock.lock()
    cancelled = true
    lock.unlock()
    for _ in 0..<8 { slots.signal() }
  }

  /// Batch `index` (in order), blocking until the producer has it; the wait is added to `waitSeconds`.
  public func batch(_ index: Int) -> TrainingBatch {
    let t0 = now()
    while true {
      lock.lock()
      if let b = ready.removeValue(forKey: index) {
        lock.unlock()
        waitSeconds += now() - t0
        slots.signal()
        return b
      }
      lock.unlock()
      available.wait()
    }
  }

  /// Builds batch `index`: decode, transform, tokenize. Unreadable images are skipped and named.
  func make(_ index: Int) -> TrainingBatch {
    var names = order[(index * batchSize)..<min(order.count, (index + 1) * batchSize)]
    if let shard {  // this rank's rows of the batch
      let lower = min(names.startIndex + shard.lowerBound, names.endIndex), upper = min(names.startIndex + shard.upperBound, names.endIndex)
      names = names[lower..<upper]
    }
    var pixels: [Float] = [], captions: [String] = [], kept: [String] = [], skipped: [String] = []
    for name in names {
      // Per-image generator: the caption choice and augmentation depend only on (seed, epoch, image).
      var rng = SeededRNG(seed: seed ^ fnv1a64(name) &+ UInt64(epoch) &* 0xD1B5_4A32_D192_ED03)
      let image: RGBImage
      do { image = try JPEG.decode(path: dataset.imageDirectory + "/" + name) } catch {
        skipped.append("\(name): \(error)")
        continue
      }
      let options = dataset.captions[name] ?? []
      guard !options.isEmpty else { continue }
      let caption = train ? options[Int(rng.next() % UInt64(options.count))] : options[0]
      let input = pipeline.pixels(image, side: side, train: train, rng: &rng)
      pixels += input.pixels.storage
      // The generated shapes' captions use "left"/"right" only as directions, so a mirror swaps them
      // (resizeAugment). Flickr's do not ("all right"): timm's pipeline, the seed's, leaves them as the seed does.
      captions.append(input.mirrored && pipeline == .resizeAugment ? mirroredCaption(caption) : caption)
      kept.append(name)
    }
    return TrainingBatch(pixels: Tensor(shape: [kept.count, 3, side, side], storage: pixels),
                         tokens: tokenizer.tokenBatch(captions, maxLength: maxLength), images: kept, captions: captions, skipped: skipped)
  }
}
