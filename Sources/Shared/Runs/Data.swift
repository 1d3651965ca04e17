// Captioned images for training: the Flickr-layout CSV reader, the split by image, and the batch
// loader that decodes, transforms and tokenizes ahead of the training step on a background thread.
//
//   CSV:   image,caption_number,caption,id     (Flickr30k as the seed reads it; also "image,caption" —
//          Flickr8k's captions.txt — and '|'-separated "image_name| comment_number| comment")

import TensorCore
import Layers
import Models
import Text
import Image
import IO
import Dispatch
import Foundation

// MARK: - CSV

/// A problem with one line of a captions file.
public struct DataProblem: Error, CustomStringConvertible, Equatable {
  public var file: String
  public var line: Int
  public var message: String
  public init(file: String, line: Int, message: String) {
    (self.file, self.line, self.message) = (file, line, message)
  }
  public var description: String { "\(file):\(line): \(message)" }
}

/// Splits CSV text into records of fields (RFC 4180: quoted fields may hold the separator, doubled
/// quotes and line breaks). Each record carries the line number it starts on.
public func parseCSV(_ text: String, separator: Character = ",") throws -> [(line: Int, fields: [String])] {
  var records: [(Int, [String])] = []
  var fields: [String] = []
  var field = ""
  var inQuotes = false, quotedField = false
  var line = 1, recordLine = 1
  var chars = Array(text)
  if chars.first == "\u{FEFF}" { chars.removeFirst() }  // byte-order mark
  var i = 0
  func endField() {
    fields.append(quotedField ? field : field.trimmingCharacters(in: .whitespaces))
    field = ""
    quotedField = false
  }
  while i < chars.count {
    let c = chars[i]
    if inQuotes {
      if c == "\"" {
        if i + 1 < chars.count && chars[i + 1] == "\"" {
          field.append("\"")
          i += 1
        } else {
          inQuotes = false
        }
      } else {
        if c == "\n" || c == "\r\n" { line += 1 }
        field.append(c)
      }
    } else if c == "\"" && field.trimmingCharacters(in: .whitespaces).isEmpty {
      inQuotes = true
      quotedField = true
      field = ""
    } else if c == separator {
      endField()
    } else if c == "\n" || c == "\r\n" || c == "\r" {
      endField()
      records.append((recordLine, fields))
      fields = []
      line += 1
      recordLine = line
    } else {
      field.append(c)
    }
    i += 1
  }
  if inQuotes { throw DataProblem(file: "", line: recordLine, message: "a quoted field is never closed") }
  if !field.isEmpty || !fields.isEmpty {
    endField()
    records.append((recordLine, fields))
  }
  return records
}

/// One caption of one image.
public struct CaptionRecord: Sendable, Equatable {
  public var image: String
  public var caption: String
  public var line: Int
}

/// A folder of images with their captions, as read from a Flickr-layout CSV.
public struct CaptionDataset: Sendable {
  public var imageDirectory: String
  /// Image file names in the order they first appear.
  public var images: [String]
  /// Captions of each image, in file order.
  public var captions: [String: [String]]
  /// Rows skipped, each with its line number and the reason.
  public var problems: [DataProblem]

  /// Reads `csvPath`; images are looked up in `imageDirectory` (default: the CSV's folder, or its
  /// `images/` / `Images/` / `flickr30k_images/` subfolder when that exists). Malformed rows and rows
  /// naming a missing image are reported in `problems` and skipped — or thrown when `strict`.
  public init(csvPath: String, imageDirectory: String? = nil, strict: Bool = false) throws {
    guard let data = FileManager.default.contents(atPath: csvPath), let text = String(data: data, encoding: .utf8) else {
      throw DataProblem(file: csvPath, line: 0, message: FileManager.default.fileExists(atPath: csvPath) ? "not readable UTF-8 text" : "no such file")
    }
    let folder = (csvPath as NSString).deletingLastPathComponent
    let directory = imageDirectory ?? ["images", "Images", "flickr30k_images"].map { folder + "/" + $0 }
      .first { var d: ObjCBool = false; return FileManager.default.fileExists(atPath: $0, isDirectory: &d) && d.boolValue } ?? folder
    let firstLine = text.prefix { $0 != "\n" }
    let separator: Character = firstLine.contains("|") && !firstLine.contains(",") ? "|" : ","
    let records: [(line: Int, fields: [String])]
    do { records = try parseCSV(text, separator: separator) } catch var p as DataProblem {
      p.file = csvPath
      throw p
    }
    guard let header = records.first else { throw DataProblem(file: csvPath, line: 1, message: "empty file") }
    let names = header.fields.map { $0.lowercased().trimmingCharacters(in: .whitespaces) }
    guard let imageColumn = names.firstIndex(where: { $0 == "image" || $0 == "image_name" || $0 == "filename" }) else {
      throw DataProblem(file: csvPath, line: header.line, message: "no 'image' column in the header \(header.fields)")
    }
    guard let captionColumn = names.firstIndex(where: { $0 == "caption" || $0 == "comment" }) else {
      throw DataProblem(file: csvPath, line: header.line, message: "no 'caption' column in the header \(header.fields)")
    }
    var images: [String] = [], captions: [String: [String]] = [:], problems: [DataProblem] = []
    var existence: [String: Bool] = [:]
    func report(_ problem: DataProblem) throws {
      if strict { throw problem }
      problems.append(problem)
    }
    for record in records.dropFirst() {
      if record.fields.count == 1 && record.fields[0].isEmpty { continue }  // blank line
      guard record.fields.count == names.count else {
        try report(DataProblem(file: csvPath, line: record.line,
                               message: "expected \(names.count) fields (\(names.joined(separator: ","))), found \(record.fields.count)"))
        continue
      }
      let image = record.fields[imageColumn], caption = record.fields[captionColumn].trimmingCharacters(in: .whitespaces)
      if image.isEmpty || caption.isEmpty {
        try report(DataProblem(file: csvPath, line: record.line, message: image.isEmpty ? "empty image name" : "empty caption"))
        continue
      }
      let exists = existence[image] ?? FileManager.default.fileExists(atPath: directory + "/" + image)
      existence[image] = exists
      guard exists else {
        try report(DataProblem(file: csvPath, line: record.line, message: "image '\(image)' not found in \(directory)"))
        continue
      }
      if captions[image] == nil { images.append(image) }
      captions[image, default: []].append(caption)
    }
    self.imageDirectory = directory
    self.images = images
    self.captions = captions
    self.problems = problems
  }

