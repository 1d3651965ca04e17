// The split by image and the epoch order: pure functions of a seed, so a resumed run sees the same
// images in the same order.

import TensorCore

/// Fisher–Yates with our own generator (the standard library's shuffle algorithm may change between
/// Swift versions; a split must not).
func seededShuffle<T>(_ items: [T], seed: UInt64) -> [T] {
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
