// A one-line progress bar with rate and ETA. On a terminal it redraws in place; when the output is a
// file or a pipe (tests, CI logs) it prints a plain line at 25%, 50%, 75% and 100% instead.

import TensorCore
import Foundation

public final class ProgressBar {
  let total: Int
  let label: String
  let width = 24
  let started = now()
  let interactive = isatty(1) != 0
  var lastQuarter = 0
  var lastDraw = 0.0
  /// Added to every `done`: work split into parts, each counting from 0, draws one bar.
  public var offset = 0

  public init(total: Int, label: String) {
    self.total = max(total, 1)
    self.label = label
  }

  /// `done` items finished; `info` is appended (e.g. "loss 1.23  lr 1e-3  412 img/s").
  public func update(_ done: Int, info: String) {
    // A count past either end is drawn at that end: the bar reports progress, it never stops the work.
    let done = min(max(offset + done, 0), total)
    let elapsed = now() - started
    let fraction = Double(done) / Double(total)
    let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
    let filled = Int(fraction * Double(width))
    let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
    let text = "\(label) [\(bar)] \(done)/\(total)  \(info)  · \(formatDuration(elapsed)) elapsed, ETA \(formatDuration(eta))"
    if interactive {
      if now() - lastDraw > 0.1 || done == total {
        print("\r\u{1B}[2K" + text, terminator: done == total ? "\n" : "")
        fflush(nil)  // all streams (stdout is not concurrency-safe to name in Swift 6)
        lastDraw = now()
      }
    } else {
      let quarter = Int(fraction * 4)
      if quarter > lastQuarter {
        lastQuarter = quarter
        print(text)
      }
    }
  }
}
