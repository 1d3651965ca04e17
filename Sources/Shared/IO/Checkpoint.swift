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

  public init(_ key: String, _ path: WritableKeyPath<Model, Tensor>) {
    self.key = key
    get = { $0[keyPath: path] }
    set = { $0[keyPath: path] = $1 }
    modify = { model, body in body(&model[keyPath: path]) }
  }

  /// A parameter read and written through closures (e.g. one model's table nested in another's).
  public init(_ key: String, get: @escaping (Model) -> Tensor, set: @escaping (inout Model, Tensor) -> Void) {
    self.key = key
    self.get = get
    self.set = set
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
  }

  /// Rows `rows` of the tensor at `path` (which must exist already with its full shape).
  public init(_ key: String, rows: Range<Int>, of path: WritableKeyPath<Model, Tensor>) {
    self.key = key
    get = { $0[keyPath: path].rows(rows) }
    set = { model, value in
      let inner = value.count / max(rows.count, 1)
      model[keyPath: path].storage.replaceSubrange((rows.lowerBound * inner)..<(rows.upperBound * inner), with: value.storage)
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
      let expected = p.get(model).shape
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
      let value = try tensor(prefix + p.key)
      if let bad = value.storage.firstIndex(where: { !$0.isFinite }) {
        throw NonFiniteWeight(key: prefix + p.key, index: bad, value: value.storage[bad])
      }
      p.set(&model, value)
    }
  }
}

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
