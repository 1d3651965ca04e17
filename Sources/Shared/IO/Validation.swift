// Configuration from outside — a checkpoint's metadata, a Hugging Face config.json, command-line flags —
// is checked once, where it comes in, against what the code needs. A bad value is an error that names
// the file and the field ("last.safetensors: model.vit.heads must be at least 1, got 0"), never a
// division by zero or an out-of-bounds read deep inside a layer.

import TensorCore
import Foundation

/// Every problem found in one configuration, with the file (or "command line") it came from.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
  public var source: String
  public var problems: [String]  // "field: what is wrong"

  public init(source: String, problems: [String]) {
    self.source = source
    self.problems = problems
  }

  public var description: String {
    "\(source): invalid configuration: " + problems.joined(separator: "; ")
  }
}

/// Collects problems field by field; `prefix` names where a nested struct sits ("model.vit.").
public struct ConfigurationCheck {
  public private(set) var problems: [String] = []
  var prefix = ""

  public init() {}

  public mutating func require(_ ok: Bool, _ field: String, _ reason: @autoclosure () -> String) {
    if !ok { problems.append(prefix + field + " " + reason()) }
  }

  /// An integer size or count that must be at least `minimum` (1 unless said) and at most
  /// `maximum` — far above any real model, but low enough that no product of sizes can overflow.
  public mutating func atLeast(_ value: Int, _ field: String, minimum: Int = 1, maximum: Int = 1 << 24) {
    require(value >= minimum, field, "must be at least \(minimum), got \(value)")
    require(value <= maximum, field, "must be at most \(maximum), got \(value)")
  }

  /// A finite number > 0 (learning rates' eps, LayerNorm eps).
  public mutating func positive(_ value: Float, _ field: String) {
    require(value.isFinite && value > 0, field, "must be a finite number > 0, got \(value)")
  }

  /// A finite number in `range` (half-open ranges say whether the upper end is allowed).
  public mutating func within(_ value: Double, _ range: Range<Double>, _ field: String) {
    require(value.isFinite && range.contains(value), field, "must be in [\(range.lowerBound), \(range.upperBound)), got \(value)")
  }

  public mutating func within(_ value: Double, _ range: ClosedRange<Double>, _ field: String) {
    require(value.isFinite && range.contains(value), field, "must be in [\(range.lowerBound), \(range.upperBound)], got \(value)")
  }

  /// Checks a nested configuration with its fields named under `name.`.
  public mutating func nested<C: CheckedConfiguration>(_ name: String, _ config: C) {
    let saved = prefix
    prefix += name + "."
    config.check(&self)
    prefix = saved
  }
}

/// A configuration that can say what is wrong with it.
public protocol CheckedConfiguration {
  func check(_ c: inout ConfigurationCheck)
}

extension CheckedConfiguration {
  /// The problems, empty when the configuration is usable.
  public var problems: [String] {
    var c = ConfigurationCheck()
    check(&c)
    return c.problems
  }

  /// Throws a `ConfigurationError` naming `source` when anything is wrong.
  public func validate(source: String) throws {
    let found = problems
    if !found.isEmpty { throw ConfigurationError(source: source, problems: found) }
  }
}

// MARK: - Fields set from the command line

