// The walkthroughs and the README point at real files: every relative link resolves, and every
// chapter executable a walkthrough tells the reader to run exists in Package.swift.

import Foundation
import Testing

@Suite("Walkthroughs")
struct WalkthroughTests {
  static let documents: [String] = {
    let dir = Fixtures.repositoryRoot + "/Walkthroughs"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return [Fixtures.repositoryRoot + "/README.md", Fixtures.repositoryRoot + "/BENCHMARKS.md"]
      + names.filter { $0.hasSuffix(".md") }.sorted().map { dir + "/" + $0 }
  }()

  @Test("every relative link in README, BENCHMARKS and the walkthroughs resolves to a file")
  func linksResolve() throws {
    #expect(Self.documents.count >= 12, "found \(Self.documents.count) documents")
    let link = try Regex(#"\]\(([^)\s]+)\)"#)
    var checked = 0
    for path in Self.documents {
      let text = try String(contentsOfFile: path, encoding: .utf8)
      let base = (path as NSString).deletingLastPathComponent
      for match in text.matches(of: link) {
        var target = String(text[match.range].dropFirst(2).dropLast())
        if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("#") || target.hasPrefix("mailto:") { continue }
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        let resolved = (base as NSString).appendingPathComponent(target)
        #expect(FileManager.default.fileExists(atPath: resolved), "\((path as NSString).lastPathComponent): broken link \(target)")
        checked += 1
      }
    }
    #expect(checked > 50, "only \(checked) links checked")
  }

  @Test("every `swift run -c release chNN-…` in the docs names a chapter executable of Package.swift")
  func chapterCommandsExist() throws {
    let manifest = try String(contentsOfFile: Fixtures.repositoryRoot + "/Package.swift", encoding: .utf8)
    let command = try Regex(#"swift run -c release (ch\d\d-[a-z-]+|tour|clip)"#)
    for path in Self.documents {
      let text = try String(contentsOfFile: path, encoding: .utf8)
      for match in text.matches(of: command) {
        let name = String(text[match.range].split(separator: " ").last!)
        #expect(manifest.contains("\"\(name)\""), "\((path as NSString).lastPathComponent): `\(name)` is not a product")
      }
    }
  }
}

@Suite("ROBUSTNESS.md")
struct RobustnessTableTests {
  @Test("every row of ROBUSTNESS.md names tests that exist, so the table stays tied to what is checked")
  func rowsNameRealTests() throws {
    let table = try String(contentsOfFile: Fixtures.repositoryRoot + "/ROBUSTNESS.md", encoding: .utf8)
    let testsDirectory = Fixtures.repositoryRoot + "/Tests/SharedTests"
    var sources = ""
    for name in try FileManager.default.contentsOfDirectory(atPath: testsDirectory) where name.hasSuffix(".swift") {
      sources += try String(contentsOfFile: testsDirectory + "/" + name, encoding: .utf8)
    }
    var rows = 0
    for line in table.split(separator: "\n") where line.hasPrefix("| ") && !line.hasPrefix("| bad input") && !line.hasPrefix("| situation") {
      let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
      guard let last = cells.last, last.hasPrefix("`") else { continue }
      rows += 1
      for name in last.split(separator: ",").map({ $0.trimmingCharacters(in: CharacterSet(charactersIn: " `")) }) {
        #expect(sources.contains("func \(name)("), "ROBUSTNESS.md names `\(name)`, which is no test")
      }
    }
    #expect(rows >= 25, "only \(rows) rows")
  }
}

