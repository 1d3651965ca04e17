// The walkthroughs and the README point at real files: every relative link resolves, every code snippet
// is the source as it is, every camelCase name mentioned exists, and every chapter executable a
// walkthrough tells the reader to run exists in Package.swift.

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

  /// The anchored region `name` of a source file: (first line, last line, text dedented), as
  /// Scripts/walkthroughs.py --snippets writes it.
  static func snippet(_ path: String, _ name: String) throws -> (first: Int, last: Int, text: String) {
    let lines = try String(contentsOfFile: Fixtures.repositoryRoot + "/" + path, encoding: .utf8)
      .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "// ANCHOR: \(name)" }),
      let end = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "// ANCHOR_END: \(name)" }), start < end
    else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: "\(path): no anchor \(name)"]) }
    let body = lines[(start + 1)..<end].filter { !$0.contains("// ANCHOR") }
    let indent = body.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { $0.prefix(while: { $0 == " " }).count }.min() ?? 0
    return (start + 2, end, body.map { String($0.dropFirst(min(indent, $0.count))) }.joined(separator: "\n"))
  }

  @Test("every code snippet in the walkthroughs is the source as it is today, with a link to its lines")
  func snippetsMatchSource() throws {
    let marker = try Regex(#"<!-- snippet: (\S+)#(\S+) -->\n"#)
    var checked = 0
    for path in Self.documents {
      let text = try String(contentsOfFile: path, encoding: .utf8)
      let doc = (path as NSString).lastPathComponent
      for match in text.matches(of: marker) {
        let header = String(text[match.range]).dropFirst("<!-- snippet: ".count).dropLast(" -->\n".count)
        let parts = header.split(separator: "#").map(String.init)
        let (file, name) = (parts[0], parts[1])
        let region = try Self.snippet(file, name)
        let expected = "[`\((file as NSString).lastPathComponent)`, lines \(region.first)–\(region.last)](../\(file)#L\(region.first)-L\(region.last)):"
          + "\n\n```swift\n\(region.text)\n```\n"
        let after = text[match.range.upperBound...]
        let message = "\(doc): the snippet \(file)#\(name) no longer matches the source (python3 Scripts/walkthroughs.py --snippets rewrites it)"
        let matches = after.hasPrefix(expected)  // (a Bool, so a failure prints the message, not the whole document)
        #expect(matches, Comment(rawValue: message))
        checked += 1
      }
    }
    #expect(checked >= 9, "only \(checked) snippets")
  }

  @Test("every `camelCase` name the docs mention (outside code blocks) exists in the sources, tests or scripts")
  func mentionedNamesExist() throws {
    var sources = try String(contentsOfFile: Fixtures.repositoryRoot + "/Package.swift", encoding: .utf8)
    for root in ["Sources", "Tests", "Scripts", "Distributed/Sources", "Distributed/Tests"] {
      let base = Fixtures.repositoryRoot + "/" + root
      guard let files = FileManager.default.enumerator(atPath: base) else { continue }
      for case let file as String in files where !file.contains(".build") && (file.hasSuffix(".swift") || file.hasSuffix(".py")) {
        sources += (try? String(contentsOfFile: base + "/" + file, encoding: .utf8)) ?? ""
      }
    }
    let fence = try Regex(#"(?s)```.*?```"#), name = try Regex(#"`([a-z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*)(\(\))?`"#)
    for path in Self.documents {
      let prose = try String(contentsOfFile: path, encoding: .utf8).replacing(fence, with: "")
      for match in prose.matches(of: name) {
        let symbol = String(prose[match.range]).trimmingCharacters(in: CharacterSet(charactersIn: "`()"))
        #expect(sources.contains(symbol), "\((path as NSString).lastPathComponent) mentions `\(symbol)`, which no source defines or uses")
      }
    }
  }

  @Test("README's module table lists each library target with exactly its dependencies in Package.swift")
  func moduleTableMatchesPackage() throws {
    let manifest = try String(contentsOfFile: Fixtures.repositoryRoot + "/Package.swift", encoding: .utf8)
    let readme = try String(contentsOfFile: Fixtures.repositoryRoot + "/README.md", encoding: .utf8)
    // Package.swift: name: "X", dependencies: ["A", "B", …] (the string literals; products are not targets of ours).
    let target = try Regex(#"name: "([A-Za-z]+)",\s*dependencies: \[([^\]]*)\]"#)
    var dependencies: [String: Set<String>] = [:]
    for match in manifest.matches(of: target) {
      let names = match.output[2].substring!.matches(of: try Regex(#""([A-Za-z]+)""#)).map { String($0.output[1].substring!) }
      dependencies[String(match.output[1].substring!)] = Set(names)
    }
    dependencies["Kernels"] = dependencies["Kernels"] ?? []
    var rows = 0
    for line in readme.split(separator: "\n") where line.hasPrefix("| `") {
      let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
      guard cells.count >= 3, let name = cells[0].split(separator: "`").first.map(String.init), let expected = dependencies[name],
            cells[2] != "all" else { continue }
      // "Kernels (AdamW's update)" names Kernels; the parenthesis is prose.
      let listed = Set(cells[2].replacing(try Regex(#"\([^)]*\)"#), with: "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
      #expect(listed == expected, "README says \(name) may import \(listed.sorted()), Package.swift gives it \(expected.sorted())")
      rows += 1
    }
    #expect(rows >= 10, "only \(rows) rows of the module table were found")
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

