// Charts a reader can read without the console: SVG files with a title, axes with ticks, axis labels and a
// legend or colour bar — text for free, sharp at any size, shown by browsers and on code hosts. Four kinds:
//
//   lineChart     loss curves, accuracy against time          x/y axes, one polyline per named series
//   heatmapChart  similarity and logit matrices, confusion     named rows and columns, values in small ones
//   barChart      zero-shot class probabilities               one labelled bar per value, the value at its end
//   imageGrid     search results                              photos with a caption under each
//
// Every element a reader needs to decode a chart carries a class (title, x-label, y-label, legend,
// colour-bar), so a test can hold every chart to naming its axes.

import TensorCore
import IO
import Image
import Foundation

/// An SVG document being drawn, in pixels from the top left.
public struct SVGDocument {
  public let width: Int
  public let height: Int
  var elements: [String] = []

  public init(width: Int, height: Int) {
    (self.width, self.height) = (width, height)
  }

  public var rendered: String {
    """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" \
    font-family="Helvetica, Arial, sans-serif" font-size="12">
    <rect width="\(width)" height="\(height)" fill="white"/>
    \(elements.joined(separator: "\n"))
    </svg>

    """
  }

  /// Writes the chart (atomically: a reader never sees half a file).
  public func write(to path: String) throws { try writeFileAtomically(Array(rendered.utf8), to: path) }

