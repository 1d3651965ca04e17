// Notebook-style logging for the chapters: numbered steps with timings, tensor summaries, and
// small matrices printed in full.
//
//   [3/7] patch embedding  (196 patches × 768 → 768)  · 2.1 ms
//         tokens  (1, 196, 768)  min -1.2  max 1.4  mean 0.01  std 0.33  [0.12, -0.05, …]

import TensorCore
import Kernels
import IO
import Foundation

/// "2.1 ms", "1.35 s", "850 µs".
public func formatDuration(_ seconds: Double) -> String {
  if seconds < 1e-3 { return String(format: "%.0f µs", seconds * 1e6) }
  if seconds < 1 { return String(format: "%.1f ms", seconds * 1e3) }
  if seconds < 120 { return String(format: "%.2f s", seconds) }
  return String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
}

/// Prints a chapter as a sequence of numbered steps.
public final class Notebook {
  public let title: String
  public let totalSteps: Int
  private var step = 0
  private let started = now()
  /// Prints nothing (the ranks other than 0 in chapter 10).
  public let quiet: Bool

  public init(title: String, steps: Int, quiet: Bool = false) {
    self.title = title
    self.totalSteps = steps
    self.quiet = quiet
    keepFreedMemory()  // every chapter starts here: its memory policy (Kernels/Memory.swift)
    if quiet { return }
    let rule = String(repeating: "═", count: max(8, title.count + 4))
    print(rule)
    print("  \(title)")
    print(rule)
  }

  /// A heading: prints the next step's number, name and detail, with no body to time.
  public func step(_ name: String, _ detail: String = "") {
    step += 1
    if quiet { return }
    print(header(name, detail))
  }

  /// Runs one step: prints its header first, so whatever the body prints sits under it, then the time it
  /// took — on the header line when the body printed nothing, on a line of its own when it did.
  @discardableResult
  public func step<T>(_ name: String, _ detail: String = "", _ body: () throws -> T) rethrows -> T {
    step += 1
    if !quiet {
      print(header(name, detail), terminator: "")
      headerOpen = true
    }
    let t0 = now()
    let result = try body()
    let elapsed = now() - t0
    if quiet { return result }
    if headerOpen {
      print("  · \(formatDuration(elapsed))")
      headerOpen = false
    } else {
      print("      · \(formatDuration(elapsed))")
    }
    return result
  }

  private var headerOpen = false

  private func header(_ name: String, _ detail: String) -> String {
    "[\(step)/\(totalSteps)] \(name)" + (detail.isEmpty ? "" : "  (\(detail))")
  }

  /// Ends a header still waiting for its time, before anything else is printed under it. `note` and `show`
  /// call it; code that prints by itself inside a step's body (a progress bar) calls it first.
  public func closeHeader() {
    if headerOpen {
      print("")
      headerOpen = false
    }
  }

  /// An indented line under the current step.
  public func note(_ text: String) {
    if quiet { return }
    closeHeader()
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) { print("      \(line)") }
  }

  /// An indented tensor summary line.
  public func show(_ label: String, _ tensor: Tensor) {
    note("\(label.padding(toLength: max(label.count + 2, 14), withPad: " ", startingAt: 0))\(tensor.summary())")
  }

  /// Closing line with the total time.
  public func finish(next: String? = nil) {
    if quiet { return }
    print("done in \(formatDuration(now() - started)).")
    if let next { print("next: \(next)") }
  }
}

/// A small matrix printed in full, rows on lines, fixed width.
public func formatMatrix(_ t: Tensor, decimals: Int = 3) -> String {
  precondition(t.rank == 2, "formatMatrix needs a matrix, got \(t.shape)")
  var lines: [String] = []
  for i in 0..<t.shape[0] {
    let row = (0..<t.shape[1]).map { String(format: "%\(decimals + 5).\(decimals)f", Double(t[i, $0])) }
    lines.append("[" + row.joined(separator: " ") + " ]")
  }
  return lines.joined(separator: "\n")
}
