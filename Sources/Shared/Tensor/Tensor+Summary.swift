// One-line tensor summaries for the chapters' notebook-style logs: shape, min/max/mean/std, first values.

import Foundation

/// Statistics of a tensor, printed as `(196, 768)  min -1.23  max 4.56  mean 0.01  std 0.98  [0.12, -0.5, …]`.
public struct TensorSummary: CustomStringConvertible, Sendable {
  public var shape: [Int]
  public var min: Float
  public var max: Float
  public var mean: Double
  public var std: Double
  public var first: [Float]

  public var description: String {
    let dims = "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")")
    if shape.reduce(1, *) == 0 { return "\(dims)  empty" }
    let head = first.map { formatNumber($0) }.joined(separator: ", ")
    return "\(dims)  min \(formatNumber(min))  max \(formatNumber(max))  mean \(formatNumber(Float(mean)))"
      + "  std \(formatNumber(Float(std)))  [\(head)\(shape.reduce(1, *) > first.count ? ", …" : "")]"
  }
}

/// A compact number: 4 significant digits, scientific for very small or large magnitudes.
public func formatNumber(_ x: Float) -> String {
  if x.isNaN { return "nan" }
  if x.isInfinite { return x > 0 ? "inf" : "-inf" }
  let a = abs(x)
  if a != 0 && (a < 1e-3 || a >= 1e5) { return String(format: "%.3e", Double(x)) }
  var s = String(format: "%.4g", Double(x))
  if s == "-0" { s = "0" }
  return s
}

extension Tensor {
  /// Shape, min, max, mean, standard deviation (population) and the first `firstCount` values.
  public func summary(firstCount: Int = 4) -> TensorSummary {
    var lo = Float.infinity, hi = -Float.infinity
    var sum = 0.0, sumSq = 0.0
    for v in storage {
      lo = Swift.min(lo, v)
      hi = Swift.max(hi, v)
      sum += Double(v)
      sumSq += Double(v) * Double(v)
    }
    let n = Double(Swift.max(count, 1))
    let mean = sum / n
    let variance = Swift.max(0, sumSq / n - mean * mean)
    return TensorSummary(shape: shape, min: lo, max: hi, mean: mean, std: variance.squareRoot(),
                         first: Array(storage.prefix(firstCount)))
  }
}
