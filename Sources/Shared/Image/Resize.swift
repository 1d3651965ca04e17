// Image resizing exactly as Pillow does it for 8-bit images (Image.resize with BICUBIC), because
// timm's eval transform for the seed's ViT runs torchvision's Resize on a PIL image.
//
// Pillow resamples in two separable passes (which one runs first: `resizeRunsVerticalFirst`). For
// each output coordinate it builds a filter window in Double, normalises the weights to sum to 1,
// converts them to fixed point with 22 fractional bits, and accumulates integer products; after each pass the value is rounded
// (by starting the sum at ½) and clipped to 0…255. When shrinking, the filter's support widens by
// the scale factor (that is the antialiasing).

import TensorCore
import IO

public enum ResampleFilter: Sendable {
  case bicubic  // a = -0.5, support 2
  case bilinear  // triangle, support 1

  var support: Double {
    switch self {
    case .bicubic: return 2
    case .bilinear: return 1
    }
  }

  @inline(__always)
  func weight(_ t: Double) -> Double {
    let x = abs(t)
    switch self {
    case .bicubic:
      let a = -0.5
      if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
      if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
      return 0
    case .bilinear:
      return x < 1 ? 1 - x : 0
    }
  }
}

/// Fractional bits of Pillow's fixed-point weights: 32 − 8 (pixel) − 2 (headroom for negative lobes).
let resamplePrecisionBits = 22

/// One pass's filter windows: output index o reads inputs start[o] ..< start[o] + count[o]
/// with fixed-point weights weights[o * windowSize + t].
struct ResampleWindows {
  var start: [Int]
  var count: [Int]
  var weights: [Int32]
  var windowSize: Int
}

/// Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis, box [0, inSize), for outputs
/// `outputs` only (all by default): each window depends on its own output index alone, so a crop's
/// windows cost the crop, not the whole resized axis.
func resampleWindows(inSize: Int, outSize: Int, filter: ResampleFilter, outputs: Range<Int>? = nil) -> ResampleWindows {
  let outputs = outputs ?? 0..<outSize
  let scale = Double(inSize) / Double(outSize)
  let filterScale = max(scale, 1)
  let support = filter.support * filterScale
  let windowSize = Int(support.rounded(.up)) * 2 + 1
  var start = [Int](repeating: 0, count: outputs.count)
  var count = [Int](repeating: 0, count: outputs.count)
  var weights = [Int32](repeating: 0, count: outputs.count * windowSize)
  var k = [Double](repeating: 0, count: windowSize)
  let invFilterScale = 1.0 / filterScale
  for o in outputs {
    let slot = o - outputs.lowerBound  // where output o's window is stored
    let center = (Double(o) + 0.5) * scale
    // C's (int) cast truncates toward zero; Swift's Int(_:) does the same.
    var xmin = Int(center - support + 0.5)
    if xmin < 0 { xmin = 0 }
    var xmax = Int(center + support + 0.5)
    if xmax > inSize { xmax = inSize }
    xmax -= xmin
    var total = 0.0
    for t in 0..<xmax {
      let w = filter.weight((Double(t + xmin) - center + 0.5) * invFilterScale)
      k[t] = w
      total += w
    }
    for t in 0..<windowSize {
      var w = t < xmax ? k[t] : 0
      if t < xmax && total != 0 { w /= total }
      let fixed = w * Double(1 << resamplePrecisionBits)
      weights[slot * windowSize + t] = Int32(w < 0 ? -0.5 + fixed : 0.5 + fixed)
    }
    start[slot] = xmin
    count[slot] = xmax
  }
  return ResampleWindows(start: start, count: count, weights: weights, windowSize: windowSize)
}

/// Pillow's clip8: drop the fraction bits (arithmetic shift) and clamp to a byte.
@inline(__always)
func clip8(_ sum: Int) -> UInt8 {
  let v = sum >> resamplePrecisionBits
  return v < 0 ? 0 : (v > 255 ? 255 : UInt8(v))
}

/// Pillow 13's pass order (`ImagingResampleInner`): the vertical pass runs first when the height
/// shrinks by more than twice as many pixels as the width does; otherwise (ties included, and every
/// upscale) the horizontal pass runs first. Each pass rounds to 8 bits, so the order shows in the
/// output. Pillow 12 and older always went horizontal first.
public func resizeRunsVerticalFirst(inWidth: Int, inHeight: Int, outWidth: Int, outHeight: Int) -> Bool {
  let shrinkHeight = inHeight - outHeight, shrinkWidth = inWidth - outWidth
  return shrinkHeight > 0 && shrinkHeight > 2 * shrinkWidth
}

extension RGBImage {
  /// Resized to width × height exactly as Pillow 13's `Image.resize((width, height), filter)`.
  public func resized(width outWidth: Int, height outHeight: Int, filter: ResampleFilter = .bicubic) -> RGBImage {
    resized(width: outWidth, height: outHeight, filter: filter, keeping: 0..<outWidth, 0..<outHeight)
  }

