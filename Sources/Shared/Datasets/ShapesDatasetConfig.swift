// The shapes dataset's configuration: what chapter 08 generates (placement, sizes, backgrounds, two-shape
// images, held-out pairs, split sizes), validated at the door, and read back from a folder's dataset.json
// so later chapters see the classes of the data they get.

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
  public var unseenImages = 1000  // images of the held-out pairs only (unseen.csv, split "unseen"): ±3 points at 95%
  public var size = 64  // pixels per side
  public var seed: UInt64 = 42
  public var placement: Placement = .anywhere
  /// A one-shape image's radius, as a fraction of the side: drawn uniformly from [min, max]. Captions
  /// call the upper half "large"/"big", the lower half "small"/"little". Two-shape images use 0.6×.
  /// The default keeps a one-shape image's smallest shape 28 px across at 64 px (radius 14 px), wider than
  /// one 16-px patch: at [0.12, 0.3] (15 px across) many shapes fit inside one patch and even a supervised
  /// ViT of this size learns shape slowly
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
    c.atLeast(images, "images", minimum: 4, maximum: 1 << 22)  // two to train on, one to validate, at the least
    c.atLeast(testImages, "testImages", minimum: 0, maximum: 1 << 22)
    c.atLeast(unseenImages, "unseenImages", minimum: 0, maximum: 1 << 22)
    c.atLeast(size, "size", minimum: 8, maximum: 4096)
    // ≤ 0.4: a two-shape image draws at 0.6× that, which must fit in half the side.
    c.require(radius.count == 2 && radius[0] > 0.02 && radius[0] <= radius[1] && radius[1] <= 0.4, "radius",
              "must be [min, max] with 0.02 < min ≤ max ≤ 0.4, got \(radius)")
    c.require(unseenImages == 0 || !heldOut.isEmpty, "heldOut", "must name at least one pair when unseenImages is \(unseenImages)")
    c.within(twoShapeFraction, 0..<1.000001, "twoShapeFraction")
    c.atLeast(jpegQuality, "jpegQuality", maximum: 100)
    c.require(!colours.isEmpty && !shapes.isEmpty, colours.isEmpty ? "colours" : "shapes",
              "must name at least one (colours: \(Self.palette.keys.sorted().joined(separator: ", ")); shapes: \(Self.knownShapes.joined(separator: ", ")))")
    for colour in colours where Self.palette[colour] == nil {
      c.require(false, "colours", "'\(colour)' is not one of \(Self.palette.keys.sorted().joined(separator: ", "))")
    }
    for shape in shapes where !Self.knownShapes.contains(shape) {
      c.require(false, "shapes", "'\(shape)' is not one of \(Self.knownShapes.joined(separator: ", "))")
    }
    c.require(Set(colours).count == colours.count && Set(shapes).count == shapes.count, "colours", "names must not repeat")
    let strays = heldOut.filter { !($0.count == 2 && colours.contains($0[0]) && shapes.contains($0[1])) }
    c.require(strays.isEmpty || colours.isEmpty || shapes.isEmpty, "heldOut",
              "names pairs that are not [colour, shape] from the lists: \(strays.map { $0.joined(separator: " ") }.joined(separator: ", ")) "
                + "(changing colours or shapes? set heldOut too, e.g. heldOut=[])")
    let heldOutPairs = Set(heldOut.filter { !strays.contains($0) }.map { $0.joined(separator: " ") })
    c.require(colours.count * shapes.count - heldOutPairs.count >= 2, "heldOut",
              "must leave at least two colour–shape pairs to train on")
  }
}

/// One shape in a generated image.

extension ShapesDataset {
  /// Whether `directory` still needs the shapes asked for generated into it (no captions.csv yet). An
  /// existing dataset is used as it is, unless the caller `customised` the settings: then one made with
  /// other settings, or a captions.csv that no dataset.json describes, is refused. Nothing is overwritten.
  public static func needsGenerating(_ config: ShapesDatasetConfig, in directory: String, customised: Bool) throws -> Bool {
    let csvPath = directory + "/captions.csv"
    if !FileManager.default.fileExists(atPath: csvPath) { return true }
    guard customised else { return false }
    let existing = try ShapesDatasetConfig.read(directory: directory)
    if let existing, existing != config {
      throw DataProblem(file: directory + "/dataset.json", line: 0, message: "this folder holds a shapes dataset made with other settings "
        + "(placement \(existing.placement.rawValue), background \(existing.background.rawValue), \(existing.images) images); "
        + "choose another output folder, or remove \(directory) to make the one asked for")
    }
    if existing == nil {
      throw DataProblem(file: csvPath, line: 0, message: "exists and was not generated by this version (no dataset.json): "
        + "shapes settings cannot apply to it")
    }
    return false
  }
}
