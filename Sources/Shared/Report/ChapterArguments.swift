// Command-line flags for the chapter executables: `--name value` pairs and `--help`. Chapters keep
// their options few; the `clip` tool uses swift-argument-parser for its richer interface.

import Foundation

public struct ChapterArguments {
  public let program: String
  public let usage: String
  private var values: [String: String] = [:]
  private var flags: Set<String> = []

  /// Parses `CommandLine.arguments`. `options` are the flags that take a value, `switches` those that
  /// do not. Unknown flags and `--help` print the usage; unknown flags exit with status 2.
  public init(options: [String], switches: [String] = [], usage: String,
              arguments: [String] = CommandLine.arguments) {
    program = (arguments.first.map { ($0 as NSString).lastPathComponent }) ?? "chapter"
    self.usage = usage
    var i = 1
    while i < arguments.count {
      let arg = arguments[i]
      if arg == "--help" || arg == "-h" {
        print("usage: \(program) \(usage)")
        exit(0)
      }
      let name = String(arg.drop { $0 == "-" })
      if arg.hasPrefix("--"), options.contains(name) {
        guard i + 1 < arguments.count else { Self.fail(program, "\(arg) needs a value", usage) }
        values[name] = arguments[i + 1]
        i += 2
      } else if arg.hasPrefix("--"), switches.contains(name) {
        flags.insert(name)
        i += 1
      } else {
        Self.fail(program, "unknown argument '\(arg)'", usage)
      }
    }
  }

  private static func fail(_ program: String, _ message: String, _ usage: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\nusage: \(program) \(usage)\n".utf8))
    exit(2)
  }

  public subscript(_ name: String) -> String? { values[name] }
  public func has(_ name: String) -> Bool { flags.contains(name) }
}

/// The repository root, found by walking up from the current directory (or from this source file's
/// location) to the folder holding Package.swift and Assets/. Chapters use it to find bundled files.
public func repositoryRoot(sourceFile: String = #filePath) -> String? {
  let fm = FileManager.default
  var candidates = [fm.currentDirectoryPath, (sourceFile as NSString).deletingLastPathComponent]
  var found: String?
  while let dir = candidates.first, found == nil {
    candidates.removeFirst()
    var d = dir
    while d != "/" && !d.isEmpty {
      if fm.fileExists(atPath: d + "/Package.swift") && fm.fileExists(atPath: d + "/Assets") {
        found = d
        break
      }
      d = (d as NSString).deletingLastPathComponent
    }
  }
  return found
}

/// Prints a one-line error to standard error and exits with status 1.
public func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("error: \(message)\n".utf8))
  exit(1)
}
