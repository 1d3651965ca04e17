// Safetensors, the checkpoint format of timm and Hugging Face: read (with validation) and write.
//
//   bytes 0..<8      header length N, little-endian UInt64
//   bytes 8..<8+N    JSON: { "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, …,
//                            "__metadata__": {"key": "value", …} }
//   bytes 8+N..<end  the data block; offsets are relative to its start
//
// Every malformed file becomes a thrown `SafetensorsError` naming the problem and the tensor key.

import TensorCore
import Foundation

/// Element types this package reads. Floating types are upcast to Float32 on load.
public enum SafetensorsDType: String, Sendable, CaseIterable {
  case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i64 = "I64", i32 = "I32", u8 = "U8", bool = "BOOL"

  public var byteSize: Int {
    switch self {
    case .f64, .i64: return 8
    case .f32, .i32: return 4
    case .f16, .bf16: return 2
    case .u8, .bool: return 1
    }
  }

  public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 || self == .f64 }
}

public indirect enum SafetensorsError: Error, CustomStringConvertible, Equatable {
  case cannotRead(path: String, reason: String)
  case inFile(path: String, SafetensorsError)  // a malformed file read by path: the problem, with the file
  case tooShort(size: Int)
  case notSafetensors(looksLike: String)
  case headerLengthOutOfRange(headerLength: UInt64, fileSize: Int)
  case invalidJSON(String)
  case malformedEntry(key: String, reason: String)
  case unknownDType(key: String, dtype: String)
  case offsetsOutOfRange(key: String, begin: Int, end: Int, dataSize: Int)
  case sizeMismatch(key: String, dtype: String, shape: [Int], expectedBytes: Int, actualBytes: Int)
  case overlapping(key: String, other: String)
  case missingTensor(String)
  case wrongDType(key: String, dtype: String, wanted: String)

  public var description: String {
    switch self {
    case let .cannotRead(path, reason): return "cannot read safetensors file \(path): \(reason)"
    case let .inFile(path, error): return "\(path): \(error)"
    case let .notSafetensors(kind): return "not a safetensors file (\(kind))"
    case let .tooShort(size): return "not a safetensors file: \(size) bytes is shorter than the 8-byte header length"
    case let .headerLengthOutOfRange(n, size):
      return "safetensors header length \(n) runs past the end of the \(size)-byte file"
    case let .invalidJSON(reason): return "safetensors header is not valid JSON: \(reason)"
    case let .malformedEntry(key, reason): return "tensor '\(key)': \(reason)"
    case let .unknownDType(key, dtype): return "tensor '\(key)': unknown dtype '\(dtype)'"
    case let .offsetsOutOfRange(key, b, e, size):
      return "tensor '\(key)': data_offsets [\(b), \(e)] are outside the \(size)-byte data block"
    case let .sizeMismatch(key, dtype, shape, expected, actual):
      return "tensor '\(key)': \(dtype) \(shape) needs \(expected) bytes but data_offsets span \(actual)"
    case let .overlapping(key, other): return "tensor '\(key)': data overlaps tensor '\(other)'"
    case let .missingTensor(key): return "no tensor named '\(key)' in the file"
    case let .wrongDType(key, dtype, wanted): return "tensor '\(key)' has dtype \(dtype), wanted \(wanted)"
    }
  }
}

/// A parsed, validated safetensors file. The data block is kept as one (memory-mapped) buffer;
/// tensors are converted on request.
public struct SafetensorsFile: Sendable {
  public struct Entry: Sendable, Equatable {
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Byte range inside the data block.
    public var range: Range<Int>
  }

  public let metadata: [String: String]
  public let entries: [String: Entry]
  private let data: Data
  private let dataStart: Int
  /// True when `data` is this file mapped read-only by `init(path:)`: a tensor's pages are then handed
  /// back to the kernel once it has been copied out (they are the file's, re-read if touched again), so
  /// loading a 605 MB checkpoint peaks at the model's size, not twice it.
  private var fileMapped = false

  /// Tensor names, sorted.
  public var names: [String] { entries.keys.sorted() }

