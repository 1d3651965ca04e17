// Reading a folder of photos is decode + resize per file, and the files are independent: this runs
// them on every core (the model's forward is threaded inside; decoding, before this, was serial and
// took a third of `clip embed-image`'s time on 32 photos).

import Foundation
import Image
import Kernels
import Report
import TensorCore

/// Decodes each JPEG and applies `prepare` to it, `threads` files at a time; the results come back in
/// the order of `paths`, each the prepared value or the error that stopped that file (the others go on).
public func loadImages<Prepared>(_ paths: [String], threads: Int = kernelThreads,
                                 prepare: (RGBImage) -> Prepared) -> [Result<Prepared, any Error>] {
  var results = [Result<Prepared, any Error>?](repeating: nil, count: paths.count)
  let workers = max(1, min(threads, paths.count))
  results.withUnsafeMutableBufferPointer { slots in
    let out = slots.baseAddress!
    parallelFor(workers) { worker in
      var i = worker
      while i < paths.count {  // each worker writes only its own slots
        do { out[i] = .success(prepare(try JPEG.decode(path: paths[i]))) } catch { out[i] = .failure(error) }
        i += workers
      }
    }
  }
  return results.map { $0! }
}

/// JPEG files through an image tower, `batchSize` per forward: each batch decoded and preprocessed on
/// every core (`pixels` gives an image's (3, S, S) values), then `embed` turns (count, 3, S, S) into
/// (count, width) rows. Files that cannot be read are skipped and named; the rest keep their order.
public func embedImageFiles(_ paths: [String], batchSize: Int, side: Int, width: Int, progress: ProgressBar? = nil,
                            pixels: (RGBImage) -> [Float], embed: (Tensor) -> Tensor) -> EmbeddedFiles {
  var storage: [Float] = [], embedded: [Int] = [], skipped: [SkippedFile] = []
  let started = now()
  for start in stride(from: 0, to: paths.count, by: batchSize) {
    let end = min(paths.count, start + batchSize)
    var batch: [Float] = [], count = 0
    for (offset, result) in loadImages(Array(paths[start..<end]), prepare: pixels).enumerated() {
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
  return EmbeddedFiles(embeddings: Tensor(shape: [embedded.count, width], storage: storage), embedded: embedded, skipped: skipped)
}
