// Safetensors: round trips, dtype conversion, and every kind of malformed file becoming a named error.

import Foundation
@testable import IO
import Shared
import Testing

/// A file made by hand: little-endian header length, the JSON header, then `data`.
func rawSafetensors(_ header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> Data {
  var bytes: [UInt8] = []
  let h = Array(header.utf8)
  withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { bytes += $0 }
  return Data(bytes + h + data)
}

@Suite("Safetensors")
struct SafetensorsTests {
  @Test func roundTrip() throws {
    var writer = SafetensorsWriter(metadata: ["format_version": "1", "quote\"d": "line\nbreak"])
    let t = Tensor(shape: [2, 3], storage: [1, -2, 3.5, .infinity, -0.0, 1e-30])
    writer.add("weights/α", t)
    writer.add("ids", int64s: [1, -2, 3_000_000_000], shape: [3])
    writer.add("bytes", uint8s: [0, 255, 7, 8], shape: [2, 2])
    writer.add("empty", Tensor.zeros([0, 4]))
    let dir = temporaryDirectory()
    let path = dir + "/x.safetensors"
    try writer.write(to: path)
    let file = try SafetensorsFile(path: path)
    #expect(file.metadata == ["format_version": "1", "quote\"d": "line\nbreak"])
    #expect(file.names == ["bytes", "empty", "ids", "weights/α"])
    let back = try file.tensor("weights/α")
    #expect(back.shape == [2, 3])
    #expect(back.storage.map(\.bitPattern) == t.storage.map(\.bitPattern))
    #expect(try file.integers("ids").values == [1, -2, 3_000_000_000])
    #expect(try file.integers("bytes").values == [0, 255, 7, 8])
    #expect(try file.tensor("empty").shape == [0, 4])
    #expect(throws: SafetensorsError.missingTensor("nope")) { try file.tensor("nope") }
    #expect(throws: SafetensorsError.wrongDType(key: "ids", dtype: "I64", wanted: "a floating-point type")) {
      try file.tensor("ids")
    }
  }

  @Test("a tensor's mapped pages are handed back after it is read, and reading it (or a neighbour sharing a page) again gives the same values")
  func pagesReleasedAndReread() throws {
    var writer = SafetensorsWriter()
    // Sizes that put tensor boundaries inside pages: released ranges round outwards over neighbours.
    let tensors = [("a", 3001), ("b", 5), ("c", 70_001), ("d", 1023)].map { name, n in
      (name, Tensor(shape: [n], storage: (0..<n).map { Float($0) * 0.5 - Float(name.unicodeScalars.first!.value) }))
    }
    for (name, t) in tensors { writer.add(name, t) }
    let path = temporaryDirectory() + "/pages.safetensors"
    try writer.write(to: path)
    let file = try SafetensorsFile(path: path)
    for _ in 0..<2 {
      for (name, t) in tensors.reversed() + tensors { #expect(try file.tensor(name).storage == t.storage, "\(name)") }
    }
  }

  /// A model of two parameters: one whole tensor, and a fused one filled in blocks of rows (as BERT's
  /// and Hugging Face CLIP's query, key and value are).
  struct TwoParameters {
    var w = Tensor.zeros([37])  // two blocks of 16 and a tail of 5
    var qkv = Tensor.zeros([6, 5])  // (3 × 2 rows, 5)
    static let table: [Parameter<TwoParameters>] = [
      Parameter("w", \.w),
      Parameter("q", rows: 0..<2, of: \.qkv), Parameter("k", rows: 2..<4, of: \.qkv), Parameter("v", rows: 4..<6, of: \.qkv),
    ]
  }

  @Test("a checkpoint loads straight into the model's storage, whole and in blocks of rows, leaving copies of the model alone; the first NaN or ∞ is named at its index, in a block of 16 or the tail")
  func loadIntoStorage() throws {
    let w = Tensor(shape: [37], storage: (0..<37).map { Float($0) - 18.5 })
    let rows = (0..<3).map { k in Tensor(shape: [2, 5], storage: (0..<10).map { Float(k * 100 + $0) }) }
    func file(_ w: Tensor, _ q: Tensor) throws -> SafetensorsFile {
      var writer = SafetensorsWriter()
      writer.add("w", w)
      for (name, t) in zip(["q", "k", "v"], [q, rows[1], rows[2]]) { writer.add(name, t) }
      let path = temporaryDirectory("load-into") + "/m.safetensors"
      try writer.write(to: path)
      return try SafetensorsFile(path: path)
    }
    var model = TwoParameters()
    let untouched = model  // shares the zeros' storage until the load writes
    try file(w, rows[0]).load(into: &model, table: TwoParameters.table)
    #expect(model.w == w)
    #expect(model.qkv.storage == rows.flatMap(\.storage))
    #expect(untouched.w.storage.allSatisfy { $0 == 0 } && untouched.qkv.storage.allSatisfy { $0 == 0 }, "a copy of the model was written through")
    for (index, bad) in [(0, Float.nan), (15, .infinity), (16, -.infinity), (31, .nan), (32, .nan), (36, .infinity)] {
      var broken = w
      broken.storage[index] = bad
      var target = TwoParameters()
      expectError({ try file(broken, rows[0]).load(into: &target, table: TwoParameters.table) },
                  contains: ["tensor 'w' holds \(bad) at flat index \(index)"])
    }
    var brokenRows = rows[0]
    brokenRows.storage[7] = .nan
    var target = TwoParameters()
    expectError({ try file(w, brokenRows).load(into: &target, table: TwoParameters.table) }, contains: ["tensor 'q' holds nan at flat index 7"])
  }

  @Test("the 16-wide scan for NaN and ±∞ finds what its definition finds: every length to 40, every position, and the floats next to the edge (largest finite, subnormals, −0, NaN payloads)")
  func nonFiniteScan() {
    let finite: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 1]
    let bad: [Float] = [.nan, -.nan, .infinity, -.infinity, Float(bitPattern: 0x7fc0_1234), Float(bitPattern: 0xff80_0001)]
    for n in 0...40 {
      var values = (0..<n).map { finite[$0 % finite.count] }
      values.withUnsafeBufferPointer { #expect(firstNonFinite($0) == nil && firstNonFiniteDefinition($0) == nil, "length \(n), all finite") }
      for position in 0..<n {
        let saved = values[position]
        values[position] = bad[position % bad.count]
        if position + 3 < n { values[position + 3] = .nan }  // a later one must not be the answer
        values.withUnsafeBufferPointer { buffer in
          #expect(firstNonFinite(buffer) == position && firstNonFiniteDefinition(buffer) == position, "length \(n), position \(position)")
        }
        values[position] = saved
        if position + 3 < n { values[position + 3] = finite[(position + 3) % finite.count] }
      }
    }
  }

  @Test("F16, BF16 and F64 are upcast to Float32")
  func halfTypes() throws {
    // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 0x0001 = 2^-24.
    // BF16: 1.0 = 0x3f80, -3.0 = 0xc040.  F64: 0.1.
    var data: [UInt8] = [0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00]
    data += [0x80, 0x3f, 0x40, 0xc0]
    withUnsafeBytes(of: (0.1 as Double).bitPattern.littleEndian) { data += $0 }
    let header = #"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"d":{"dtype":"F64","shape":[],"data_offsets":[12,20]}}"#
    let file = try SafetensorsFile(data: rawSafetensors(header, data: data))
    #expect(try file.tensor("h").storage == [1, -2, 65504, Float(sign: .plus, exponent: -24, significand: 1)])
    #expect(try file.tensor("b").storage == [1, -3])
    #expect(try file.tensor("d").storage == [Float(0.1)])
    #expect(try file.tensor("d").shape == [])
  }

  @Test("malformed files are errors that name the problem")
  func malformed() throws {
    #expect(throws: SafetensorsError.tooShort(size: 5)) { try SafetensorsFile(data: Data([1, 2, 3, 4, 5])) }
    #expect(throws: SafetensorsError.headerLengthOutOfRange(headerLength: 1000, fileSize: 10)) {
      try SafetensorsFile(data: rawSafetensors("{}", headerLength: 1000))
    }
    #expect(throws: SafetensorsError.headerLengthOutOfRange(headerLength: UInt64.max, fileSize: 10)) {
      try SafetensorsFile(data: rawSafetensors("{}", headerLength: UInt64.max))
    }
    do {
      _ = try SafetensorsFile(data: rawSafetensors("{not json"))
      Issue.record("invalid JSON accepted")
    } catch let error as SafetensorsError {
      guard case .invalidJSON = error else { Issue.record("wrong error \(error)"); return }
    }
    #expect(throws: SafetensorsError.unknownDType(key: "w", dtype: "F8_E9")) {
      try SafetensorsFile(data: rawSafetensors(#"{"w":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}}"#, data: [0]))
    }
    #expect(throws: SafetensorsError.offsetsOutOfRange(key: "w", begin: 0, end: 8, dataSize: 4)) {
      try SafetensorsFile(data: rawSafetensors(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]))
    }
    #expect(throws: SafetensorsError.offsetsOutOfRange(key: "w", begin: 4, end: 0, dataSize: 4)) {
      try SafetensorsFile(data: rawSafetensors(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: [0, 0, 0, 0]))
    }
    #expect(throws: SafetensorsError.sizeMismatch(key: "w", dtype: "F32", shape: [3], expectedBytes: 12, actualBytes: 8)) {
      try SafetensorsFile(data: rawSafetensors(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)))
    }
    #expect(throws: SafetensorsError.overlapping(key: "b", other: "a")) {
      try SafetensorsFile(data: rawSafetensors(
        #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
        data: [UInt8](repeating: 0, count: 12)))
    }
    #expect(throws: SafetensorsError.malformedEntry(key: "w", reason: "shape is not a list of non-negative integers")) {
      try SafetensorsFile(data: rawSafetensors(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
    }
    #expect(throws: SafetensorsError.malformedEntry(key: "w", reason: "data_offsets is not a pair of integers")) {
      try SafetensorsFile(data: rawSafetensors(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0.5,4]}}"#, data: [0, 0, 0, 0]))
    }
    #expect(throws: SafetensorsError.malformedEntry(key: "__metadata__.n", reason: "metadata values must be strings")) {
      try SafetensorsFile(data: rawSafetensors(#"{"__metadata__":{"n":1}}"#))
    }
  }

  @Test("missing files and directories are errors, not crashes")
  func unreadable() {
    #expect(throws: SafetensorsError.cannotRead(path: "/nonexistent/x.safetensors", reason: "no such file")) {
      try SafetensorsFile(path: "/nonexistent/x.safetensors")
    }
    let dir = temporaryDirectory()
    #expect(throws: SafetensorsError.cannotRead(path: dir, reason: "is a directory")) { try SafetensorsFile(path: dir) }
  }

  @Test("the writer's output is what the Python safetensors library wrote for the same tensors")
  func readsPythonFiles() throws {
    // The fixture was written by safetensors.torch.save_file; reading it exercises the other writer.
    let file = try Fixtures.load("ch01-patches")
    #expect(file.metadata["format_version"] == "1")
    #expect(file.entries["small.weight"]?.shape == [16, 3, 8, 8])
    #expect(file.entries["decoded.landscape_320x240"]?.dtype == .u8)
  }
}
