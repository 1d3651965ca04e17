// The one clock every layer that times itself reads (chapters print durations with Report's formatDuration).

import Foundation

/// Wall-clock time in seconds (monotonic).
public func now() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
