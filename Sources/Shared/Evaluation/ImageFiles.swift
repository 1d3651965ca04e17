// Reading a folder of photos is decode + resize per file, and the files are independent: this runs
// them on every core (the model's forward is threaded inside; decoding, before this, was serial and
// took a third of `clip embed-image`'s time on 32 photos).

import Foundation
import Image
import Kernels
import Report
import TensorCore

/// The images of `loadImages`, in the order of their paths, and the photos too large to decode in full.
public struct LoadedImages<Prepared> {
  /// Each the prepared value or the error that stopped that file (the others go on).
  public var results: [Result<Prepared, any Error>]
  /// Photos over `maxJPEGPixels` that were decoded reduced, in path order.
  public var reductions: [JPEGReduction]
}

/// Decodes each JPEG and applies `prepare` to it, `threads` files at a time. A photo over
/// `maxJPEGPixels` (more than Pillow opens) is decoded at 1/2, 1/4 or 1/8 when that keeps its shorter
/// side at `minShortSide` or more, and reported; with `minShortSide` 0 it is an error like any other.
public func loadImages<Prepared>(_ paths: [String], threads: Int = kernelThreads, minShortSide: Int = 0,
                                 prepare: (RGBImage) -> Prepared) -> LoadedImages<Prepared> {
  var results = [Result<Prepared, any Error>?](repeating: nil, count: paths.count)
  var reductions = [JPEGReduction?](repeating: nil, count: paths.count)
  let workers = max(1, min(threads, paths.count))
  results.withUnsafeMutableBufferPointer { slots in
    reductions.withUnsafeMutableBufferPointer { notes in
      let out = slots.baseAddress!, reduced = notes.baseAddress!
      parallelFor(workers) { worker in
        var i = worker
        while i < paths.count {  // each worker writes only its own slots
          do {
            let decoded = try JPEG.decode(path: paths[i], reducedToShortSide: minShortSide)
            reduced[i] = decoded.reduction
            out[i] = .success(prepare(decoded.image))
          } catch { out[i] = .failure(error) }
          i += workers
        }
      }
    }
  }
  return LoadedImages(results: results.map { $0! }, reductions: reductions.compactMap { $0 })
}

/// JPEG files through an image tower, `batchSize` per forward: each batch decoded and preprocessed on
/// every core (`pixels` gives an image's (3, S, S) values), then `embed` turns (count, 3, S, S) into
/// (count, width) rows. Files that cannot be read are skipped and named; the rest keep their order.
public func embedImageFiles(_ paths: [String], batchSize: Int, side: Int, width: Int, progress: ProgressBar? = nil,
                            pixels: (RGBImage) -> [Float], embed: (Tensor) -> Tensor) -> EmbeddedFiles {
  var storage: [Float] = [], embedded: [Int] = [], skipped: [SkippedFile] = [], reductions: [JPEGReduction] = []
  let started = now()
  for start in stride(from: 0, to: paths.count, by: batchSize) {
    let end = min(paths.count, start + batchSize)
    var batch: [Float] = [], count = 0
    // A photo too large to decode in full keeps a shorter side of at least twice the model's input
    // (more than any resize before the crop needs).
    let loaded = loadImages(Array(paths[start..<end]), minShortSide: 2 * side, prepare: pixels)
    reductions += loaded.reductions
    for (offset, result) in loaded.results.enumerated() {
      switch result {
      case .success(let values):
        batch += values
        embedded.append(start + offset)
        count += 1
      case .failure(let error):
        skipped.append(SkippedFile(path: paths[start + offset], reason: "\(error)"))
      }
    }
    if count > 0 { storage += embed(Tensor(shape: [count, 3, side, side], storage: batch)).storage }
    progress?.update(end, info: String(format: "%.0f img/s", Double(end) / max(now() - started, 1e-9)))
  }
  return EmbeddedFiles(embeddings: Tensor(shape: [embedded.count, width], storage: storage), embedded: embedded, skipped: skipped,
                       reductions: reductions)
}
