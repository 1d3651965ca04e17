// Heatmaps for the chapters' pictures: a colour map, matrices as images, and a (grid × grid) map
// laid over a photo.

import TensorCore
import IO
import Image

/// Viridis-like colour map: 0 → dark purple, 0.5 → teal, 1 → yellow (piecewise linear, 6 anchors).
func colormap(_ value: Float) -> (UInt8, UInt8, UInt8) {
  let anchors: [(Float, Float, Float)] = [
    (68, 1, 84), (65, 68, 135), (42, 120, 142), (34, 168, 132), (122, 209, 81), (253, 231, 37),
  ]
  let v = max(0, min(1, value.isNaN ? 0 : value)) * Float(anchors.count - 1)
  let i = min(Int(v), anchors.count - 2)
  let f = v - Float(i)
  let a = anchors[i], b = anchors[i + 1]
  return (UInt8(a.0 + (b.0 - a.0) * f), UInt8(a.1 + (b.1 - a.1) * f), UInt8(a.2 + (b.2 - a.2) * f))
}

/// A matrix (R, C) drawn as an image, each entry a `cell`×`cell` square, scaled min…max → colour map.
func heatmapImage(_ t: Tensor, cell: Int = 1, range: ClosedRange<Float>? = nil) -> RGBImage {
  precondition(t.rank == 2, "heatmapImage needs a matrix, got \(t.shape)")
  let rows = t.shape[0], cols = t.shape[1]
  let lo = range?.lowerBound ?? t.storage.min() ?? 0, hi = range?.upperBound ?? t.storage.max() ?? 1
  var img = RGBImage(width: cols * cell, height: rows * cell)
  for r in 0..<rows {
    for c in 0..<cols {
      let color = colormap(hi > lo ? (t[r, c] - lo) / (hi - lo) : 0)
      for y in 0..<cell {
        for x in 0..<cell {
          let p = ((r * cell + y) * img.width + c * cell + x) * 3
          img.pixels[p] = color.0
          img.pixels[p + 1] = color.1
          img.pixels[p + 2] = color.2
        }
      }
    }
  }
  return img
}

/// Lays a heat map (gy, gx) with values in [0, 1] over `image`, bilinearly upsampled:
/// out = (1 − α·h)·image + α·h·colour(h), so cold regions show the photo and hot ones glow.
public func overlayHeatmap(_ image: RGBImage, heat: Tensor, alpha: Float = 0.75) -> RGBImage {
  precondition(heat.rank == 2, "heat map must be (rows, cols), got \(heat.shape)")
  let gy = heat.shape[0], gx = heat.shape[1]
  var out = image
  for y in 0..<image.height {
    let fy = max(0, min(Float(gy - 1), (Float(y) + 0.5) / Float(image.height) * Float(gy) - 0.5))
    let y0 = Int(fy), y1 = min(gy - 1, y0 + 1), wy = fy - Float(y0)
    for x in 0..<image.width {
      let fx = max(0, min(Float(gx - 1), (Float(x) + 0.5) / Float(image.width) * Float(gx) - 0.5))
      let x0 = Int(fx), x1 = min(gx - 1, x0 + 1), wx = fx - Float(x0)
      let h = (heat[y0, x0] * (1 - wx) + heat[y0, x1] * wx) * (1 - wy) + (heat[y1, x0] * (1 - wx) + heat[y1, x1] * wx) * wy
      let color = colormap(h)
      let a = alpha * max(0.25, h)
      let p = (y * image.width + x) * 3
      out.pixels[p] = UInt8(Float(image.pixels[p]) * (1 - a) + Float(color.0) * a)
      out.pixels[p + 1] = UInt8(Float(image.pixels[p + 1]) * (1 - a) + Float(color.1) * a)
      out.pixels[p + 2] = UInt8(Float(image.pixels[p + 2]) * (1 - a) + Float(color.2) * a)
    }
  }
  return out
}

/// Images side by side with a gap.
public func sideBySide(_ images: [RGBImage], gap: Int = 8, background: (UInt8, UInt8, UInt8) = (255, 255, 255)) -> RGBImage {
  let width = images.reduce(0) { $0 + $1.width } + gap * max(0, images.count - 1)
  let height = images.map(\.height).max() ?? 0
  var out = RGBImage(width: width, height: height, fill: background)
  var x = 0
  for image in images {
    out.paste(image, x: x, y: 0)
    x += image.width + gap
  }
  return out
}

extension RGBImage {
  /// Draws a rectangle outline `thickness` pixels wide.
  public mutating func drawRectangle(x: Int, y: Int, width w: Int, height h: Int, thickness: Int = 2,
                                     color: (UInt8, UInt8, UInt8) = (255, 40, 40)) {
    for yy in y..<(y + h) where yy >= 0 && yy < height {
      for xx in x..<(x + w) where xx >= 0 && xx < width {
        let edge = xx - x < thickness || x + w - 1 - xx < thickness || yy - y < thickness || y + h - 1 - yy < thickness
        if edge {
          self[x: xx, y: yy, channel: 0] = color.0
          self[x: xx, y: yy, channel: 1] = color.1
          self[x: xx, y: yy, channel: 2] = color.2
        }
      }
    }
  }
}