/// `value` with fields replaced by JSON values by their dotted paths ("model.vit.depth=3"; a bare
/// word is read as a string). All assignments are applied to the JSON form, then it is decoded and
/// checked once. Refused: a malformed assignment, a path that is not a field (also a misspelt one
/// that decoding would drop), `null` for a field not in `nullable`, and a result that fails `check`.
public func applyingAssignments<C: Codable & CheckedConfiguration>(_ assignments: [String], to value: C, flag: String,
                                                                    nullable: Set<String> = [], diagnose: Bool = true) throws -> C {
  guard !assignments.isEmpty else { return value }
  guard var root = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any] else {
    throw ConfigurationError(source: flag, problems: ["the configuration does not encode as a JSON object"])
  }
  var paths: [(path: [String], isNull: Bool, assignment: String)] = []
  for assignment in assignments {
    func problem(_ message: String) -> ConfigurationError { ConfigurationError(source: "\(flag) \(assignment)", problems: [message]) }
    guard let eq = assignment.firstIndex(of: "=") else { throw problem("expected path=value") }
    let path = assignment[..<eq].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    guard !path.contains(where: \.isEmpty) else { throw problem("empty field name in '\(assignment[..<eq])'") }
    let text = String(assignment[assignment.index(after: eq)...])
    var parsed: Any = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
    let isNull = parsed is NSNull
    // What the field holds now says what it can take: say so here rather than in the decoder's words.
    var current: Any? = root
    for key in path { current = (current as? [String: Any])?[key] }
    let name = path.joined(separator: ".")
    switch current {
    case let group as [String: Any] where !(parsed is [String: Any]):
      throw problem("'\(name)' is a group of fields (\(group.keys.sorted().joined(separator: ", "))): set one of them, "
        + "as \(name).\(group.keys.sorted().first ?? "field")=…")
    case is String where !(parsed is String) && !isNull:
      parsed = text  // a name that looks like a number ("--set name=3") is still a name
    case is NSNumber where parsed is String:
      throw problem("'\(name)' is a number, not the text \(text.debugDescription)")
    case is [Any] where !(parsed is [Any]) && !isNull:
      throw problem("'\(name)' is a list, written as JSON: \(name)=[…]")
    default: break
    }
    if isNull && !nullable.contains(path.joined(separator: ".")) {
      throw problem("'\(path.joined(separator: "."))' cannot be null" + (nullable.isEmpty ? "" : " (only \(nullable.sorted().joined(separator: ", ")) can)"))
    }
    func set(_ object: inout [String: Any], _ keys: ArraySlice<String>) throws {
      let key = keys.first!
      if keys.count == 1 {
        object[key] = isNull ? nil : parsed  // an unset optional field is absent from the JSON
        return
      }
      guard let current = object[key] else {
        throw problem("no field '\(key)' (fields here: \(object.keys.sorted().joined(separator: ", ")))")
      }
      guard var inner = current as? [String: Any] else { throw problem("'\(key)' has no fields") }
      try set(&inner, keys.dropFirst())
      object[key] = inner
    }
    try set(&root, path[...])
    paths.append((path, isNull, assignment))
  }
  let decoded: C
  do { decoded = try JSONDecoder().decode(C.self, from: JSONSerialization.data(withJSONObject: root)) } catch {
    // A number the field's type cannot hold (2.5 for a count, -5 for a seed, 1e300) fails as "not valid
    // JSON" at the top level: find the assignment that does it and say what the field takes.
    for assignment in assignments where diagnose
      && (try? applyingAssignments([assignment], to: value, flag: flag, nullable: nullable, diagnose: false)) == nil {
      let text = String(assignment[assignment.index(after: assignment.firstIndex(of: "=")!)...])
      if let number = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) as? NSNumber {
        let x = number.doubleValue
        let reason = text == "true" || text == "false" ? "takes a number, not true or false" : !x.isFinite || abs(x) > 1e15 ? "is out of range"
          : x != x.rounded() ? "must be a whole number" : x < 0 ? "must not be negative" : "is out of range"
        throw ConfigurationError(source: "\(flag) \(assignment)", problems: ["'\(assignment.prefix { $0 != "=" })' \(reason), got \(text)"])
      }
    }
    throw ConfigurationError(source: flag + " " + assignments.joined(separator: " "), problems: [describeJSONError(error)])
  }
  // A misspelt field decodes to nothing: a field set to a value must be there when written out again.
  let written = try JSONSerialization.jsonObject(with: JSONEncoder().encode(decoded))
  for (index, (path, isNull, assignment)) in paths.enumerated() where !isNull && !paths[(index + 1)...].contains(where: { $0.path == path }) {
    var node: Any? = written
    for key in path { node = (node as? [String: Any])?[key] }
    guard node != nil else { throw ConfigurationError(source: "\(flag) \(assignment)", problems: ["no field '\(path.last!)' there"]) }
  }
  try decoded.validate(source: flag + " " + assignments.joined(separator: " "))
  return decoded
}

// MARK: - Messages that name the file

/// Runs `body`; an error from it that does not already name `path` is thrown again as one that does,
/// so every message a user sees says which file it is about.
public func naming<T>(_ path: String, _ body: () throws -> T) throws -> T {
  do {
    return try body()
  } catch {
    if "\(error)".contains(path) { throw error }
    throw CheckpointError(path: path, reason: "\(error)")
  }
}

