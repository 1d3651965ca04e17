// The embedded captioned-image dataset: coloured shapes on flat, noisy or gradient backgrounds, five
// captions per image, written as JPEG files plus a captions CSV in the Flickr30k layout (image,
// caption_number,caption,id) — so the same loader reads the real Flickr8k/30k.
//
// What makes it a real question for a small CLIP: shapes sit anywhere and come in a range of sizes,
// one image in three holds two shapes whose captions say where they are ("a red circle left of a blue
// square"), and some colour–shape pairs never appear in training — only in `unseen.csv`, for zero-shot
// evaluation of combinations. A separate `test` split (one shape, seen pairs) is never trained on.
// `dataset.json` records the configuration, so later chapters read the classes of the data they get.
// Generation is seeded; the same seed gives the same files.

import TensorCore
import Image
import IO
import Foundation

public struct ShapeItem: Sendable, Equatable {
  public var colour: String
  public var shape: String
  public var large: Bool  // radius in the upper half of the range: captions say "large"/"big"
  public var centre: (x: Float, y: Float)  // pixels
  public var radius: Float  // pixels
  public static func == (a: ShapeItem, b: ShapeItem) -> Bool {
    a.colour == b.colour && a.shape == b.shape && a.large == b.large && a.centre == b.centre && a.radius == b.radius
  }
}

public struct ShapesSample: Sendable {
  public enum Split: String, Sendable { case seen, test, unseen }
  public var file: String  // image file name
  public var id: Int
  public var split: Split
  public var shapes: [ShapeItem]  // one, or two (the left or top one first)
  public var captions: [String]  // five
  public var tone: String  // the background's caption word: dark, gray or light
  /// "colour shape" for one-shape images (the zero-shot class), nil for two-shape images.
  public var label: String? { shapes.count == 1 ? "\(shapes[0].colour) \(shapes[0].shape)" : nil }
}

public enum ShapesDataset {
  /// Generates the dataset into `directory` (created if needed): images/*.jpg, captions.csv (train and
  /// validation), test.csv, unseen.csv, labels.csv (image, label, split) and dataset.json. Returns
  /// every sample in file order.
  @discardableResult
  public static func generate(_ config: ShapesDatasetConfig, into directory: String) throws -> [ShapesSample] {
    try config.validate(source: "the shapes dataset configuration")
    try ensureDirectory(directory + "/images")
    var rng = SeededRNG(seed: config.seed)
    var samples: [ShapesSample] = []
    let splits = Array(repeating: ShapesSample.Split.seen, count: config.images) + Array(repeating: .test, count: config.testImages)
      + Array(repeating: .unseen, count: config.unseenImages)
    for (i, split) in splits.enumerated() {
      let sample = makeSample(config, id: i, split: split, rng: &rng)
      try JPEG.write(render(sample, config: config, rng: &rng), to: directory + "/images/" + sample.file, quality: config.jpegQuality)
      samples.append(sample)
    }
    for (file, split) in [("captions.csv", ShapesSample.Split.seen), ("test.csv", .test), ("unseen.csv", .unseen)] {
      try writeFileAtomically(Array(captionsCSV(samples.filter { $0.split == split }).utf8), to: directory + "/" + file)
    }
    var labels = "image,label,split\n"
    for s in samples { labels += "\(csvField(s.file)),\(csvField(s.label ?? "")),\(s.split.rawValue)\n" }
    try writeFileAtomically(Array(labels.utf8), to: directory + "/labels.csv")
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeFileAtomically(Array(try encoder.encode(config)), to: directory + "/dataset.json")
    return samples
  }

  /// The Flickr30k layout: image,caption_number,caption,id.
  public static func captionsCSV(_ samples: [ShapesSample]) -> String {
    var out = "image,caption_number,caption,id\n"
    for s in samples {
      for (n, c) in s.captions.enumerated() { out += "\(s.file),\(n),\(csvField(c)),\(s.id)\n" }
    }
    return out
  }

  static func pick<T>(_ items: [T], _ rng: inout SeededRNG) -> T { items[Int(rng.next() % UInt64(items.count))] }

