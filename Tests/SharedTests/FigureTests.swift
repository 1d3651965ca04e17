// Every number that changes between machines and runs has one source, and the prose quotes it from
// there. Speed figures come from BENCHMARKS.md (a section per CPU kind, written by compare.py); training
// results come from the race's own output files, committed under Results/. The docs quote them two ways:
//
//   <!-- bench-table: vit-b/16 forward batch 1; vit-b/16 forward batch 8 -->
//     followed by a table these tests write: every row BENCHMARKS.md has for those workloads, one column
//     per CPU kind. A stale table fails with the table as it should read, ready to paste.
//
//   <!-- race-table: Results/race-zen4-default.json; 1,2,5,10,15,20 -->
//     followed by the race's table after those epochs and at the clock, as Scripts/race.py recorded it.
//
//   0.88–1.03×<!-- figure: BENCHMARKS.md#family 25 model 17;vit-b/16 forward*;*;torch;ratio -->
//   87.8%<!-- figure: Results/race-zen4-default.json#swift.-1.1 -->
//     the number (or range) just before the marker must be the source's value at the precision written:
//     for BENCHMARKS.md, CPU;workload;threads;reference;column (* matches any text; a range is the min–max
//     of the matching rows; column is ours, reference-ms, ratio, gflops or peak); for JSON, a dotted
//     path whose integers index arrays (−1 is the last).
//
// HTML comments do not render, so a reader sees the number, and the source sees the reader's number.

import Foundation
import Testing

/// One row of a CPU section's tables in BENCHMARKS.md.
struct BenchRow {
  var cpu: String, workload: String, threads: String, ours: String, referenceMs: String, reference: String
  var ratio: String, gflops: String, peak: String
}

enum Figures {
  static let benchmarksText: String = (try? String(contentsOfFile: Fixtures.repositoryRoot + "/BENCHMARKS.md", encoding: .utf8)) ?? ""