  public var captionCount: Int { captions.values.reduce(0) { $0 + $1.count } }
}

// MARK: - Split

/// Fisher–Yates with our own generator (the standard library's shuffle algorithm may change between
/// Swift versions; a split must not).
public func seededShuffle<T>(_ items: [T], seed: UInt64) -> [T] {
  var a = items
  var rng = SeededRNG(seed: seed)
  if a.count < 2 { return a }
  for i in stride(from: a.count - 1, to: 0, by: -1) {
    let j = Int(rng.next() % UInt64(i + 1))
    a.swapAt(i, j)
  }
  return a
}

/// Splits by image (all captions of an image on one side): the first ⌈fraction·N⌉ of a seeded
/// shuffle of the sorted image names are validation.
public func splitByImage(_ images: [String], validationFraction: Double, seed: UInt64) -> (train: [String], validation: [String]) {
  let shuffled = seededShuffle(images.sorted(), seed: seed)
  let n = Int((Double(images.count) * validationFraction).rounded(.up))
  return (Array(shuffled[n...]).sorted(), Array(shuffled[..<n]).sorted())
}

// MARK: - Batches

/// How an image becomes pixels.
public enum ImagePipeline: String, Sendable, Codable {
  case resize  // bicubic resize to the model's side, no crop (the generated square images)
  case resizeAugment  // resize; in training also a random horizontal flip (the caption's left/right swap with it)
  case timmEval  // Resize(248) + CenterCrop(224), as timm's eval transform
  case timmTrain  // RandomResizedCrop + flip + ColorJitter (train) / timmEval (evaluation)

  /// The model's input for one image, and whether it was mirrored: a mirrored image's caption must say
  /// "right" where it said "left" (`mirroredCaption`), or the augmentation teaches a lie.
  public func pixels(_ image: RGBImage, side: Int, train: Bool, rng: inout SeededRNG) -> (pixels: Tensor, mirrored: Bool) {
    switch self {
    case .resize:
      return (image.resized(width: side, height: side).normalizedTensor(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]), false)
    case .resizeAugment:
      var resized = image.resized(width: side, height: side)
      let mirrored = train && rng.uniform(0, 1) < 0.5
      if mirrored { resized = resized.flippedHorizontally() }
      return (resized.normalizedTensor(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]), mirrored)
    case .timmEval, .timmTrain:
      if self == .timmTrain && train {
        var config = TrainTransformConfig()
        config.size = side
        let transform = TrainTransform(config: config)
        let (augmented, mirrored) = transform.augmentedReportingFlip(image, rng: &rng)
        return (augmented.normalizedTensor(mean: config.mean, std: config.std), mirrored)
      }
      var config = EvalTransformConfig()
      config.cropSize = side
      config.resizeShorterSide = Int(Double(side) / 0.9)
      return (EvalTransform(config: config)(image), false)
    }
  }
}

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
  let tokenizer: BertTokenizer
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
  private var cancelled = false
  /// Seconds the consumer spent waiting for batches.
  public private(set) var waitSeconds = 0.0

  /// `images`: this split's images; `shuffle`: a new order every epoch (training) or file order.
  /// `captionChoice`: nil = a random caption per image per epoch (training); k = always caption k.
  public init(dataset: CaptionDataset, images: [String], batchSize: Int, tokenizer: BertTokenizer, pipeline: ImagePipeline,
              side: Int, maxLength: Int, train: Bool, seed: UInt64, epoch: Int, startBatch: Int = 0, prefetch: Int = 3) {
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
    let names = order[(index * batchSize)..<min(order.count, (index + 1) * batchSize)]
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
                         tokens: tokenizer.batch(captions, maxLength: maxLength), images: kept, captions: captions, skipped: skipped)
  }
}