  static func makeSample(_ c: ShapesDatasetConfig, id: Int, split: ShapesSample.Split, rng: inout SeededRNG) -> ShapesSample {
    func combination() -> (String, String) {
      if split == .unseen {
        let pair = pick(c.heldOut, &rng)
        return (pair[0], pair[1])
      }
      while true {
        let colour = pick(c.colours, &rng), shape = pick(c.shapes, &rng)
        if !c.isHeldOut(colour, shape) { return (colour, shape) }
      }
    }
    let side = Float(c.size)
    let (low, high) = (c.radius[0], c.radius[1])
    /// A shape whose centre is drawn from x × y and whose whole extent stays inside the region
    /// regionX × regionY (all fractions of the side).
    func item(_ colour: String, _ shape: String, scale: Double, x: ClosedRange<Double>, y: ClosedRange<Double>,
              regionX: ClosedRange<Double> = 0...1, regionY: ClosedRange<Double> = 0...1) -> ShapeItem {
      let fraction = rng.uniform(low, high)
      let r = Float(fraction * scale) * side
      let cx = Float(rng.uniform(x.lowerBound, x.upperBound)) * side, cy = Float(rng.uniform(y.lowerBound, y.upperBound)) * side
      let inside = { (v: Float, region: ClosedRange<Double>) in min(max(v, Float(region.lowerBound) * side + r), Float(region.upperBound) * side - r) }
      return ShapeItem(colour: colour, shape: shape, large: fraction >= (low + high) / 2,
                       centre: (inside(cx, regionX), inside(cy, regionY)), radius: r)
    }
    var items: [ShapeItem] = []
    var sideBySide = true
    let two = split == .seen && rng.uniform(0, 1) < c.twoShapeFraction
    if two {
      var (c1, s1) = combination(), (c2, s2) = combination()
      while c1 == c2 && s1 == s2 { (c2, s2) = combination() }
      sideBySide = rng.uniform(0, 1) < 0.5
      // Each shape inside its own half (centred: near the middle of its half), so "left of" and "above" are true.
      let near = c.placement == .centred
      let first: ClosedRange<Double> = near ? 0.2...0.5 : 0...0.5, second: ClosedRange<Double> = near ? 0.5...0.8 : 0.5...1
      let across: ClosedRange<Double> = near ? 0.3...0.7 : 0...1
      // Each shape stays inside its own half.
      let half1: ClosedRange<Double> = 0...0.5, half2: ClosedRange<Double> = 0.5...1
      items.append(item(c1, s1, scale: 0.6, x: sideBySide ? first : across, y: sideBySide ? across : first,
                        regionX: sideBySide ? half1 : 0...1, regionY: sideBySide ? 0...1 : half1))
      items.append(item(c2, s2, scale: 0.6, x: sideBySide ? second : across, y: sideBySide ? across : second,
                        regionX: sideBySide ? half2 : 0...1, regionY: sideBySide ? 0...1 : half2))
    } else {
      let (colour, shape) = combination()
      let range: ClosedRange<Double> = c.placement == .centred ? 0.47...0.53 : 0...1
      items.append(item(colour, shape, scale: 1, x: range, y: range))
    }
    let tone = pick(["gray", "dark", "light"], &rng)
    return ShapesSample(file: String(format: "shape_%05d.jpg", id), id: id, split: split, shapes: items,
                        captions: captions(items, tone: tone, side: side, sideBySide: sideBySide, rng: &rng), tone: tone)
  }

  /// Where a shape sits, in words: "in the top left", "in the middle", "on the right" …
  static func whereIs(_ s: ShapeItem, side: Float) -> String {
    let column = s.centre.x < side / 3 ? "left" : s.centre.x > 2 * side / 3 ? "right" : nil
    let row = s.centre.y < side / 3 ? "top" : s.centre.y > 2 * side / 3 ? "bottom" : nil
    switch (row, column) {
    case let (row?, column?): return "in the \(row) \(column)"
    case let (row?, nil): return "at the \(row)"
    case let (nil, column?): return "on the \(column)"
    case (nil, nil): return "in the middle"
    }
  }

  /// Five captions. Every word that depends on left and right is "left" or "right", so a horizontal
  /// flip of the image keeps them true once those two words are swapped (`mirroredCaption`).
  static func captions(_ items: [ShapeItem], tone: String, side: Float, sideBySide: Bool = true, rng: inout SeededRNG) -> [String] {
    func size(_ s: ShapeItem) -> String { s.large ? pick(["large", "big"], &rng) : pick(["small", "little"], &rng) }
    if items.count == 1 {
      let s = items[0]
      return [
        "a \(size(s)) \(s.colour) \(s.shape)",
        "a \(s.colour) \(s.shape) on a \(tone) background",
        "a picture of a \(s.colour) \(s.shape)",
        "a \(s.colour) \(s.shape) \(whereIs(s, side: side))",
        "there is one \(s.colour) \(s.shape) here",
      ]
    }
    // The layout decides the relation: side by side, the first shape is in the left half; stacked, in the top half.
    let a = items[0], b = items[1]
    if !sideBySide {
      return [
        "a \(a.colour) \(a.shape) above a \(b.colour) \(b.shape)",
        "a \(b.colour) \(b.shape) below a \(a.colour) \(a.shape)",
        "a \(size(a)) \(a.colour) \(a.shape) and a \(size(b)) \(b.colour) \(b.shape)",
        "two shapes: a \(a.colour) \(a.shape) on top of a \(b.colour) \(b.shape)",
        "a \(b.colour) \(b.shape) under a \(a.colour) \(a.shape)",
      ]
    }
    return [
      "a \(a.colour) \(a.shape) left of a \(b.colour) \(b.shape)",
      "a \(b.colour) \(b.shape) right of a \(a.colour) \(a.shape)",
      "a \(size(a)) \(a.colour) \(a.shape) and a \(size(b)) \(b.colour) \(b.shape)",
      "two shapes: a \(a.colour) \(a.shape) on the left and a \(b.colour) \(b.shape) on the right",
      "a \(b.colour) \(b.shape) to the right of a \(a.colour) \(a.shape)",
    ]
  }