  /// Reads and validates a file (memory-mapped).
  public init(path: String) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw SafetensorsError.cannotRead(path: path, reason: "no such file")
    }
    if isDirectory.boolValue { throw SafetensorsError.cannotRead(path: path, reason: "is a directory") }
    var info = stat()
    if stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG {
      let kind = (info.st_mode & S_IFMT) == S_IFIFO ? "a FIFO (named pipe)" : (info.st_mode & S_IFMT) == S_IFSOCK ? "a socket" : "a device"
      throw SafetensorsError.cannotRead(path: path, reason: "is \(kind), not a file")
    }
    let data = try Self.map(path)
    do { try self.init(data: data) } catch let error as SafetensorsError { throw SafetensorsError.inFile(path: path, error) }
    fileMapped = data.count > 0
  }

  /// The file mapped read-only (unmapped when the last copy of the Data goes); an empty file is empty Data.
  private static func map(_ path: String) throws -> Data {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw SafetensorsError.cannotRead(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw SafetensorsError.cannotRead(path: path, reason: String(cString: strerror(errno))) }
    let size = Int(info.st_size)
    if size == 0 { return Data() }
    guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
      throw SafetensorsError.cannotRead(path: path, reason: "cannot map it: \(String(cString: strerror(errno)))")
    }
    return Data(bytesNoCopy: base, count: size, deallocator: .custom { pointer, count in munmap(pointer, count) })
  }

  /// Hands the pages under `range` (bytes of the data block) back to the kernel: they are clean pages of
  /// a read-only file mapping, so dropping them loses nothing (a later read faults them in again).
  private func releasePages(_ range: Range<Int>) {
    guard fileMapped, !range.isEmpty else { return }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
      let start = Int(bitPattern: raw.baseAddress!) + dataStart + range.lowerBound
      let first = start / page * page, last = min((start + range.count + page - 1) / page * page,
                                                  (Int(bitPattern: raw.baseAddress!) + raw.count + page - 1) / page * page)
      _ = madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, MADV_DONTNEED)
    }
  }

  /// Parses and validates bytes already in memory.
  public init(data: Data) throws {
    guard data.count >= 8 else { throw SafetensorsError.tooShort(size: data.count) }
    var headerLength: UInt64 = 0
    for i in 0..<8 { headerLength |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
    // A safetensors header is a JSON object: anything else (a JPEG, a config.json, a PyTorch .bin) is
    // another kind of file, and saying which helps more than a header length of 5064878326892452095.
    guard data.count > 8, data[data.startIndex + 8] == UInt8(ascii: "{") else {
      throw SafetensorsError.notSafetensors(looksLike: sniffFileKind(data))
    }
    guard headerLength <= UInt64(data.count - 8) else {
      throw SafetensorsError.headerLengthOutOfRange(headerLength: headerLength, fileSize: data.count)
    }
    let headerEnd = 8 + Int(headerLength)
    let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + headerEnd))
    let json: Any
    do {
      json = try JSONSerialization.jsonObject(with: headerBytes, options: [])
    } catch {
      throw SafetensorsError.invalidJSON(describeJSONError(error))
    }
    guard let object = json as? [String: Any] else {
      throw SafetensorsError.invalidJSON("the top level is not an object")
    }
    let dataSize = data.count - headerEnd
    var metadata: [String: String] = [:]
    var entries: [String: Entry] = [:]
    for (key, value) in object {
      if key == "__metadata__" {
        guard let dict = value as? [String: Any] else {
          throw SafetensorsError.malformedEntry(key: key, reason: "__metadata__ is not an object")
        }
        for (k, v) in dict {
          guard let s = v as? String else {
            throw SafetensorsError.malformedEntry(key: "__metadata__.\(k)", reason: "metadata values must be strings")
          }
          metadata[k] = s
        }
        continue
      }
      guard let info = value as? [String: Any] else {
        throw SafetensorsError.malformedEntry(key: key, reason: "entry is not an object")
      }
      guard let dtypeName = info["dtype"] as? String else {
        throw SafetensorsError.malformedEntry(key: key, reason: "missing dtype")
      }
      guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
        throw SafetensorsError.unknownDType(key: key, dtype: dtypeName)
      }
      guard let shapeAny = info["shape"] as? [Any], let shape = Self.integers(shapeAny), shape.allSatisfy({ $0 >= 0 })
      else {
        throw SafetensorsError.malformedEntry(key: key, reason: "shape is not a list of non-negative integers")
      }
      guard let offsetsAny = info["data_offsets"] as? [Any], let offsets = Self.integers(offsetsAny),
        offsets.count == 2
      else {
        throw SafetensorsError.malformedEntry(key: key, reason: "data_offsets is not a pair of integers")
      }
      let (begin, end) = (offsets[0], offsets[1])
      guard begin >= 0, end >= begin, end <= dataSize else {
        throw SafetensorsError.offsetsOutOfRange(key: key, begin: begin, end: end, dataSize: dataSize)
      }
      var elements = 1
      for d in shape {
        let (product, overflow) = elements.multipliedReportingOverflow(by: d)
        guard !overflow else { throw SafetensorsError.malformedEntry(key: key, reason: "shape \(shape) overflows") }
        elements = product
      }
      let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
      guard !overflow, expected == end - begin else {
        throw SafetensorsError.sizeMismatch(key: key, dtype: dtypeName, shape: shape,
                                            expectedBytes: overflow ? Int.max : expected, actualBytes: end - begin)
      }
      entries[key] = Entry(dtype: dtype, shape: shape, range: begin..<end)
    }
    // No two tensors may share bytes.
    let ordered = entries.sorted { ($0.value.range.lowerBound, $0.key) < ($1.value.range.lowerBound, $1.key) }
    for (previous, next) in zip(ordered, ordered.dropFirst())
    where next.value.range.lowerBound < previous.value.range.upperBound && !next.value.range.isEmpty {
      throw SafetensorsError.overlapping(key: next.key, other: previous.key)
    }
    self.metadata = metadata
    self.entries = entries
    self.data = data
    self.dataStart = headerEnd
  }

  private static func integers(_ values: [Any]) -> [Int]? {
    var out: [Int] = []
    for v in values {
      guard let n = v as? NSNumber else { return nil }
      let d = n.doubleValue
      guard d == d.rounded(), abs(d) < 9.0e15 else { return nil }
      out.append(Int(d))
    }
    return out
  }

  public func entry(_ name: String) throws -> Entry {
    guard let e = entries[name] else { throw SafetensorsError.missingTensor(name) }
    return e
  }

  /// A floating-point tensor as Float32 (F16, BF16 and F64 are converted).
  public func tensor(_ name: String) throws -> Tensor {
    let e = try entry(name)
    let count = e.shape.reduce(1, *)
    // Uninitialised, then written once by `read`: no zero fill to be overwritten.
    let values = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      try read(name, into: buffer)
      initialized = count
    }
    return Tensor(shape: e.shape, storage: values)
  }

  /// Writes the floating-point tensor `name` as Float32 into `destination`, which must hold exactly its
  /// elements (a model's own parameter storage: loading then copies each weight once, file to model).
  public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
    let e = try entry(name)
    guard e.dtype.isFloatingPoint else {
      throw SafetensorsError.wrongDType(key: name, dtype: e.dtype.rawValue, wanted: "a floating-point type")
    }
    let count = e.shape.reduce(1, *)
    precondition(destination.count == count, "tensor '\(name)' has \(count) elements, the destination \(destination.count)")
    guard count > 0 else { return }
    let values = destination.baseAddress!
    let start = data.startIndex + dataStart + e.range.lowerBound
    data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
      let base = raw.baseAddress! + (start - data.startIndex)
      switch e.dtype {
      case .f32:
        #if _endian(little)
          // The file's byte order is the machine's: one copy (a 100 MB checkpoint loads at memory speed).
          UnsafeMutableRawPointer(values).copyMemory(from: base, byteCount: 4 * count)
        #else
          for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        #endif
      case .f16:
        for i in 0..<count { values[i] = halfToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
      case .bf16:
        for i in 0..<count {
          let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
          values[i] = Float(bitPattern: UInt32(bits) << 16)
        }
      case .f64:
        for i in 0..<count { values[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
      default: break
      }
    }
    releasePages(e.range)
  }

  /// An integer tensor (I64, I32, U8 or BOOL) as Int values, with its shape.
  public func integers(_ name: String) throws -> (shape: [Int], values: [Int]) {
    let e = try entry(name)
    let count = e.shape.reduce(1, *)
    var values = [Int](repeating: 0, count: count)
    let start = data.startIndex + dataStart + e.range.lowerBound
    try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
      let base = raw.baseAddress! + (start - data.startIndex)
      switch e.dtype {
      case .i64:
        for i in 0..<count { values[i] = Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
      case .i32:
        for i in 0..<count { values[i] = Int(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
      case .u8, .bool:
        for i in 0..<count { values[i] = Int(base.load(fromByteOffset: i, as: UInt8.self)) }
      default:
        throw SafetensorsError.wrongDType(key: name, dtype: e.dtype.rawValue, wanted: "an integer type")
      }
    }
    return (e.shape, values)
  }
}

/// IEEE 754 half → single, exactly (subnormals, infinities and NaN included).
func halfToFloat(_ h: UInt16) -> Float {
  let sign = UInt32(h >> 15) << 31
  let exponent = Int((h >> 10) & 0x1f)
  let mantissa = UInt32(h & 0x3ff)
  if exponent == 0 {
    // zero or subnormal: mantissa · 2⁻²⁴
    let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
    return sign != 0 ? -magnitude : magnitude
  }
  if exponent == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
  return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}

/// What a file that is not safetensors seems to be, from its first bytes, for error messages.
func sniffFileKind(_ data: Data) -> String {
  let head = [UInt8](data.prefix(16))
  func starts(_ bytes: [UInt8]) -> Bool { head.count >= bytes.count && Array(head.prefix(bytes.count)) == bytes }
  if starts([0xFF, 0xD8, 0xFF]) { return "it is a JPEG image" }
  if starts([0x89, 0x50, 0x4E, 0x47]) { return "it is a PNG image" }
  if starts([0x52, 0x49, 0x46, 0x46]) { return "it is a RIFF file, e.g. a WebP image" }
  if starts([0x50, 0x4B, 0x03, 0x04]) {
    return "it is a ZIP archive, as PyTorch's torch.save writes .pt/.bin files: convert it with safetensors.torch.save_file"
  }
  if starts([0x80]) && head.count > 1 && head[1] <= 5 { return "it is a Python pickle, as older PyTorch .bin files are: convert it with safetensors.torch.save_file" }
  if starts([0x1F, 0x8B]) { return "it is gzip-compressed" }
  let text = head.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF }
  if let first = text.first, first == UInt8(ascii: "{") || first == UInt8(ascii: "[") { return "it is JSON text, e.g. a config.json" }
  if head.allSatisfy({ $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20..<0x7F).contains($0) }) { return "it is a text file" }
  return "its first bytes are not a safetensors header"
}