/// A JSON or decoding error in one readable line: the field path and what is wrong, instead of
/// Foundation's `NSCocoaErrorDomain Code=3840 … UserInfo={…}` dump.
/// A Swift type as a user would name what a JSON field should hold.
func plainTypeName(_ type: Any.Type) -> String {
  let name = "\(type)"
  if ["Int", "Int32", "Int64", "UInt64", "UInt32", "UInt"].contains(name) { return "a whole number" }
  if ["Float", "Double"].contains(name) { return "a number" }
  if name == "String" { return "text (a JSON string)" }
  if name == "Bool" { return "true or false" }
  if name.hasPrefix("Dictionary") { return "a group of fields (a JSON object)" }
  if name.hasPrefix("Array") { return "a list (a JSON array)" }
  return "a \(name)"
}

public func describeJSONError(_ error: Error) -> String {
  func path(_ keys: [CodingKey]) -> String {
    keys.isEmpty ? "the top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
  }
  if let decoding = error as? DecodingError {
    switch decoding {
    case let .keyNotFound(key, context):
      return "missing field '\(path(context.codingPath + [key]))'"
    case let .typeMismatch(type, context):
      return "field '\(path(context.codingPath))' is not \(plainTypeName(type))"
    case let .valueNotFound(type, context):
      return "field '\(path(context.codingPath))' is null, expected \(plainTypeName(type))"
    case let .dataCorrupted(context):
      if let underlying = context.underlyingError { return describeJSONError(underlying) }
      return "field '\(path(context.codingPath))': \(context.debugDescription)"
    @unknown default:
      return "\(decoding)"
    }
  }
  let ns = error as NSError
  if let detail = ns.userInfo[NSDebugDescriptionErrorKey] as? String { return "not valid JSON: \(detail)" }
  return "not valid JSON (\(ns.localizedDescription))"
}

// MARK: - JSON files from outside (config.json, vocab.json)

/// Reads a JSON file that must hold one object. A missing file, bytes that are not UTF-8, broken JSON
/// and another top level (a list, a number) are each said in plain words, naming the file.
public func readJSONObject(_ path: String) throws -> [String: Any] {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
    throw ConfigurationError(source: path, problems: ["no such file"])
  }
  guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
    throw ConfigurationError(source: path, problems: [isDirectory.boolValue ? "is a folder, not a JSON file" : "cannot read the file"])
  }
  guard String(data: data, encoding: .utf8) != nil else {
    throw ConfigurationError(source: path, problems: ["is not UTF-8 text (a JSON file must be; was it saved in another encoding?)"])
  }
  let json: Any
  do { json = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
    throw ConfigurationError(source: path, problems: [describeJSONError(error)])
  }
  guard let object = json as? [String: Any] else {
    throw ConfigurationError(source: path, problems: ["holds \(describeJSONValue(json)), not a JSON object ({…})"])
  }
  return object
}

/// A JSON value as a user would name it in a message: `the text "128"`, `the number 2.5`, `true`, `null`,
/// `a list of 3`, `an object`.
public func describeJSONValue(_ value: Any) -> String {
  switch value {
  case let text as String: return "the text \(text.debugDescription)"
  case let number as NSNumber where isJSONBool(number): return number.boolValue ? "true" : "false"
  case let number as NSNumber: return "the number \(number)"
  case is NSNull: return "null"
  case let list as [Any]: return "a list of \(list.count)"
  case is [String: Any]: return "an object"
  default: return "\(value)"
  }
}

/// true/false in JSON (Foundation reads them as NSNumber, whose `is Bool` is also true for 0 and 1).
func isJSONBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

/// A JSON number that is a whole number within ±1e15 (not text, not true/false, not 2.5), or nil.
public func jsonInteger(_ value: Any) -> Int? {
  guard let number = value as? NSNumber, !isJSONBool(number) else { return nil }
  let x = number.doubleValue
  guard x.isFinite, x == x.rounded(), abs(x) <= 1e15 else { return nil }
  return Int(x)
}

/// A JSON number (not text, not true/false), or nil.
public func jsonDouble(_ value: Any) -> Double? {
  guard let number = value as? NSNumber, !isJSONBool(number) else { return nil }
  return number.doubleValue
}
