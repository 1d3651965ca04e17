// Where a chapter finds the repository's files, and how it stops on an error. (Chapters parse their
// flags with swift-argument-parser, as the `clip` tool does.)

import TensorCore
import IO
import Image
import CLIPAssets
import Foundation

/// The path of a file shipped in Assets/ (a SwiftPM resource), e.g. `assetPath(BundledAssets.samplePhoto)`.
public func assetPath(_ name: String) -> String? { BundledAssets.path(name) }

/// The names of the shipped files.
public typealias BundledAssets = CLIPAssets.BundledAssets

/// The repository root, found by walking up from the current directory (or from this source file's
/// location) to the folder holding Package.swift and Assets/. Chapters use it to find bundled files.
public func repositoryRoot(sourceFile: String = #filePath) -> String? {
  let fm = FileManager.default
  var candidates = [fm.currentDirectoryPath, parentPath(sourceFile)]
  var found: String?
  while let dir = candidates.first, found == nil {
    candidates.removeFirst()
    var d = dir
    while d != "/" && !d.isEmpty {
      if fm.fileExists(atPath: d + "/Package.swift") && fm.fileExists(atPath: d + "/Assets") {
        found = d
        break
      }
      d = parentPath(d)
    }
  }
  return found
}

/// The folder of the running executable, wherever it was started from: found through /proc/self/exe
/// (`arguments[0]` is only a name when the program was found on PATH, and relative to wherever the
/// user stood).
public func executableDirectory() -> String {
  var buffer = [CChar](repeating: 0, count: 4096)
  let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
  let path = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    : (Bundle.main.executablePath ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path)
  return parentPath(path)
}

/// Stops with exit 64 when a command-line argument is not UTF-8 (a Latin-1 file name typed or globbed):
/// Swift would read it with U+FFFD in place of the bytes, and the file would be reported missing although
/// it is there.
public func refuseArgumentsThatAreNotUTF8() {
  for i in 1..<Int(CommandLine.argc) {
    guard let pointer = CommandLine.unsafeArgv[i] else { continue }
    let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer))
    if String(validating: bytes, as: UTF8.self) == nil {
      let escaped = bytes.map { $0 < 0x80 ? String(UnicodeScalar($0)) : String(format: "\\x%02x", $0) }.joined()
      FileHandle.standardError.write(Data(("error: argument \(i) (\(escaped)) is not UTF-8 text; paths and texts are read as UTF-8 "
        + "(rename such a file, e.g. convmv -f latin1 -t utf8 --notest FILE)\n").utf8))
      exit(64)
    }
  }
}

/// Prints `error: …` on one line to standard error and exits with status 1: the one way the chapters and
/// the `clip` tool stop on bad input (without argument-parser's usage text, which is for mistakes in the
/// command line, not in the input files).
public func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("error: \(message)\n".utf8))
  exit(1)
}
