// Line plots for the chapters' pictures (the loss curve): axes, light grid, one polyline per series.
// No text rendering — the chapter prints the numbers; the picture shows the shape.

import TensorCore
import IO
import Image
import CLIPAssets

public struct PlotSeries {
  public var points: [(x: Float, y: Float)]
  public var color: (UInt8, UInt8, UInt8)
  public var thickness: Int
  public init(points: [(x: Float, y: Float)], color: (UInt8, UInt8, UInt8), thickness: Int = 1) {
    self.points = points
    self.color = color
    self.thickness = thickness
  }
}

/// Draws the series in a width × height image; the y range covers every point (from 0 when all ≥ 0).
/// Non-finite points (a NaN loss, no validation set) are left out.
public func linePlot(_ series: [PlotSeries], width: Int = 640, height: Int = 360) -> RGBImage {
  var image = RGBImage(width: width, height: height, fill: (255, 255, 255))
  let series = series.map { s in
    PlotSeries(points: s.points.filter { $0.x.isFinite && $0.y.isFinite }, color: s.color, thickness: s.thickness)
  }
  let all = series.flatMap(\.points)
  guard let minX = all.map(\.x).min(), let maxX = all.map(\.x).max(), var maxY = all.map(\.y).max(), var minY = all.map(\.y).min()
  else { return image }
  if minY >= 0 { minY = 0 }
  if maxY <= minY { maxY = minY + 1 }
  let margin = 30
  let plotW = width - 2 * margin, plotH = height - 2 * margin
  func px(_ x: Float) -> Int { margin + Int((x - minX) / max(maxX - minX, 1e-9) * Float(plotW)) }
  func py(_ y: Float) -> Int { height - margin - Int((y - minY) / (maxY - minY) * Float(plotH)) }
  func dot(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8), _ r: Int) {
    for dy in -r...r { for dx in -r...r where x + dx >= 0 && x + dx < width && y + dy >= 0 && y + dy < height {
      image[x: x + dx, y: y + dy, channel: 0] = c.0
      image[x: x + dx, y: y + dy, channel: 1] = c.1
      image[x: x + dx, y: y + dy, channel: 2] = c.2
    } }
  }
  for k in 0...4 {  // horizontal grid lines at 0, ¼ … of the y range
    let y = margin + k * plotH / 4
    for x in margin...(width - margin) { dot(x, y, (225, 225, 225), 0) }
  }
  for y in margin...(height - margin) { dot(margin, y, (60, 60, 60), 0) }
  for x in margin...(width - margin) { dot(x, height - margin, (60, 60, 60), 0) }
  for s in series {
    for (a, b) in zip(s.points, s.points.dropFirst()) {
      let (x0, y0, x1, y1) = (px(a.x), py(a.y), px(b.x), py(b.y))
      let steps = max(abs(x1 - x0), abs(y1 - y0), 1)
      for i in 0...steps {
        dot(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps, s.color, s.thickness - 1)
      }
    }
    if s.points.count == 1 { dot(px(s.points[0].x), py(s.points[0].y), s.color, s.thickness + 1) }
  }
  return image
}
