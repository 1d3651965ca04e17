// The embedded captioned-image dataset: coloured shapes on varied, noisy backgrounds, five captions per
// image, written as JPEG files plus a captions CSV in the Flickr30k layout (image,caption_number,
// caption,id) — so the same loader reads the real Flickr8k/30k. Some colour–shape combinations never
// appear in training: they are written to a separate `unseen` set for zero-shot evaluation.
// Generation is seeded; the same seed gives the same files.

import Foundation

public struct ShapesDatasetConfig: Sendable, Codable, Equatable {
  public var images = 3000  // training + validation images (captions.csv)
  public var unseenImages = 300  // images of the held-out combinations only (unseen.csv)
  public var size = 64  // pixels per side
  public var seed: UInt64 = 42
  public var twoShapeFraction = 0.3  // images with two shapes, one above the other
  /// How far a single shape's centre may move from the image centre, as a fraction of the side.
  /// Small: a little ViT trained from scratch has no translation invariance to speak of — it must
  /// learn every position separately, and five minutes of training do not cover many.
  public var jitter = 0.03
  public var jpegQuality = 92
  public var colours = ShapesDatasetConfig.defaultColours.map(\.name)
  public var shapes = ["circle", "square", "triangle", "star", "cross"]
  /// Colour–shape combinations that never appear in captions.csv.
  public var heldOut: [[String]] = [["purple", "star"], ["green", "triangle"], ["orange", "circle"], ["blue", "cross"]]

  public init() {}

  public static let defaultColours: [(name: String, rgb: (Float, Float, Float))] = [
    ("red", (220, 30, 35)), ("green", (30, 170, 50)), ("blue", (35, 70, 225)), ("yellow", (240, 215, 30)),
    ("purple", (140, 40, 180)), ("orange", (245, 130, 20)),
  ]

  func rgb(_ colour: String) -> (Float, Float, Float) {
    Self.defaultColours.first { $0.name == colour }?.rgb ?? (0, 0, 0)
  }

  func isHeldOut(_ colour: String, _ shape: String) -> Bool { heldOut.contains([colour, shape]) }

  /// Zero-shot prompt templates in the dataset's own phrasing (as OpenAI wrote ImageNet-specific ones):
  /// a text tower trained from scratch on these captions has never seen "a photo of …".
  public static let zeroShotTemplates = ["a picture of a {}", "there is one {} here", "a {}"]

  /// Every colour × shape class name, "red circle" …
  public var classes: [String] { colours.flatMap { c in shapes.map { "\(c) \($0)" } } }
}

/// One generated image's content.
public struct ShapeItem: Sendable, Equatable {
  public var colour: String
  public var shape: String
  public var large: Bool
  public var centre: (x: Float, y: Float)
  public var radius: Float
  public static func == (a: ShapeItem, b: ShapeItem) -> Bool {
    a.colour == b.colour && a.shape == b.shape && a.large == b.large && a.centre == b.centre && a.radius == b.radius
  }
}

public struct ShapesSample: Sendable {
  public var file: String  // image file name
  public var id: Int
  public var shapes: [ShapeItem]  // one, or two (top first)
  public var captions: [String]  // five
  public var background: String
  /// "colour shape" for one-shape images (the zero-shot class), nil for two-shape images.
  public var label: String? { shapes.count == 1 ? "\(shapes[0].colour) \(shapes[0].shape)" : nil }
}

