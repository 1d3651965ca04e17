// The Float32 tensor every part of CLIP passes around: a shape and contiguous row-major storage.
// Reshape is free (the storage array is shared copy-on-write); transpose and permute copy, and say so.


/// A dense Float32 tensor with row-major storage.
///
/// ```
/// element (i0, i1, …, iR-1) lives at storage[i0*stride0 + i1*stride1 + …]
/// stride_{R-1} = 1,  stride_d = stride_{d+1} * shape[d+1]
/// ```
public struct Tensor: Sendable, Equatable {
  /// Extent of each dimension, outermost first.
  public private(set) var shape: [Int]
  /// The elements, row-major. Its count is always the product of `shape`: elements change in place
  /// (`t.storage[i] = v`), and a write that would change the count stops the program — a new shape is
  /// `reshaped(_:)` or a new tensor.
  public var storage: [Float] {
    @inline(__always) get { elements }
    @inline(__always) _modify {
      let count = elements.count
      yield &elements
      precondition(elements.count == count, "a tensor of shape \(shape) holds \(count) elements; its storage cannot become \(elements.count)")
    }
    @inline(__always) set {
      precondition(newValue.count == elements.count, "a tensor of shape \(shape) holds \(elements.count) elements, not \(newValue.count)")
      elements = newValue
    }
  }
  @usableFromInline var elements: [Float]

  /// A tensor with the given shape and elements (count must match).
  public init(shape: [Int], storage: [Float]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
    precondition(shape.reduce(1, *) == storage.count,
                 "shape \(shape) needs \(shape.reduce(1, *)) elements, got \(storage.count)")
    self.shape = shape
    self.elements = storage
  }

  /// A tensor filled with one value.
  public init(shape: [Int], repeating value: Float = 0) {
    self.init(shape: shape, storage: [Float](repeating: value, count: shape.reduce(1, *)))
  }

  public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }

  public var count: Int { elements.count }
  public var rank: Int { shape.count }

  /// Row-major strides, in elements.
  public var strides: [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      s[d] = acc
      acc *= shape[d]
    }
    return s
  }

  /// Flat offset of a multi-index. Bounds are checked in debug builds.
  @inline(__always)
  public func offset(_ index: [Int]) -> Int {
    assert(index.count == shape.count, "index \(index) has rank \(index.count), tensor has rank \(shape.count)")
    var off = 0
    var acc = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      assert(index[d] >= 0 && index[d] < shape[d], "index \(index) out of bounds for shape \(shape)")
      off += index[d] * acc
      acc *= shape[d]
    }
    return off
  }

  /// Element access by multi-index: `t[i, j]`. Bounds are checked in debug builds.
  public subscript(_ index: Int...) -> Float {
    get { storage[offset(index)] }
    set { storage[offset(index)] = newValue }
  }

  // MARK: - Views and copies

  /// The same elements under a new shape (one dimension may be -1 and is inferred). No copy.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    var s = newShape
    if let unknown = s.firstIndex(of: -1) {
      let known = s.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
      precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
      s[unknown] = count / known
    }
    precondition(s.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
    return Tensor(shape: s, storage: storage)
  }

  /// Rows `range` of the outermost dimension, copied: for a (B, N, D) tensor, `rows(2..<4)` is (2, N, D).
  public func rows(_ range: Range<Int>) -> Tensor {
    precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                 "rows \(range) out of bounds for shape \(shape)")
    let inner = shape.dropFirst().reduce(1, *)
    var s = shape
    s[0] = range.count
    return Tensor(shape: s, storage: Array(storage[(range.lowerBound * inner)..<(range.upperBound * inner)]))
  }

  /// Row `i` of the outermost dimension, with that dimension removed.
  public func row(_ i: Int) -> Tensor {
    rows(i..<(i + 1)).reshaped(Array(shape.dropFirst()))
  }

  /// Axes reordered (a copy): result.shape[d] = shape[axes[d]].
  /// `permuted([0, 2, 1, 3])` turns (B, N, H, Dh) into (B, H, N, Dh).
  public func permuted(_ axes: [Int]) -> Tensor {
    precondition(axes.sorted() == Array(0..<rank), "permutation \(axes) is not a permutation of 0..<\(rank)")
    let newShape = axes.map { shape[$0] }
    let oldStrides = strides
    let srcStrides = axes.map { oldStrides[$0] }
    var out = [Float](repeating: 0, count: count)
    if count == 0 { return Tensor(shape: newShape, storage: out) }
    storage.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        var index = [Int](repeating: 0, count: rank)
        var srcOffset = 0
        for flat in 0..<count {
          dst[flat] = src[srcOffset]
          // Advance the multi-index like an odometer, keeping srcOffset in step.
          var d = rank - 1
          while d >= 0 {
            index[d] += 1
            srcOffset += srcStrides[d]
            if index[d] < newShape[d] { break }
            srcOffset -= srcStrides[d] * newShape[d]
            index[d] = 0
            d -= 1
          }
        }
      }
    }
    return Tensor(shape: newShape, storage: out)
  }

  /// The matrix transpose of a rank-2 tensor (a copy).
  public func transposed() -> Tensor {
    precondition(rank == 2, "transposed() needs a matrix, got shape \(shape)")
    return permuted([1, 0])
  }

  // MARK: - Raw access for kernels

  public func withUnsafePointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
    try elements.withUnsafeBufferPointer { try body($0.baseAddress ?? UnsafePointer(bitPattern: 16)!) }
  }

  public mutating func withUnsafeMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
    try elements.withUnsafeMutableBufferPointer { try body($0.baseAddress ?? UnsafeMutablePointer(bitPattern: 16)!) }
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String { summary().description }
}

/// Runs `body` on consecutive chunks of at most `size` items and stacks the results along the first
/// axis: each result holds one row of shape `rowShape` per item of its chunk. For work too large for one
/// batch (thousands of captions, hundreds of images). Empty `items` give a (0, rowShape…) tensor.
public func inBatches<Item>(_ items: [Item], of size: Int, rowShape: [Int], _ body: ([Item]) -> Tensor) -> Tensor {
  precondition(size > 0, "inBatches needs a batch size above 0, got \(size)")
  let rowSize = rowShape.reduce(1, *)
  var storage: [Float] = []
  storage.reserveCapacity(items.count * rowSize)
  var start = 0
  while start < items.count {
    let end = min(items.count, start + size)
    let result = body(Array(items[start..<end]))
    precondition(result.shape == [end - start] + rowShape, "a batch of \(end - start) gave \(result.shape), not \([end - start] + rowShape)")
    storage += result.storage
    start = end
  }
  return Tensor(shape: [items.count] + rowShape, storage: storage)
}