  // MARK: - Drawing

  /// Whether the point (px, py) relative to the centre, in units of the radius, is inside the shape.
  /// Every shape is symmetric about the vertical axis, so a mirrored image shows the same shape.
  static func inside(_ shape: String, _ px: Float, _ py: Float) -> Bool {
    switch shape {
    case "circle": return px * px + py * py <= 1
    case "square": return abs(px) <= 0.8 && abs(py) <= 0.8
    case "triangle":  // pointing up: apex (0, −1), base y = 0.6
      return py <= 0.6 && py >= -1 && abs(px) <= (py + 1) * 0.6
    case "cross": return (abs(px) <= 0.3 && abs(py) <= 1) || (abs(py) <= 0.3 && abs(px) <= 1)
    case "star": return insidePolygon(px, py, starPolygon)
    default: return false
    }
  }

  static let starPolygon: [(Float, Float)] = (0..<10).map { k in
    let angle = Float(k) * Float.pi / 5 - Float.pi / 2
    let r: Float = k % 2 == 0 ? 1 : 0.4
    return (r * cos(angle), r * sin(angle))
  }

  static func insidePolygon(_ x: Float, _ y: Float, _ polygon: [(Float, Float)]) -> Bool {
    var inside = false
    var j = polygon.count - 1
    for i in 0..<polygon.count {
      let (xi, yi) = polygon[i], (xj, yj) = polygon[j]
      if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi { inside.toggle() }
      j = i
    }
    return inside
  }

  /// The background (flat, noisy or gradient, in the sample's tone), then the shapes, anti-aliased by
  /// 4×4 supersampling.
  static func render(_ sample: ShapesSample, config: ShapesDatasetConfig, rng: inout SeededRNG) -> RGBImage {
    let n = config.size
    func toneLevel() -> Float {
      switch sample.tone {
      case "dark": return Float(rng.uniform(35, 70))
      case "light": return Float(rng.uniform(185, 225))
      default: return Float(rng.uniform(100, 150))
      }
    }
    let base = toneLevel()
    let tint = (Float(rng.uniform(-12, 12)), Float(rng.uniform(-12, 12)), Float(rng.uniform(-12, 12)))
    // gradient: ±35 levels across the image in a random direction
    let angle = Float(rng.uniform(0, 2 * Double.pi))
    let slope: (Float, Float) = config.background == .gradient ? (70 * cos(angle), 70 * sin(angle)) : (0, 0)
    let noiseAmplitude: Float = config.background == .noisy ? 18 : config.background == .gradient ? 5 : 0
    var image = RGBImage(width: n, height: n)
    for y in 0..<n {
      for x in 0..<n {
        let g = slope.0 * (Float(x) / Float(n) - 0.5) + slope.1 * (Float(y) / Float(n) - 0.5)
        var pixel = (base + tint.0 + g, base + tint.1 + g, base + tint.2 + g)
        for item in sample.shapes {
          var coverage: Float = 0
          for sy in 0..<4 {
            for sx in 0..<4 {
              let px = (Float(x) + (Float(sx) + 0.5) / 4 - item.centre.x) / item.radius
              let py = (Float(y) + (Float(sy) + 0.5) / 4 - item.centre.y) / item.radius
              if inside(item.shape, px, py) { coverage += 1 / 16 }
            }
          }
          if coverage > 0 {
            let c = config.rgb(item.colour)
            pixel = (pixel.0 + (c.0 - pixel.0) * coverage, pixel.1 + (c.1 - pixel.1) * coverage, pixel.2 + (c.2 - pixel.2) * coverage)
          }
        }
        let noise = noiseAmplitude > 0 ? Float(rng.uniform(Double(-noiseAmplitude), Double(noiseAmplitude))) : 0
        image[x: x, y: y, channel: 0] = UInt8(max(0, min(255, pixel.0 + noise)))
        image[x: x, y: y, channel: 1] = UInt8(max(0, min(255, pixel.1 + noise)))
        image[x: x, y: y, channel: 2] = UInt8(max(0, min(255, pixel.2 + noise)))
      }
    }
    return image
  }
}
