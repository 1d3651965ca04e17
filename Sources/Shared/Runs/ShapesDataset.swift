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
import Layers
import Models
import Text
import Image
import IO
import Foundation

public struct ShapesDatasetConfig: Sendable, Codable, Equatable {
  /// Where a one-shape image's shape may sit.
  public enum Placement: String, Sendable, Codable, CaseIterable {
    case centred  // within ±3% of the side of the centre: the first edition's easy set
    case anywhere  // fully inside the image, anywhere
  }
  public enum Background: String, Sendable, Codable, CaseIterable {
    case flat  // one grey-ish colour
    case noisy  // one grey-ish colour plus per-pixel noise
    case gradient  // a linear blend between two grey-ish colours, plus mild noise
  }
  public var images = 6000  // training + validation images (captions.csv)
  public var testImages = 1000  // one-shape images of seen pairs, never trained on (labels.csv split "test")
  public var unseenImages = 300  // images of the held-out pairs only (unseen.csv, split "unseen")
  public var size = 64  // pixels per side
  public var seed: UInt64 = 42
  public var placement: Placement = .anywhere
  /// A one-shape image's radius, as a fraction of the side: drawn uniformly from [min, max]. Captions
  /// call the upper half "large"/"big", the lower half "small"/"little". Two-shape images use 0.6×.
  /// The default keeps the smallest shape (14 px across at 64 px) near one 16-px patch: at [0.12, 0.3]
  /// many shapes fit inside one patch and even a supervised ViT of this size learns shape slowly
  /// (Walkthrough 08, "Tokens bigger than the thing"); that harder set is `--shapes radius=[0.12,0.3]`.
  public var radius: [Double] = [0.22, 0.38]
  public var background: Background = .noisy
  public var twoShapeFraction = 0.3  // images with two shapes, side by side or one above the other
  public var jpegQuality = 92
  public var colours = ["red", "green", "blue", "yellow", "purple", "orange", "pink", "cyan"]
  public var shapes = ["circle", "square", "triangle", "star"]
  /// Colour–shape combinations that never appear in captions.csv.
  public var heldOut: [[String]] = [["purple", "star"], ["green", "triangle"], ["orange", "circle"], ["cyan", "square"]]

  public init() {}

  /// The first edition's set: centred shapes (the same radius range as the default).
  public static var centred: ShapesDatasetConfig {
    var c = ShapesDatasetConfig()
    c.placement = .centred
    return c
  }

  public static let palette: [String: (Float, Float, Float)] = [
    "red": (220, 30, 35), "green": (30, 170, 50), "blue": (35, 70, 225), "yellow": (240, 215, 30),
    "purple": (140, 40, 180), "orange": (245, 130, 20), "pink": (245, 120, 185), "cyan": (40, 200, 215),
  ]
  public static let knownShapes = ["circle", "square", "triangle", "star", "cross"]

  func rgb(_ colour: String) -> (Float, Float, Float) { Self.palette[colour] ?? (0, 0, 0) }

  func isHeldOut(_ colour: String, _ shape: String) -> Bool { heldOut.contains([colour, shape]) }

  /// Zero-shot prompt templates in the dataset's own phrasing (as OpenAI wrote ImageNet-specific ones):
  /// a text tower trained from scratch on these captions has never seen "a photo of …".
  public static let zeroShotTemplates = ["a picture of a {}", "there is one {} here", "a {}"]

  /// Every colour × shape class name, "red circle" …
  public var classes: [String] { colours.flatMap { c in shapes.map { "\(c) \($0)" } } }

  /// Reads `dataset.json` from a generated folder (nil when the folder has none: not generated here).
  public static func read(directory: String) throws -> ShapesDatasetConfig? {
    let path = directory + "/dataset.json"
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    let config: ShapesDatasetConfig
    do { config = try JSONDecoder().decode(ShapesDatasetConfig.self, from: data) } catch {
      throw DataProblem(file: path, line: 0, message: describeJSONError(error))
    }
    try config.validate(source: path)
    return config
  }
}

extension ShapesDatasetConfig: CheckedConfiguration {
  public func check(_ c: inout ConfigurationCheck) {
    c.atLeast(images, "images", minimum: 0, maximum: 1 << 22)
    c.atLeast(testImages, "testImages", minimum: 0, maximum: 1 << 22)
    c.atLeast(unseenImages, "unseenImages", minimum: 0, maximum: 1 << 22)
    c.atLeast(size, "size", minimum: 8, maximum: 4096)
    // ≤ 0.4: a two-shape image draws at 0.6× that, which must fit in half the side.
    c.require(radius.count == 2 && radius[0] > 0.02 && radius[0] <= radius[1] && radius[1] <= 0.4, "radius",
              "must be [min, max] with 0.02 < min ≤ max ≤ 0.4, got \(radius)")
    c.require(unseenImages == 0 || !heldOut.isEmpty, "heldOut", "must name at least one pair when unseenImages is \(unseenImages)")
    c.within(twoShapeFraction, 0..<1.000001, "twoShapeFraction")
    c.atLeast(jpegQuality, "jpegQuality", maximum: 100)
    for colour in colours where Self.palette[colour] == nil {
      c.require(false, "colours", "'\(colour)' is not one of \(Self.palette.keys.sorted().joined(separator: ", "))")
    }
    for shape in shapes where !Self.knownShapes.contains(shape) {
      c.require(false, "shapes", "'\(shape)' is not one of \(Self.knownShapes.joined(separator: ", "))")
    }
    c.require(Set(colours).count == colours.count && Set(shapes).count == shapes.count, "colours", "names must not repeat")
    for pair in heldOut {
      c.require(pair.count == 2 && colours.contains(pair[0]) && shapes.contains(pair[1]), "heldOut",
                "each pair must be [colour, shape] from the lists, got \(pair)")
    }
    c.require(colours.count * shapes.count - Set(heldOut.map { $0.joined(separator: " ") }).count >= 2, "heldOut",
              "must leave at least two colour–shape pairs to train on")
  }
}

/// One shape in a generated image.
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
    for s in samples { labels += "\(s.file),\(s.label ?? ""),\(s.split.rawValue)\n" }
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

/// A caption for the mirrored image: "left" and "right" swap, as whole words (any letter case is kept
/// as written: "Left" becomes "Right"). Every other word is unchanged.
public func mirroredCaption(_ caption: String) -> String {
  var out = "", word = ""
  func flush() {
    switch word {
    case "left": out += "right"
    case "right": out += "left"
    case "Left": out += "Right"
    case "Right": out += "Left"
    case "LEFT": out += "RIGHT"
    case "RIGHT": out += "LEFT"
    default: out += word
    }
    word = ""
  }
  for ch in caption {
    if ch.isLetter { word.append(ch) } else {
      flush()
      out.append(ch)
    }
  }
  flush()
  return out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
public func csvField(_ s: String) -> String {
  if s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r") {
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }
  return s
}

extension ShapesDataset {
  /// labels.csv: (image, "colour shape" or "" for two-shape images, "seen" or "unseen").
  public static func readLabels(_ path: String) throws -> [(image: String, label: String, split: String)] {
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
      throw DataProblem(file: path, line: 0, message: "cannot read: \(error.localizedDescription)")
    }
    var rows: [(image: String, label: String, split: String)] = []
    for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().dropFirst() where !line.isEmpty {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      guard fields.count == 3 else { throw DataProblem(file: path, line: n + 1, message: "expected image,label,split") }
      rows.append((fields[0], fields[1], fields[2]))
    }
    return rows
  }
}