  /// Columns `columns` and rows `rows` of the image resized to width × height — byte for byte the crop
  /// of `resized(width:height:)`, without computing the rest: every output pixel depends only on its
  /// own windows, so a centre crop of a 1×60000 photo resized to 248×14880000 costs the crop alone.
  public func resized(width outWidth: Int, height outHeight: Int, filter: ResampleFilter = .bicubic,
                      keeping columns: Range<Int>, _ rows: Range<Int>) -> RGBImage {
    precondition(outWidth > 0 && outHeight > 0, "resize target must be positive, got \(outWidth)×\(outHeight)")
    precondition(width > 0 && height > 0, "cannot resize an empty \(width)×\(height) image")
    precondition(columns.lowerBound >= 0 && columns.upperBound <= outWidth && rows.lowerBound >= 0 && rows.upperBound <= outHeight
                   && !columns.isEmpty && !rows.isEmpty, "the kept region must lie inside the resized image")
    if outWidth == width && outHeight == height { return cropped(x: columns.lowerBound, y: rows.lowerBound, width: columns.count, height: rows.count) }
    let horizontal = resampleWindows(inSize: width, outSize: outWidth, filter: filter, outputs: columns)
    let vertical = resampleWindows(inSize: height, outSize: outHeight, filter: filter, outputs: rows)
    // An axis that keeps its size is not resampled (Pillow skips that pass), only cropped.
    if outWidth == width {
      return cropped(x: columns.lowerBound, y: 0, width: columns.count, height: height).resampledVertically(vertical, rows: 0..<height)
    }
    if outHeight == height { return resampledHorizontally(horizontal, rows: rows) }
    if resizeRunsVerticalFirst(inWidth: width, inHeight: height, outWidth: outWidth, outHeight: outHeight) {
      // Every column is resampled vertically (all of them are read by the horizontal windows).
      return resampledVertically(vertical, rows: 0..<height).resampledHorizontally(horizontal, rows: 0..<rows.count)
    }
    // Horizontal first, and only on the rows the vertical pass will read.
    let firstRow = vertical.start[0]
    let lastRow = vertical.start[rows.count - 1] + vertical.count[rows.count - 1]
    return resampledHorizontally(horizontal, rows: firstRow..<lastRow).resampledVertically(vertical, rows: firstRow..<lastRow)
  }

  /// One horizontal pass over `rows` of this image: (rows.count, outWidth) from (height, width).
  func resampledHorizontally(_ horizontal: ResampleWindows, rows: Range<Int>) -> RGBImage {
    let outWidth = horizontal.start.count
    let half = 1 << (resamplePrecisionBits - 1)
    var out = RGBImage(width: outWidth, height: rows.count)
    pixels.withUnsafeBufferPointer { src in
      out.pixels.withUnsafeMutableBufferPointer { dst in
        horizontal.weights.withUnsafeBufferPointer { w in
          for y in 0..<rows.count {
            let srcRow = (y + rows.lowerBound) * width * 3
            let dstRow = y * outWidth * 3
            for x in 0..<outWidth {
              let x0 = horizontal.start[x], n = horizontal.count[x]
              let kw = x * horizontal.windowSize
              var s0 = half, s1 = half, s2 = half
              for t in 0..<n {
                let p = srcRow + (x0 + t) * 3
                let weight = Int(w[kw + t])
                s0 += Int(src[p]) * weight
                s1 += Int(src[p + 1]) * weight
                s2 += Int(src[p + 2]) * weight
              }
              dst[dstRow + 3 * x] = clip8(s0)
              dst[dstRow + 3 * x + 1] = clip8(s1)
              dst[dstRow + 3 * x + 2] = clip8(s2)
            }
          }
        }
      }
    }
    return out
  }

  /// One vertical pass. This image holds source rows `rows` of the original (windows index the
  /// original's rows); the result is (outHeight, width).
  func resampledVertically(_ vertical: ResampleWindows, rows: Range<Int>) -> RGBImage {
    let outHeight = vertical.start.count
    let half = 1 << (resamplePrecisionBits - 1)
    let w = width
    var out = RGBImage(width: w, height: outHeight)
    pixels.withUnsafeBufferPointer { src in
      out.pixels.withUnsafeMutableBufferPointer { dst in
        vertical.weights.withUnsafeBufferPointer { weights in
          for y in 0..<outHeight {
            let y0 = vertical.start[y] - rows.lowerBound, n = vertical.count[y]
            let kw = y * vertical.windowSize
            for x in 0..<(w * 3) {
              var s = half
              for t in 0..<n { s += Int(src[(y0 + t) * w * 3 + x]) * Int(weights[kw + t]) }
              dst[y * w * 3 + x] = clip8(s)
            }
          }
        }
      }
    }
    return out
  }
}
