// Loading model weights from a checkpoint by name: each model lists its checkpoint keys beside the
// properties they fill (its "parameter table"); this file checks a file against that table and
// reports every missing, unexpected and mis-shaped key at once.

import TensorCore
import Foundation

/// A checkpoint that does not fit the model's configuration.
public struct CheckpointMismatch: Error, CustomStringConvertible, Equatable {
  public var missing: [String]
  public var unexpected: [String]
  public var misshaped: [String]  // "key: expected [..], file has [..]"

  public init(missing: [String], unexpected: [String], misshaped: [String]) {
    self.missing = missing
    self.unexpected = unexpected
    self.misshaped = misshaped
  }

  public var description: String {
    var parts: [String] = []
    if !missing.isEmpty { parts.append("missing keys (\(missing.count)): " + Self.list(missing)) }
    if !unexpected.isEmpty { parts.append("unexpected keys (\(unexpected.count)): " + Self.list(unexpected)) }
    if !misshaped.isEmpty { parts.append("mis-shaped keys (\(misshaped.count)): " + Self.list(misshaped)) }
    return "checkpoint does not fit the configuration: " + parts.joined(separator: "; ")
  }

  static func list(_ items: [String]) -> String {
    items.count <= 12 ? items.joined(separator: ", ") : items.prefix(12).joined(separator: ", ") + ", …"
  }
}

/// A weight that is NaN or ±∞: a model loaded with it would print `nan` everywhere.
struct NonFiniteWeight: Error, CustomStringConvertible, Equatable {
  public var key: String
  public var index: Int  // flat index of the first bad element
  public var value: Float
  public var description: String { "tensor '\(key)' holds \(value) at flat index \(index): weights must be finite" }
}

/// One model parameter: its checkpoint key and how to read and write it in the model value —
/// usually a key path to a property, sometimes a block of rows of a fused tensor (BERT's query,
/// key and value weights live in rows of one fused qkv weight).
public struct Parameter<Model>: @unchecked Sendable {
  public var key: String
  public var get: (Model) -> Tensor
  public var set: (inout Model, Tensor) -> Void

  /// In-place access for parameters stored whole at a key path (nil for the closure-made ones): the
  /// optimiser updates them without the copy-on-write copy that `get` + mutate + `set` costs.
  public var modify: ((inout Model, (inout Tensor) -> Void) -> Void)? = nil

  /// The parameter's elements inside the model's own storage, for loading a checkpoint straight into it
  /// (nil for the closure-made ones, which are loaded through `set`).
  public var fill: ((inout Model, (UnsafeMutableBufferPointer<Float>) -> Void) -> Void)? = nil

  /// The parameter's shape, without copying it out (`get` copies a block of rows).
  public var shape: (Model) -> [Int]

  public init(_ key: String, _ path: WritableKeyPath<Model, Tensor>) {
    self.key = key
    get = { $0[keyPath: path] }
    set = { $0[keyPath: path] = $1 }
    modify = { model, body in body(&model[keyPath: path]) }
    fill = { model, body in model[keyPath: path].storage.withUnsafeMutableBufferPointer { body($0) } }
    shape = { $0[keyPath: path].shape }
  }

  /// A parameter read and written through closures (e.g. one model's table nested in another's).
  public init(_ key: String, get: @escaping (Model) -> Tensor, set: @escaping (inout Model, Tensor) -> Void) {
    self.key = key
    self.get = get
    self.set = set
    shape = { get($0).shape }
  }

  /// `inner`, a parameter of a part of the model at `path` (a tower inside CLIP), under `prefix` + its key.
  /// Its in-place access is kept: the optimiser updates the part's weights through `&model[keyPath: path]`
  /// without copying them (closures over get/set would copy every weight and both moments every step).
  public init<Inner>(prefix: String, _ inner: Parameter<Inner>, at path: WritableKeyPath<Model, Inner>) {
    key = prefix + inner.key
    let (innerGet, innerSet) = (inner.get, inner.set)
    get = { innerGet($0[keyPath: path]) }
    set = { innerSet(&$0[keyPath: path], $1) }
    if let innerModify = inner.modify { modify = { model, body in innerModify(&model[keyPath: path], body) } }
    if let innerFill = inner.fill { fill = { model, body in innerFill(&model[keyPath: path], body) } }
    let innerShape = inner.shape
    shape = { innerShape($0[keyPath: path]) }
  }

  /// Rows `rows` of the tensor at `path` (which must exist already with its full shape).
  public init(_ key: String, rows: Range<Int>, of path: WritableKeyPath<Model, Tensor>) {
    self.key = key
    get = { $0[keyPath: path].rows(rows) }
    set = { model, value in
      let inner = value.count / max(rows.count, 1)
      model[keyPath: path].storage.replaceSubrange((rows.lowerBound * inner)..<(rows.upperBound * inner), with: value.storage)
    }
    fill = { model, body in
      // No copy of the tensor is held across the write below (one would make it copy-on-write).
      let inner = model[keyPath: path].count / max(model[keyPath: path].shape[0], 1)
      model[keyPath: path].storage.withUnsafeMutableBufferPointer { all in
        body(UnsafeMutableBufferPointer(rebasing: all[(rows.lowerBound * inner)..<(rows.upperBound * inner)]))
      }
    }
    shape = { model in
      var shape = model[keyPath: path].shape
      shape[0] = rows.count
      return shape
    }
  }
}

