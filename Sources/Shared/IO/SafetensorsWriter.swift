// Writing safetensors: the header JSON (with metadata), then the tensors' bytes, written atomically.

import TensorCore
import Foundation

/// Collects tensors and metadata, then writes one safetensors file atomically.
public struct SafetensorsWriter {
  private var items: [(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8])] = []
  public var metadata: [String: String] = [:]

  public init(metadata: [String: String] = [:]) { self.metadata = metadata }

  public mutating func add(_ name: String, _ tensor: Tensor) {
    var bytes = [UInt8](repeating: 0, count: tensor.count * 4)
    #if _endian(little)
      bytes.withUnsafeMutableBytes { dst in tensor.storage.withUnsafeBytes { dst.copyMemory(from: $0) } }
    #else
      for (i, v) in tensor.storage.enumerated() {
        withUnsafeBytes(of: v.bitPattern.littleEndian) { for b in 0..<4 { bytes[4 * i + b] = $0[b] } }
      }
    #endif
    append(name, .f32, tensor.shape, bytes)
  }

  public mutating func add(_ name: String, int64s values: [Int], shape: [Int]? = nil) {
    var bytes = [UInt8](repeating: 0, count: values.count * 8)
    for (i, v) in values.enumerated() {
      withUnsafeBytes(of: Int64(v).littleEndian) { for b in 0..<8 { bytes[8 * i + b] = $0[b] } }
    }
    append(name, .i64, shape ?? [values.count], bytes)
  }

  public mutating func add(_ name: String, uint8s values: [UInt8], shape: [Int]) {
    append(name, .u8, shape, values)
  }

  private mutating func append(_ name: String, _ dtype: SafetensorsDType, _ shape: [Int], _ bytes: [UInt8]) {
    precondition(name != "__metadata__", "'__metadata__' is reserved")
    precondition(!items.contains { $0.name == name }, "tensor '\(name)' added twice")
    precondition(shape.reduce(1, *) * dtype.byteSize == bytes.count, "tensor '\(name)': shape/bytes mismatch")
    items.append((name, dtype, shape, bytes))
  }

  /// The complete file. Tensors are laid out in name order; the header is padded with spaces to a
  /// multiple of 8 bytes, as the reference implementation does.
  public func serialized() -> [UInt8] {
    let sorted = items.sorted { $0.name < $1.name }
    var header = "{"
    var parts: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
      parts.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for item in sorted {
      let shape = item.shape.map(String.init).joined(separator: ",")
      parts.append("\(jsonString(item.name)):{\"dtype\":\"\(item.dtype.rawValue)\",\"shape\":[\(shape)],"
        + "\"data_offsets\":[\(offset),\(offset + item.bytes.count)]}")
      offset += item.bytes.count
    }
    header += parts.joined(separator: ",") + "}"
    var headerBytes = Array(header.utf8)
    while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
    var out: [UInt8] = []
    out.reserveCapacity(8 + headerBytes.count + offset)
    withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: headerBytes)
    for item in sorted { out.append(contentsOf: item.bytes) }
    return out
  }

  /// Writes the file atomically (temporary file, fsync, rename).
  public func write(to path: String) throws {
    try writeFileAtomically(serialized(), to: path)
  }
}

/// A JSON string literal with the escapes JSON requires.
/// A number for JSON output: JSON has no NaN or ∞, so a non-finite value is written as `null`.
public func jsonNumber<F: BinaryFloatingPoint & LosslessStringConvertible>(_ x: F) -> String {
  x.isFinite ? x.description : "null"
}

public func jsonString(_ s: String) -> String {
  var out = "\""
  for scalar in s.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    default:
      if scalar.value < 0x20 {
        out += String(format: "\\u%04x", scalar.value)
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
  }
  return out + "\""
}
