// Where a chapter finds the repository's files. (How a program stops on an error is ProgramSupport's:
// the library never exits.)

import TensorCore
import IO
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