public enum ShapesDataset {
  /// Generates the dataset into `directory` (created if needed): images/*.jpg, captions.csv,
  /// unseen.csv, labels.csv. Returns the training/validation samples and the unseen ones.
  @discardableResult
  public static func generate(_ config: ShapesDatasetConfig, into directory: String) throws -> (seen: [ShapesSample], unseen: [ShapesSample]) {
    try ensureDirectory(directory + "/images")
    var rng = SeededRNG(seed: config.seed)
    var seen: [ShapesSample] = [], unseen: [ShapesSample] = []
    for i in 0..<(config.images + config.unseenImages) {
      let held = i >= config.images
      let sample = makeSample(config, id: i, heldOut: held, rng: &rng)
      let image = render(sample, config: config, rng: &rng)
      try JPEG.write(image, to: directory + "/images/" + sample.file, quality: config.jpegQuality)
      if held { unseen.append(sample) } else { seen.append(sample) }
    }
    try writeFileAtomically(Array(captionsCSV(seen).utf8), to: directory + "/captions.csv")
    try writeFileAtomically(Array(captionsCSV(unseen).utf8), to: directory + "/unseen.csv")
    var labels = "image,label,split\n"
    for s in seen { labels += "\(s.file),\(s.label ?? ""),seen\n" }
    for s in unseen { labels += "\(s.file),\(s.label ?? ""),unseen\n" }
    try writeFileAtomically(Array(labels.utf8), to: directory + "/labels.csv")
    return (seen, unseen)
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

  static func makeSample(_ c: ShapesDatasetConfig, id: Int, heldOut: Bool, rng: inout SeededRNG) -> ShapesSample {
    func combination() -> (String, String) {
      if heldOut {
        let pair = pick(c.heldOut, &rng)
        return (pair[0], pair[1])
      }
      while true {
        let colour = pick(c.colours, &rng), shape = pick(c.shapes, &rng)
        if !c.isHeldOut(colour, shape) { return (colour, shape) }
      }
    }
    let size = Float(c.size)
    let two = !heldOut && rng.uniform(0, 1) < c.twoShapeFraction
    var items: [ShapeItem] = []
    if two {
      var (c1, s1) = combination(), (c2, s2) = combination()
      while c1 == c2 && s1 == s2 { (c2, s2) = combination() }
      for (k, (colour, shape)) in [(c1, s1), (c2, s2)].enumerated() {
        let large = rng.uniform(0, 1) < 0.5
        let radius = Float(large ? rng.uniform(0.17, 0.2) : rng.uniform(0.13, 0.16)) * size
        let x = Float(rng.uniform(0.4, 0.6)) * size
        let y = (k == 0 ? Float(rng.uniform(0.22, 0.3)) : Float(rng.uniform(0.7, 0.78))) * size
        items.append(ShapeItem(colour: colour, shape: shape, large: large, centre: (x, y), radius: radius))
      }
    } else {
      let (colour, shape) = combination()
      let large = rng.uniform(0, 1) < 0.5
      let radius = Float(large ? rng.uniform(0.32, 0.38) : rng.uniform(0.22, 0.26)) * size
      let x = Float(rng.uniform(0.5 - c.jitter, 0.5 + c.jitter)) * size
      let y = Float(rng.uniform(0.5 - c.jitter, 0.5 + c.jitter)) * size
      items.append(ShapeItem(colour: colour, shape: shape, large: large, centre: (x, y), radius: radius))
    }
    let background = pick(["gray", "dark", "light"], &rng)
    return ShapesSample(file: String(format: "shape_%05d.jpg", id), id: id, shapes: items, captions: captions(items, background: background, size: size, rng: &rng),
                        background: background)
  }

  static func captions(_ items: [ShapeItem], background: String, size side: Float, rng: inout SeededRNG) -> [String] {
    func size(_ s: ShapeItem) -> String { s.large ? pick(["large", "big"], &rng) : pick(["small", "little"], &rng) }
    if items.count == 1 {
      let s = items[0]
      return [
        "a \(size(s)) \(s.colour) \(s.shape)",
        "a \(s.colour) \(s.shape) on a \(background) background",
        "a picture of a \(s.colour) \(s.shape)",
        "a \(s.shape) colored \(s.colour)",
        "there is one \(s.colour) \(s.shape) here",
      ]
    }
    let a = items[0], b = items[1]
    return [
      "a \(a.colour) \(a.shape) above a \(b.colour) \(b.shape)",
      "a \(b.colour) \(b.shape) below a \(a.colour) \(a.shape)",
      "a \(size(a)) \(a.colour) \(a.shape) and a \(size(b)) \(b.colour) \(b.shape)",
      "two shapes: a \(a.colour) \(a.shape) on top of a \(b.colour) \(b.shape)",
      "a \(b.colour) \(b.shape) under a \(a.colour) \(a.shape)",
    ]
  }

  // MARK: - Drawing

  /// Whether the point (px, py) relative to the centre, in units of the radius, is inside the shape.
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

  /// Background gradient + noise, shapes anti-aliased by 4×4 supersampling.
  static func render(_ sample: ShapesSample, config: ShapesDatasetConfig, rng: inout SeededRNG) -> RGBImage {
    let n = config.size
    let base: Float = sample.background == "dark" ? Float(rng.uniform(35, 70)) : sample.background == "light" ? Float(rng.uniform(185, 225)) : Float(rng.uniform(100, 150))
    let tint = (Float(rng.uniform(-12, 12)), Float(rng.uniform(-12, 12)), Float(rng.uniform(-12, 12)))
    let gradient = (Float(rng.uniform(-25, 25)), Float(rng.uniform(-25, 25)))
    var image = RGBImage(width: n, height: n)
    for y in 0..<n {
      for x in 0..<n {
        let g = gradient.0 * (Float(x) / Float(n) - 0.5) + gradient.1 * (Float(y) / Float(n) - 0.5)
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
        let noise = Float(rng.uniform(-9, 9))
        image[x: x, y: y, channel: 0] = UInt8(max(0, min(255, pixel.0 + noise)))
        image[x: x, y: y, channel: 1] = UInt8(max(0, min(255, pixel.1 + noise)))
        image[x: x, y: y, channel: 2] = UInt8(max(0, min(255, pixel.2 + noise)))
      }
    }
    return image
  }
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
