// Reading a folder of photos is decode + resize per file, and the files are independent: this runs
// them on every core (the model's forward is threaded inside; decoding, before this, was serial and
// took a third of `clip embed-image`'s time on 32 photos).

import Foundation
import Image
import Kernels

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
