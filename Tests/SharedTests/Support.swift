// Test support: the one tensor comparison helper, fixture loading, and running the built executables.

import Foundation
import Shared
import Testing

/// Where Tests/Fixtures lives (next to this file's folder).
enum Fixtures {
  static let directory: String = {
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    return here.deletingLastPathComponent().appendingPathComponent("Fixtures").path
  }()
  static let repositoryRoot: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
  }()

  static func path(_ name: String) -> String { directory + "/" + name }

  static func load(_ name: String) throws -> SafetensorsFile {
    try SafetensorsFile(path: path(name + ".safetensors"))
  }
}

/// The result of comparing two tensors element by element.
struct Closeness: CustomStringConvertible {
  var maxAbs: Float = 0
  var maxRel: Float = 0
  var worstIndex: [Int] = []
  var worstActual: Float = 0
  var worstExpected: Float = 0
  var violations = 0
  var description: String {
    "max abs \(formatNumber(maxAbs)), max rel \(formatNumber(maxRel)), \(violations) outside tolerance; "
      + "worst at \(worstIndex): actual \(worstActual) vs expected \(worstExpected)"
  }
}

/// Compares element by element: |a − e| ≤ atol + rtol·|e|. Reports the max absolute difference, the
/// max relative error, and the index of the worst element (the one most over its tolerance).
@discardableResult
func expectClose(_ actual: Tensor, _ expected: Tensor, atol: Float, rtol: Float, _ label: String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) -> Closeness {
  #expect(actual.shape == expected.shape, "\(label): shape \(actual.shape) vs expected \(expected.shape)",
          sourceLocation: sourceLocation)
  var c = Closeness()
  guard actual.shape == expected.shape else { return c }
  var worstRatio: Float = -1
  var worstFlat = 0
  for i in 0..<actual.count {
    let a = actual.storage[i], e = expected.storage[i]
    let diff = abs(a - e)
    let rel = diff / max(abs(e), Float.leastNormalMagnitude)
    let allowed = atol + rtol * abs(e)
    let ratio = diff.isNaN ? Float.infinity : diff / max(allowed, Float.leastNormalMagnitude)
    if !(diff <= allowed) { c.violations += 1 }
    c.maxAbs = max(c.maxAbs, diff.isNaN ? .infinity : diff)
    c.maxRel = max(c.maxRel, rel.isNaN ? .infinity : rel)
    if ratio > worstRatio {
      worstRatio = ratio
      worstFlat = i
    }
  }
  // Unflatten the worst index.
  var rest = worstFlat
  c.worstIndex = actual.strides.map { s in
    let q = rest / s
    rest %= s
    return q
  }
  if actual.count > 0 {
    c.worstActual = actual.storage[worstFlat]
    c.worstExpected = expected.storage[worstFlat]
  }
  #expect(c.violations == 0, "\(label) (atol \(atol), rtol \(rtol)): \(c)", sourceLocation: sourceLocation)
  return c
}

/// Output of a finished child process.
struct ProcessResult {
  var status: Int32
  var stdout: String
  var stderr: String
}

/// The folder holding the built products (the executables sit beside the test bundle).
let productsDirectory: String = {
  var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
  while url.path != "/" {
    if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("clip").path) { return url.path }
    url.deleteLastPathComponent()
  }
  return Fixtures.repositoryRoot + "/.build/debug"
}()

/// Runs one of the package's executables and collects its output.
func runProduct(_ name: String, _ arguments: [String], currentDirectory: String? = nil) throws -> ProcessResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: productsDirectory + "/" + name)
  process.arguments = arguments
  if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  // Drain both pipes at once: reading one to its end while the child fills the other past the pipe's
  // 64 KB would block both (a thousand warnings on stderr did).
  nonisolated(unsafe) var errData = Data()
  let errDone = DispatchSemaphore(value: 0)
  Thread.detachNewThread {
    errData = err.fileHandleForReading.readDataToEndOfFile()
    errDone.signal()
  }
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  errDone.wait()
  process.waitUntilExit()
  return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
}

/// A fresh temporary folder for one test.
/// One scratch folder per test process, removed when the process exits, with every test's folder inside.
/// (Each test used to leave its folder behind: one resume test alone leaves 300 MB, and 5,114 folders had
/// filled this machine's disk with 64 GB before this.) Roots left by runs that were killed go at the
/// next run's start.
let testScratchRoot: String = {
  let base = NSTemporaryDirectory(), fm = FileManager.default
  for name in (try? fm.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix("clip-tests-") {
    if let pid = Int32(name.dropFirst("clip-tests-".count)), pid != getpid(), kill(pid, 0) != 0 {
      try? fm.removeItem(atPath: base + name)
    }
  }
  let root = base + "clip-tests-\(getpid())"
  try? fm.createDirectory(atPath: root, withIntermediateDirectories: true)
  atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "clip-tests-\(getpid())") }
  return root
}()

func temporaryDirectory(_ tag: String = #function) -> String {
  let safe = tag.filter { $0.isLetter || $0.isNumber }
  let path = testScratchRoot + "/\(safe)-\(UUID().uuidString.prefix(8))"
  try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Uniform random tensor in [-1, 1) from a seeded generator.
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
  var rng = SeededRNG(seed: seed)
  return Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in rng.nextFloat() * 2 - 1 })
}

/// A chart the code wrote: an SVG file with a title and a label on each axis (ChartTests holds the kinds
/// of chart to more than this).
func expectChart(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) {
  let text = String(decoding: readBytes(path), as: UTF8.self)
  #expect(text.hasPrefix("<svg") && text.contains("class=\"title\"") && text.hasSuffix("</svg>\n"), "\(path) is not a chart",
          sourceLocation: sourceLocation)
}