extension SafetensorsFile {
  /// Fills `model`'s parameters from this file, by key. `prefix` is prepended to every key
  /// (e.g. "bert."); keys in `ignoring` may be present in the file without being used.
  /// Throws `CheckpointMismatch` listing every problem, or a `SafetensorsError` for unreadable data.
  public func load<Model>(into model: inout Model, table: [Parameter<Model>], prefix: String = "",
                          ignoring: (String) -> Bool = { _ in false }) throws {
    var missing: [String] = [], misshaped: [String] = []
    for p in table {
      let key = prefix + p.key
      guard let entry = entries[key] else {
        missing.append(key)
        continue
      }
      let expected = p.shape(model)
      if entry.shape != expected {
        misshaped.append("\(key): expected \(expected), file has \(entry.shape)")
      }
    }
    let known = Set(table.map { prefix + $0.key })
    let unexpected = names.filter { !known.contains($0) && !ignoring($0) }
    if !missing.isEmpty || !unexpected.isEmpty || !misshaped.isEmpty {
      throw CheckpointMismatch(missing: missing, unexpected: unexpected, misshaped: misshaped)
    }
    for p in table {
      let key = prefix + p.key
      guard let fill = p.fill else {
        let value = try tensor(key)
        if let bad = firstNonFinite(value.storage) { throw NonFiniteWeight(key: key, index: bad, value: value.storage[bad]) }
        p.set(&model, value)
        continue
      }
      // Straight from the file into the model's zeros: one copy, no tensor in between.
      var failure: Error? = nil
      fill(&model) { destination in
        do {
          try read(key, into: destination)
          if let bad = firstNonFinite(UnsafeBufferPointer(destination)) {
            throw NonFiniteWeight(key: key, index: bad, value: destination[bad])
          }
        } catch { failure = error }
      }
      if let failure { throw failure }
    }
  }
}

/// The index of the first NaN or ±∞ in `values`, or nil: the definition.
func firstNonFiniteDefinition(_ values: UnsafeBufferPointer<Float>) -> Int? {
  values.firstIndex { !$0.isFinite }
}

/// `firstNonFiniteDefinition`, sixteen at a time: a float is NaN or ±∞ exactly when its exponent bits are
/// all ones, so a block is clean when no lane has (bits & 0x7f80_0000) == 0x7f80_0000. Only the block
/// holding one is searched element by element.
func firstNonFinite(_ values: UnsafeBufferPointer<Float>) -> Int? {
  let n = values.count
  guard let base = values.baseAddress else { return nil }
  let exponent = SIMD16<UInt32>(repeating: 0x7f80_0000)
  var i = 0
  while i + 16 <= n {
    let bits = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<UInt32>.self)
    if any((bits & exponent) .== exponent) { break }
    i += 16
  }
  while i < n {
    if !base[i].isFinite { return i }
    i += 1
  }
  return nil
}

func firstNonFinite(_ values: [Float]) -> Int? { values.withUnsafeBufferPointer { firstNonFinite($0) } }

extension SafetensorsFile {
  /// Elements in the tensors whose names start with `prefix`.
  public func elementCount(prefix: String = "") -> Double {
    entries.reduce(0) { $0 + ($1.key.hasPrefix(prefix) ? Double($1.value.shape.reduce(1, *)) : 0) }
  }

  /// Throws when a configuration would allocate a large model (over 2²⁶ parameters, 256 MB) that
  /// this file cannot fill (it holds fewer than `count` elements under `prefix`) — checked before the
  /// model is allocated, so a config claiming width 10⁹ is an error and not an out-of-memory kill.
  /// Smaller mismatches are left to `load(into:table:)`, which lists every key.
  public func requireParameters(atLeast count: Double, prefix: String = "") throws {
    let held = elementCount(prefix: prefix)
    guard count <= held || count <= Double(1 << 26) else {
      throw CheckpointMismatch(missing: [], unexpected: [], misshaped: [
        String(format: "the configuration needs at least %.3g parameters, the file holds %.0f", count, held)
      ])
    }
  }
}

extension SafetensorsWriter {
  /// Adds every parameter of `model` under its checkpoint key.
  public mutating func add<Model>(_ model: Model, table: [Parameter<Model>], prefix: String = "") {
    for p in table { add(prefix + p.key, p.get(model)) }
  }
}

/// The deterministic-weight rule shared with Scripts/reference/common.py (`init_rule`): LayerNorm
/// weights are 1 ± 0.1, everything else ±0.02 — small enough that a 12-layer model stays tame.
func deterministicInitRule(_ key: String) -> (scale: Float, offset: Float) {
  let lower = key.lowercased()
  if lower.hasSuffix(".weight") && (lower.contains("norm")) { return (0.1, 1) }
  return (0.02, 0)
}

/// Fills every parameter of `model` from `Tensor.deterministic`, named by its checkpoint key.
public func fillDeterministic<Model>(_ model: inout Model, table: [Parameter<Model>], seed: UInt64 = 0) {
  for p in table {
    let (scale, offset) = deterministicInitRule(p.key)
    p.set(&model, Tensor.deterministic(p.get(model).shape, name: p.key, seed: seed, scale: scale, offset: offset))
  }
}

/// A copy of `model` with every parameter in `table` set to zeros of the same shape: the container
/// for its gradients (or optimizer moments), addressed by the same table.
public func zerosLike<Model>(_ model: Model, table: [Parameter<Model>]) -> Model {
  var out = model
  for p in table { p.set(&out, Tensor.zeros(p.get(model).shape)) }
  return out
}

/// A checkpoint file that cannot be used as asked, naming the file.
public struct CheckpointError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public init(path: String, reason: String) {
    self.path = path
    self.reason = reason
  }
  public var description: String { "\(path): \(reason)" }
}