  mutating func text(_ s: String, x: Double, y: Double, anchor: String = "start", size: Double = 12, bold: Bool = false,
                     rotated: Bool = false, colour: String = "#222", role: String? = nil) {
    let transform = rotated ? " transform=\"rotate(-90 \(svgNumber(x)) \(svgNumber(y)))\"" : ""
    elements.append("<text\(role.map { " class=\"\($0)\"" } ?? "") x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" text-anchor=\"\(anchor)\" "
      + "font-size=\"\(svgNumber(size))\"\(bold ? " font-weight=\"bold\"" : "") fill=\"\(colour)\"\(transform)>\(escapeXML(s))</text>")
  }

  mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, colour: String, width: Double = 1, dashed: Bool = false) {
    elements.append("<line x1=\"\(svgNumber(x1))\" y1=\"\(svgNumber(y1))\" x2=\"\(svgNumber(x2))\" y2=\"\(svgNumber(y2))\" stroke=\"\(colour)\" stroke-width=\"\(svgNumber(width))\""
      + (dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>")
  }

  mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil) {
    elements.append("<rect x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" fill=\"\(fill)\""
      + (stroke.map { " stroke=\"\($0)\"" } ?? "") + "/>")
  }

  mutating func polyline(_ points: [(Double, Double)], colour: String, width: Double, dashed: Bool) {
    let list = points.map { "\(svgNumber($0.0)),\(svgNumber($0.1))" }.joined(separator: " ")
    elements.append("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(svgNumber(width))\" stroke-linejoin=\"round\""
      + (dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>")
  }

  mutating func circle(x: Double, y: Double, r: Double, fill: String) {
    elements.append("<circle cx=\"\(svgNumber(x))\" cy=\"\(svgNumber(y))\" r=\"\(svgNumber(r))\" fill=\"\(fill)\"/>")
  }

  /// A raster embedded as a data URI: a PNG drawn with square pixels (a matrix, exact), or a JPEG (a
  /// photo, a tenth of the bytes).
  mutating func image(_ image: RGBImage, x: Double, y: Double, width: Double, height: Double, photo: Bool = false) {
    let jpeg = photo ? try? JPEG.encode(image, quality: 90) : nil
    let data = Data(jpeg ?? PNG.encode(image)).base64EncodedString()
    elements.append("<image x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" preserveAspectRatio=\"none\" "
      + (jpeg == nil ? "style=\"image-rendering:pixelated\" href=\"data:image/png;base64," : "href=\"data:image/jpeg;base64,") + "\(data)\"/>")
  }
}

/// Two decimals at most, no trailing zeros: SVG coordinates.
func svgNumber(_ v: Double) -> String {
  let s = String(format: "%.2f", v)
  return s.contains(".") ? String(s.reversed().drop(while: { $0 == "0" }).drop(while: { $0 == "." }).reversed()) : s
}

/// Text made safe inside an XML element or attribute: the five markup characters escaped, and control
/// characters XML 1.0 forbids (from a file name or a query) replaced by U+FFFD.
/// Text made safe inside XML or HTML markup and double-quoted attributes (charts, clip search's contact sheet).
public func escapeXML(_ s: String) -> String {
  var out = ""
  for ch in s {
    if let scalar = ch.unicodeScalars.first, ch.unicodeScalars.count == 1, scalar.value < 0x20, ![9, 10, 13].contains(scalar.value) {
      out += "\u{FFFD}"
      continue
    }
    switch ch {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    default: out.append(ch)
    }
  }
  return out
}

/// "#rrggbb" of the colour map at `value` in [0, 1].
func hexColour(_ value: Float) -> String {
  let c = colormap(value)
  return String(format: "#%02x%02x%02x", c.0, c.1, c.2)
}

/// Tick values 1, 2 or 5 × 10^k apart, about `count` of them, from the first multiple at or below `lo` to the
/// first at or above `hi`.
public func niceTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
  guard lo.isFinite, hi.isFinite else { return [0, 1] }
  if hi <= lo { return niceTicks(lo - max(abs(lo) * 0.1, 0.5), lo + max(abs(lo) * 0.1, 0.5), count: count) }  // one value: a range around it
  let span = hi - lo
  guard span.isFinite else { return [lo, hi] }
  let raw = span / Double(max(count, 1)), magnitude = pow(10, floor(log10(raw)))
  let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
  let first = floor(lo / step + 1e-9) * step, last = ceil(hi / step - 1e-9) * step
  return stride(from: first, through: last + step / 2, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
}

/// A tick's text with as many decimals as its step needs.
func tickText(_ v: Double, step: Double) -> String {
  let decimals = max(0, min(6, Int(-floor(log10(step) + 1e-9))))
  return String(format: "%.\(decimals)f", v)
}

// MARK: - Line chart

/// One named line of a line chart.
public struct LineSeries {
  public var name: String
  public var points: [(x: Double, y: Double)]
  public var colour: String
  public var width: Double
  public var dashed: Bool
  /// A dot at every point (few points: one per epoch).
  public var markers: Bool

  public init(_ name: String, points: [(x: Double, y: Double)], colour: String, width: Double = 2, dashed: Bool = false, markers: Bool = false) {
    (self.name, self.points, self.colour, self.width, self.dashed, self.markers) = (name, points, colour, width, dashed, markers)
  }
}

/// Lines against shared x and y axes. Non-finite points are left out; the y axis starts at 0 when every
/// value is ≥ 0 and `yFromZero`.
public func lineChart(title: String, xLabel: String, yLabel: String, series: [LineSeries], yFromZero: Bool = true,
                      width: Int = 720, height: Int = 420) -> SVGDocument {
  var svg = SVGDocument(width: width, height: height)
  let series = series.map { s in
    var s = s
    s.points = s.points.filter { $0.x.isFinite && $0.y.isFinite }
    return s
  }
  let all = series.flatMap(\.points)
  let left = 70.0, right = Double(width) - 20, top = 70.0, bottom = Double(height) - 60
  svg.text(title, x: Double(width) / 2, y: 24, anchor: "middle", size: 15, bold: true, role: "title")
  svg.text(xLabel, x: (left + right) / 2, y: Double(height) - 16, anchor: "middle", size: 13, role: "x-label")
  svg.text(yLabel, x: 18, y: (top + bottom) / 2, anchor: "middle", size: 13, rotated: true, role: "y-label")
  let xs = all.map(\.x), ys = all.map(\.y)
  var (minY, maxY) = (ys.min() ?? 0, ys.max() ?? 1)
  if yFromZero && minY >= 0 { minY = 0 }
  let xTicks = niceTicks(xs.min() ?? 0, xs.max() ?? 1), yTicks = niceTicks(minY, maxY == minY ? minY + 1 : maxY)
  let (x0, x1, y0, y1) = (xTicks.first!, xTicks.last!, yTicks.first!, yTicks.last!)
  func px(_ x: Double) -> Double { left + (x - x0) / max(x1 - x0, 1e-12) * (right - left) }
  func py(_ y: Double) -> Double { bottom - (y - y0) / max(y1 - y0, 1e-12) * (bottom - top) }
  let xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1, yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
  for t in yTicks {
    svg.line(left, py(t), right, py(t), colour: "#e4e4e4")
    svg.text(tickText(t, step: yStep), x: left - 6, y: py(t) + 4, anchor: "end", colour: "#555")
  }
  for t in xTicks {
    svg.line(px(t), bottom, px(t), bottom + 5, colour: "#555")
    svg.text(tickText(t, step: xStep), x: px(t), y: bottom + 18, anchor: "middle", colour: "#555")
  }
  svg.line(left, top, left, bottom, colour: "#555")
  svg.line(left, bottom, right, bottom, colour: "#555")
  for s in series {
    let points = s.points.map { (px($0.x), py($0.y)) }
    if points.count > 1 { svg.polyline(points, colour: s.colour, width: s.width, dashed: s.dashed) }
    if s.markers || points.count == 1 { for p in points { svg.circle(x: p.0, y: p.1, r: s.width + 1.5, fill: s.colour) } }
  }
  // The legend: one row under the title, a swatch and a name per series, clear of the data.
  var x = left
  for s in series {
    svg.line(x, 46, x + 24, 46, colour: s.colour, width: max(s.width, 2), dashed: s.dashed)
    svg.text(s.name, x: x + 30, y: 50, role: "legend")
    x += 30 + Double(s.name.count) * 6.6 + 24
  }
  return svg
}

// MARK: - Heatmap

/// A matrix as coloured cells: `rowLabels` down the left, `columnLabels` along the bottom (rotated when
/// long), the value printed in each cell when `valueFormat` is given, and a colour bar naming the scale.
/// Matrices of more than 60 rows or columns are drawn as an embedded raster with numbered ticks instead.
public func heatmapChart(title: String, matrix m: Tensor, rowLabels: [String]? = nil, columnLabels: [String]? = nil,
                         xLabel: String, yLabel: String, colourLabel: String, range: ClosedRange<Float>? = nil,
                         valueFormat: String? = nil, cell: Double? = nil) -> SVGDocument {
  precondition(m.rank == 2, "heatmapChart needs a matrix, got \(m.shape)")
  if m.count == 0 {  // nothing to colour: the frame and the names, and why it is empty
    var svg = SVGDocument(width: 480, height: 160)
    svg.text(title, x: 240, y: 24, anchor: "middle", size: 15, bold: true, role: "title")
    svg.text("(no data: a \(m.shape[0]) × \(m.shape[1]) matrix)", x: 240, y: 80, anchor: "middle", colour: "#777")
    svg.text(xLabel, x: 240, y: 150, anchor: "middle", size: 13, role: "x-label")
    svg.text(yLabel, x: 16, y: 80, anchor: "middle", size: 13, rotated: true, role: "y-label")
    svg.text(colourLabel, x: 440, y: 80, anchor: "middle", size: 11, role: "colour-bar")
    return svg
  }
  let rows = m.shape[0], cols = m.shape[1]
  let finite = m.storage.filter(\.isFinite)
  let lo = range?.lowerBound ?? finite.min() ?? 0, hi = range?.upperBound ?? finite.max() ?? 1
  let raster = rows > 60 || cols > 60
  let size = cell ?? (raster ? max(1, 400 / Double(max(rows, cols))) : max(14, min(56, 480 / Double(max(rows, cols)))))
  let rowText = raster ? 30 : Double((rowLabels ?? []).map(\.count).max() ?? 2) * 6.5 + 10
  let colText = raster ? 20 : Double((columnLabels ?? []).map(\.count).max() ?? 2) * 6.5 + 10
  let rotateColumns = !raster && (columnLabels ?? []).contains { Double($0.count) * 6.2 > size }
  let left = 34 + rowText, top = 44.0
  let gridW = size * Double(cols), gridH = size * Double(rows)
  let bottomText = rotateColumns ? colText : 22
  let width = Int(left + gridW + max(110, 40 + Double(colourLabel.count) * 6.5)), height = Int(top + gridH + bottomText + 36)
  var svg = SVGDocument(width: width, height: height)
  svg.text(title, x: Double(width) / 2, y: 24, anchor: "middle", size: 15, bold: true, role: "title")
  svg.text(yLabel, x: 16, y: top + gridH / 2, anchor: "middle", size: 13, rotated: true, role: "y-label")
  svg.text(xLabel, x: left + gridW / 2, y: Double(height) - 10, anchor: "middle", size: 13, role: "x-label")
  func unit(_ v: Float) -> Float { hi > lo && v.isFinite ? (v - lo) / (hi - lo) : 0 }
  if raster {
    var image = RGBImage(width: cols, height: rows)
    for r in 0..<rows {
      for c in 0..<cols {
        let colour = colormap(unit(m[r, c]))
        (image[x: c, y: r, channel: 0], image[x: c, y: r, channel: 1], image[x: c, y: r, channel: 2]) = (colour.0, colour.1, colour.2)
      }
    }
    svg.image(image, x: left, y: top, width: gridW, height: gridH)
    let ticks = niceTicks(0, Double(max(rows, cols) - 1), count: 4).filter { $0 < Double(max(rows, cols)) }
    for t in ticks where Int(t) < rows { svg.text(String(Int(t)), x: left - 5, y: top + (t + 0.5) * size + 4, anchor: "end", colour: "#555") }
    for t in ticks where Int(t) < cols { svg.text(String(Int(t)), x: left + (t + 0.5) * size, y: top + gridH + 15, anchor: "middle", colour: "#555") }
  } else {
    for r in 0..<rows {
      for c in 0..<cols {
        let u = unit(m[r, c])
        svg.rect(x: left + Double(c) * size, y: top + Double(r) * size, width: size, height: size, fill: hexColour(u))
        if let valueFormat {
          svg.text(String(format: valueFormat, m[r, c]), x: left + (Double(c) + 0.5) * size, y: top + (Double(r) + 0.5) * size + 4,
                   anchor: "middle", size: min(12, size / 3.2), colour: u > 0.6 ? "#222" : "white")
        }
      }
      if let rowLabels, r < rowLabels.count {
        svg.text(rowLabels[r], x: left - 6, y: top + (Double(r) + 0.5) * size + 4, anchor: "end")
      }
    }
    for (c, label) in (columnLabels ?? []).prefix(cols).enumerated() {
      let x = left + (Double(c) + 0.5) * size
      if rotateColumns {
        svg.elements.append("<text x=\"\(svgNumber(x + 4))\" y=\"\(svgNumber(top + gridH + 8))\" text-anchor=\"end\" font-size=\"12\" fill=\"#222\" "
          + "transform=\"rotate(-60 \(svgNumber(x + 4)) \(svgNumber(top + gridH + 8)))\">\(escapeXML(label))</text>")
      } else {
        svg.text(label, x: x, y: top + gridH + 16, anchor: "middle")
      }
    }
  }
  // The colour bar: what a colour means.
  let barX = left + gridW + 24, barH = min(gridH, 240.0)
  for k in 0..<40 {
    svg.rect(x: barX, y: top + barH * Double(39 - k) / 40, width: 14, height: barH / 40 + 0.5, fill: hexColour(Float(k) / 39))
  }
  for (v, y) in [(hi, top + 4), ((lo + hi) / 2, top + barH / 2 + 4), (lo, top + barH)] {
    svg.text(String(format: "%.2g", v), x: barX + 19, y: y, role: "colour-bar")
  }
  svg.text(colourLabel, x: barX, y: top + barH + 18, size: 11, role: "colour-bar")
  return svg
}

// MARK: - Bar chart

/// Horizontal bars, one per value, labelled on the left and with the value (`valueFormat` of value × `valueScale`) at
/// the end; beside an optional picture of what is being scored.
public func barChart(title: String, labels: [String], values: [Float], xLabel: String, image: RGBImage? = nil, imageCaption: String = "",
                     valueFormat: String = "%.1f%%", valueScale: Float = 100, highlightFirst: Bool = true) -> SVGDocument {
  let imageSide = image == nil ? 0.0 : 128, barH = 22.0, gap = 8.0, plotW = 260.0
  let labelW = Double(labels.map(\.count).max() ?? 4) * 7 + 10
  let left = (image == nil ? 16 : imageSide + 32) + labelW, top = 44.0
  let values = values.map { $0.isFinite ? $0 : 0 }  // a NaN probability draws as no bar
  let maxValue = Double(max(values.max() ?? 1, 1e-9))
  let width = Int(left + plotW + 70)
  let height = Int(top + max(imageSide + 20, Double(values.count) * (barH + gap)) + 44)
  var svg = SVGDocument(width: width, height: height)
  svg.text(title, x: Double(width) / 2, y: 24, anchor: "middle", size: 15, bold: true, role: "title")
  if let image {
    svg.image(image, x: 16, y: top, width: imageSide, height: imageSide, photo: true)
    svg.text(imageCaption, x: 16 + imageSide / 2, y: top + imageSide + 16, anchor: "middle", size: 11)
  }
  for (i, v) in values.enumerated() {
    let y = top + Double(i) * (barH + gap)
    let w = plotW * Double(max(v, 0)) / maxValue
    svg.rect(x: left, y: y, width: plotW, height: barH, fill: "#eeeeee")
    svg.rect(x: left, y: y, width: w, height: barH, fill: highlightFirst && i == 0 ? "#d9531e" : "#2878d8")
    if i < labels.count { svg.text(labels[i], x: left - 6, y: y + barH / 2 + 4, anchor: "end", role: "y-label") }
    svg.text(String(format: valueFormat, v * valueScale), x: left + w + 5, y: y + barH / 2 + 4)
  }
  svg.text(xLabel, x: left + plotW / 2, y: Double(height) - 12, anchor: "middle", size: 13, role: "x-label")
  return svg
}

// MARK: - Image grid

/// Pictures in rows of `columns`, each with a caption line under it (search results and their scores).
public func imageGrid(title: String, images: [RGBImage], captions: [String], columns: Int = 4, side: Double = 128) -> SVGDocument {
  let columns = max(1, min(columns, images.count)), rows = (images.count + columns - 1) / columns
  let cellW = side + 16, cellH = side + 34, top = 44.0
  let width = Int(Double(columns) * cellW + 16), height = Int(top + Double(rows) * cellH + 8)
  var svg = SVGDocument(width: width, height: height)
  svg.text(title, x: Double(width) / 2, y: 24, anchor: "middle", size: 15, bold: true, role: "title")
  for (i, image) in images.enumerated() {
    let x = 16 + Double(i % columns) * cellW, y = top + Double(i / columns) * cellH
    svg.image(image, x: x, y: y, width: side, height: side, photo: true)
    if i < captions.count { svg.text(captions[i], x: x + side / 2, y: y + side + 16, anchor: "middle", size: 11, role: "caption") }
  }
  return svg
}