  /// The CPU kinds, in the order BENCHMARKS.md has their sections, with their rows.
  static let sections: [(cpu: String, rows: [BenchRow])] = {
    var out: [(cpu: String, rows: [BenchRow])] = []
    var current: String? = nil
    for line in benchmarksText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
      if line.hasPrefix("<!-- cpu: ") {
        current = String(line.dropFirst("<!-- cpu: ".count).dropLast(" -->".count))
        out.append((current!, []))
      } else if line.hasPrefix("<!-- end cpu:") {
        current = nil
      } else if let cpu = current, line.hasPrefix("| ") {
        let c = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
          .map { $0.trimmingCharacters(in: .whitespaces) }
        if c.count == 8, Int(c[1]) != nil {
          out[out.count - 1].rows.append(BenchRow(cpu: cpu, workload: c[0], threads: c[1], ours: c[2], referenceMs: c[3], reference: c[4],
                                                  ratio: c[5], gflops: c[6], peak: c[7]))
        } else if c.count == 4, c[3].hasSuffix("×"), Double(c[1]) != nil {  // the memory table: workload, ours MB, torch MB, ratio
          out[out.count - 1].rows.append(BenchRow(cpu: cpu, workload: c[0], threads: "", ours: c[1], referenceMs: c[2], reference: "memory",
                                                  ratio: c[3], gflops: "", peak: ""))
        }
      }
    }
    return out
  }()

  /// `*` matches any run of characters; everything else literally.
  static func matches(_ pattern: String, _ text: String) -> Bool {
    let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
    if parts.count == 1 { return pattern == text }
    guard text.hasPrefix(parts[0]), text.dropFirst(parts[0].count).count >= parts.last!.count, text.hasSuffix(parts.last!) else { return false }
    var rest = Substring(text.dropFirst(parts[0].count).dropLast(parts.last!.count))
    for middle in parts.dropFirst().dropLast() where !middle.isEmpty {
      guard let r = rest.range(of: middle) else { return false }
      rest = rest[r.upperBound...]
    }
    return true
  }

  enum Failure: Error, CustomStringConvertible {
    case source(String)
    var description: String { switch self { case .source(let s): return s } }
  }

  /// The values a figure's key names (one, or several for a range).
  static func values(_ source: String, _ key: String) throws -> [Double] {
    if source == "BENCHMARKS.md" {
      let f = key.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
      guard f.count == 5 else { throw Failure.source("BENCHMARKS.md#\(key): want CPU;workload;threads;reference;column") }
      let cpus = sections.filter { $0.cpu.contains(f[0]) }
      guard cpus.count == 1 else { throw Failure.source("BENCHMARKS.md#\(key): '\(f[0])' names \(cpus.count) CPU sections, not one") }
      let rows = cpus[0].rows.filter { matches(f[1], $0.workload) && matches(f[2], $0.threads) && matches(f[3], $0.reference) }
      guard !rows.isEmpty else { throw Failure.source("BENCHMARKS.md#\(key): no row in \(cpus[0].cpu)") }
      return try rows.map { row in
        let text: String
        switch f[4] {
        case "ours": text = row.ours
        case "reference-ms": text = row.referenceMs
        case "ratio": text = row.ratio
        case "gflops": text = row.gflops
        case "peak": text = row.peak
        default: throw Failure.source("BENCHMARKS.md#\(key): unknown column \(f[4])")
        }
        guard let v = Double(text.trimmingCharacters(in: CharacterSet(charactersIn: "×% "))) else {
          throw Failure.source("BENCHMARKS.md#\(key): '\(text)' in \(row.workload) is no number")
        }
        return v
      }
    }
    guard source.hasPrefix("Results/"), source.hasSuffix(".json") else { throw Failure.source("\(source): figures come from BENCHMARKS.md or Results/*.json") }
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.repositoryRoot + "/" + source))
    var node: Any = try JSONSerialization.jsonObject(with: data)
    for part in key.split(separator: ".").map(String.init) {
      if let index = Int(part), let array = node as? [Any] {
        let i = index < 0 ? array.count + index : index
        guard array.indices.contains(i) else { throw Failure.source("\(source)#\(key): \(part) is outside \(array.count) entries") }
        node = array[i]
      } else if let object = node as? [String: Any], let next = object[part] {
        node = next
      } else {
        throw Failure.source("\(source)#\(key): no '\(part)'")
      }
    }
    guard let number = node as? NSNumber else { throw Failure.source("\(source)#\(key) is no number") }
    return [number.doubleValue]
  }

  /// The number or range written just before a marker: ("0.88", "1.03") from "ViT 0.88–1.03×".
  static func written(before text: Substring) -> [String]? {
    var t = String(text)
    while let last = t.last, "×%* )".contains(last) || t.hasSuffix(" ms") || t.hasSuffix(" s") {
      if t.hasSuffix(" ms") { t.removeLast(3) } else if t.hasSuffix(" s") { t.removeLast(2) } else { t.removeLast() }
    }
    guard let m = t.firstMatch(of: /(\d[\d,]*(?:\.\d+)?)(?:\s*[–-]\s*(\d[\d,]*(?:\.\d+)?))?$/) else { return nil }
    return [String(m.output.1)] + (m.output.2.map { [String($0)] } ?? [])
  }

  /// `value` as written with `decimals` digits after the point, without thousands separators.
  static func format(_ value: Double, decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

  /// The race's table after the given epochs and at the clock, from a Results/*.json written by race.py.
  static func raceTable(_ source: String, epochs: [Int]) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.repositoryRoot + "/" + source))
    guard let race = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let swift = race["swift"] as? [[Double]], let twin = race["twin"] as? [[Double]], let seconds = race["seconds"] as? Double
    else { throw Failure.source("\(source): not a race.json (seconds, swift, twin)") }
    func f(_ v: Double, _ d: Int) -> String { format(v, decimals: d) }
    var lines = ["| after epoch | Swift: seconds | test | unseen pairs | twin: seconds | test | unseen pairs | Swift / twin time |",
                 "|---|---|---|---|---|---|---|---|"]
    for e in epochs {
      guard e >= 1, e < swift.count, e < twin.count else { throw Failure.source("\(source): no epoch \(e) on both sides") }
      let a = swift[e - 1], b = twin[e - 1]
      lines.append("| \(e) | \(f(a[0], 0)) | \(f(a[1], 1))% | \(f(a[2], 1))% | \(f(b[0], 0)) | \(f(b[1], 1))% | \(f(b[2], 1))% | \(f(a[0] / b[0], 2))× |")
    }
    let a = swift.last!, b = twin.last!
    lines.append("| clock (\(f(seconds, 0)) s) | \(f(a[0], 0)) (\(swift.count - 1) + part of \(swift.count)) | **\(f(a[1], 1))%** | **\(f(a[2], 1))%** "
                 + "| \(f(b[0], 0)) (\(twin.count - 1) + part of \(twin.count)) | \(f(b[1], 1))% | \(f(b[2], 1))% | |")
    return lines.joined(separator: "\n") + "\n"
  }

  static let cpuNames = ["Zen 4", "AVX2", "AVX-512", "EPYC", "Xeon"]

  /// The table a `bench-table` marker stands for: every row of those workloads, a column per CPU kind.
  static func benchTable(_ workloads: [String]) -> String {
    var lines = ["| workload | threads | reference | " + sections.map { "\($0.cpu): ours vs reference" }.joined(separator: " | ") + " |",
                 "|---|---:|---|" + String(repeating: "---|", count: sections.count)]
    for workload in workloads {
      var keys: [(String, String)] = []
      for section in sections {
        for row in section.rows where row.workload == workload && !keys.contains(where: { $0 == (row.threads, row.reference) }) {
          keys.append((row.threads, row.reference))
        }
      }
      for (threads, reference) in keys {
        let cells = sections.map { section -> String in
          guard let r = section.rows.first(where: { $0.workload == workload && $0.threads == threads && $0.reference == reference }) else { return "–" }
          return r.reference == "memory" ? "\(r.ours) MB vs \(r.referenceMs) MB: \(r.ratio)" : "\(r.ours) ms vs \(r.referenceMs) ms: \(r.ratio)"
        }
        lines.append("| \(workload) | \(threads) | \(reference) | " + cells.joined(separator: " | ") + " |")
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }
}

@Suite("Figures: one source for every number")
struct FigureTests {
  @Test("BENCHMARKS.md parses: two CPU kinds or more, each with its rows")
  func benchmarksParse() {
    #expect(Figures.sections.count >= 2, "\(Figures.sections.map(\.cpu))")
    for s in Figures.sections { #expect(s.rows.count >= 20, "\(s.cpu): \(s.rows.count) rows") }
  }

  @Test("the figure reader: patterns, ranges, precision, and a wrong figure is caught")
  func reader() throws {
    #expect(Figures.matches("vit-b/16 forward*", "vit-b/16 forward batch 8"))
    #expect(!Figures.matches("vit-b/16 forward*", "bert forward 32x32"))
    #expect(Figures.matches("*", "1") && Figures.matches("clip b/32 * features*", "clip b/32 text features batch 1"))
    #expect(Figures.written(before: "ViT-B/16 forward 0.88–1.03×") == ["0.88", "1.03"])
    #expect(Figures.written(before: "| **87.8%**") == ["87.8"])
    #expect(Figures.written(before: "in 1,263 s") == ["1,263"])
    let zen4 = try Figures.values("BENCHMARKS.md", "family 25 model 17;vit-b/16 forward*;*;torch;ratio")
    #expect(zen4.count == 4)
    #expect(throws: Figures.Failure.self) { try Figures.values("BENCHMARKS.md", "EPYC;vit-b/16 forward*;*;torch;ratio") }  // two sections
    #expect(throws: Figures.Failure.self) { try Figures.values("Results/race-zen4-default.json", "swift.999.1") }
  }

  static let documents: [String] = WalkthroughTests.documents.filter { !$0.hasSuffix("/BENCHMARKS.md") }

  @Test("every figure marker in README and the walkthroughs quotes its source's value at the precision written")
  func figuresMatchSources() throws {
    let marker = /<!-- figure: ([^#]+)#(.+?) -->/
    var checked = 0
    for path in Self.documents {
      let doc = (path as NSString).lastPathComponent
      let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
      for (number, line) in lines.enumerated() {
        for match in line.matches(of: marker) {
          let place = "\(doc):\(number + 1)"
          guard let written = Figures.written(before: line[..<match.range.lowerBound]) else {
            Issue.record("\(place): no number before the figure marker"); continue
          }
          let values = try Figures.values(String(match.output.1), String(match.output.2))
          let decimals = written.map { $0.split(separator: ".").dropFirst().first?.count ?? 0 }
          let plain = written.map { $0.replacingOccurrences(of: ",", with: "") }
          let expected = values.count == 1 && written.count == 1
            ? [Figures.format(values[0], decimals: decimals[0])]
            : [Figures.format(values.min()!, decimals: decimals[0]), Figures.format(values.max()!, decimals: decimals.last!)]
          // A single value may be quoted as a range of one (x–x) only if it is written so.
          let shown = plain.count == 1 && expected.count == 2 && expected[0] == expected[1] ? [expected[0]] : expected
          #expect(plain == shown, "\(place) writes \(written.joined(separator: "–")), its source \(match.output.1)#\(match.output.2) says \(shown.joined(separator: "–"))")
          checked += 1
        }
      }
    }
    #expect(checked >= 20, "only \(checked) figure markers")
  }

  /// Every block the docs mark with `marker` must be followed by exactly what `render` makes of the match;
  /// returns how many there were.
  static func generatedBlocks<Output>(_ marker: Regex<Output>, kind: String, render: (Regex<Output>.Match) throws -> String) throws -> Int {
    var checked = 0
    for path in documents {
      let text = try String(contentsOfFile: path, encoding: .utf8)
      for match in text.matches(of: marker) {
        let expected = try render(match)
        let ok = text[match.range.upperBound...].hasPrefix(expected)
        #expect(ok, "\((path as NSString).lastPathComponent): the \(kind) at \"\(text[match.range].dropLast())\" is stale; it should read:\n\(expected)")
        checked += 1
      }
    }
    return checked
  }

  @Test("every bench-table in the docs is BENCHMARKS.md's rows for its workloads, as they are today")
  func benchTablesMatch() throws {
    let checked = try Self.generatedBlocks(/<!-- bench-table: (.+?) -->\n/, kind: "bench-table") { match in
      Figures.benchTable(match.output.1.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) })
    }
    #expect(checked >= 3, "only \(checked) bench tables")
  }

  @Test("every race-table in the docs is the race's own output file, as recorded")
  func raceTablesMatch() throws {
    let checked = try Self.generatedBlocks(/<!-- race-table: (\S+); ([\d,]+) -->\n/, kind: "race-table") { match in
      try Figures.raceTable(String(match.output.1), epochs: match.output.2.split(separator: ",").compactMap { Int($0) })
    }
    #expect(checked >= 1, "no race table")
  }

  @Test("every ratio in the prose is sourced: in a bench-table, behind a figure marker, or held in BENCHMARKS.md with a CPU named beside it")
  func ratiosAreSourced() throws {
    let ratio = /(\d+\.\d+)(?:[–-](\d+\.\d+))?×/
    let notes = Set(Figures.benchmarksText.matches(of: ratio).flatMap { m in [String(m.output.1)] + (m.output.2.map { [String($0)] } ?? []) })
    var sourced = 0, fallback = 0
    for path in Self.documents {
      let doc = (path as NSString).lastPathComponent
      let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      var inBenchTable = false, inFence = false
      for (number, line) in lines.enumerated() {
        if line.hasPrefix("```") { inFence.toggle() }
        if line.hasPrefix("<!-- bench-table:") || line.hasPrefix("<!-- race-table:") { inBenchTable = true; continue }
        if inBenchTable { if line.hasPrefix("|") { continue } else { inBenchTable = false } }
        if inFence { continue }
        for match in line.matches(of: ratio) {
          let rest = line[match.range.upperBound...]
          if rest.hasPrefix("<!-- figure:") || rest.hasPrefix("**<!-- figure:") { sourced += 1; continue }
          // Not marked: the value must be in BENCHMARKS.md, and the paragraph or table must say which CPU.
          var lo = number, hi = number
          while lo > 0, !lines[lo - 1].trimmingCharacters(in: .whitespaces).isEmpty { lo -= 1 }
          while hi + 1 < lines.count, !lines[hi + 1].trimmingCharacters(in: .whitespaces).isEmpty { hi += 1 }
          var block = lines[lo...hi].joined(separator: "\n")
          if line.hasPrefix("|"), lo > 1 {  // a table: the paragraph before it says what it measured
            var p = lo - 2
            while p > 0, !lines[p - 1].trimmingCharacters(in: .whitespaces).isEmpty { p -= 1 }
            block += lines[p...(lo - 1)].joined(separator: "\n")
          }
          let values = [String(match.output.1)] + (match.output.2.map { [String($0)] } ?? [])
          for v in values { #expect(notes.contains(v), "\(doc):\(number + 1) quotes \(v)×, which BENCHMARKS.md does not hold") }
          #expect(Figures.cpuNames.contains { block.contains($0) }, "\(doc):\(number + 1) quotes \(match.output.0) without naming the CPU it was measured on")
          fallback += 1
        }
      }
    }
    #expect(sourced >= 10, "only \(sourced) ratios carry a figure marker")
    print("ratios: \(sourced) behind figure markers, \(fallback) held to BENCHMARKS.md's notes")
  }
}
