// Chapter 08's dataset and loop pieces: captions stay true (also under a flip), placements and sizes
// obey their configuration, bad configurations are refused, the schedule's numbers, and the fast
// per-head attention held to its plain-loop definition.

import Foundation
import Kernels
import Shared
@testable import Datasets
import Testing

@Suite("Shapes dataset and the training loop's pieces")
struct ShapesDatasetTests {
  /// Samples straight from the generator (no files), `count` of them.
  func samples(_ config: ShapesDatasetConfig, count: Int, split: ShapesSample.Split = .seen) -> [ShapesSample] {
    var rng = SeededRNG(seed: 7)
    return (0..<count).map { ShapesDataset.makeSample(config, id: $0, split: split, rng: &rng) }
  }

  /// The image mirrored left–right: every centre moves to side − x.
  func mirrored(_ s: ShapeItem, side: Float) -> ShapeItem {
    var m = s
    m.centre.x = side - s.centre.x
    return m
  }

  /// Whether "a C S left of a C2 S2" / "right of" is true of these shapes.
  func relationHolds(_ caption: String, _ items: [ShapeItem]) -> Bool? {
    let words = caption.split(separator: " ").map(String.init)
    guard let at = words.firstIndex(where: { $0 == "left" || $0 == "right" }), at + 1 < words.count, words[at + 1] == "of",
          words.count == at + 5, at >= 3 else { return nil }
    // "a B to the right of a A" names its first shape two words earlier.
    let end = at >= 5 && words[at - 2] == "to" && words[at - 1] == "the" ? at - 2 : at
    let first = items.first { $0.colour == words[end - 2] && $0.shape == words[end - 1] }
    let second = items.first { $0.colour == words[at + 3] && $0.shape == words[at + 4] }
    guard let first, let second else { return false }
    return words[at] == "left" ? first.centre.x < second.centre.x : first.centre.x > second.centre.x
  }

  @Test("every caption names the image's colours and shapes; relations and positions are true, and stay true mirrored")
  func captionsStayTrue() {
    let config = ShapesDatasetConfig()
    let side = Float(config.size)
    var relations = 0, positions = 0
    for sample in samples(config, count: 600) {
      for caption in sample.captions {
        for item in sample.shapes { #expect(caption.contains("\(item.colour) \(item.shape)"), "\(caption) vs \(sample.shapes)") }
        if let holds = relationHolds(caption, sample.shapes) {
          relations += 1
          #expect(holds, "\(caption) at \(sample.shapes.map(\.centre))")
          let flipped = sample.shapes.map { mirrored($0, side: side) }
          #expect(relationHolds(mirroredCaption(caption), flipped) == true, "mirrored: \(mirroredCaption(caption))")
        }
      }
      if sample.shapes.count == 1 {
        let item = sample.shapes[0]
        #expect(sample.captions[3].hasSuffix(ShapesDataset.whereIs(item, side: side)))
        // Mirroring the picture moves "top left" to "top right": the caption rule and the geometry agree.
        #expect(ShapesDataset.whereIs(mirrored(item, side: side), side: side) == mirroredCaption(ShapesDataset.whereIs(item, side: side))
                  || abs(item.centre.x - side / 3) < 1e-3 || abs(item.centre.x - 2 * side / 3) < 1e-3)
        positions += 1
      }
    }
    #expect(relations > 50 && positions > 300, "the sample must exercise both kinds: \(relations) relations, \(positions) positions")
  }

  @Test("mirroredCaption swaps whole words only, in any case it knows")
  func mirrorWords() {
    #expect(mirroredCaption("a red circle left of a blue square") == "a red circle right of a blue square")
    #expect(mirroredCaption("Left, RIGHT; leftover bright right") == "Right, LEFT; leftover bright left")
    #expect(mirroredCaption("in the top left") == "in the top right")
    #expect(mirroredCaption("") == "")
    #expect(mirroredCaption("über left 🚀 right") == "über right 🚀 left")
  }

  @Test("placement and size obey the configuration; held-out pairs never appear in training samples")
  func placementAndSize() {
    var anywhere = ShapesDatasetConfig()
    anywhere.twoShapeFraction = 0
    let side = Float(anywhere.size)
    let items = samples(anywhere, count: 400).map { $0.shapes[0] }
    for s in items {
      #expect(s.centre.x - s.radius >= -1e-3 && s.centre.x + s.radius <= side + 1e-3 && s.centre.y - s.radius >= -1e-3 && s.centre.y + s.radius <= side + 1e-3)
      #expect(s.radius >= Float(anywhere.radius[0]) * side - 1e-3 && s.radius <= Float(anywhere.radius[1]) * side + 1e-3)
      #expect(!anywhere.heldOut.contains([s.colour, s.shape]))
    }
    // "anywhere" really spreads: centres reach every third of the image.
    #expect(Set(items.map { Int($0.centre.x / (side / 3)) }).count == 3 && Set(items.map { Int($0.centre.y / (side / 3)) }).count == 3)
    var centred = ShapesDatasetConfig.centred
    centred.twoShapeFraction = 0
    for s in samples(centred, count: 100).map({ $0.shapes[0] }) {
      #expect(abs(s.centre.x - side / 2) <= 0.031 * side && abs(s.centre.y - side / 2) <= 0.031 * side)
    }
    for s in samples(anywhere, count: 50, split: .unseen) { #expect(anywhere.heldOut.contains([s.shapes[0].colour, s.shapes[0].shape])) }
  }

  @Test("the backgrounds differ as named: flat has no noise, noisy has, gradient changes across the image")
  func backgrounds() {
    func spread(_ background: ShapesDatasetConfig.Background) -> (local: Float, across: Float) {
      var config = ShapesDatasetConfig()
      config.background = background
      var rng = SeededRNG(seed: 3)
      var sample = ShapesDataset.makeSample(config, id: 0, split: .test, rng: &rng)
      sample.shapes = []  // the background alone
      let image = ShapesDataset.render(sample, config: config, rng: &rng)
      var local: Float = 0, across: Float = 0
      for x in 1..<config.size { local = max(local, abs(Float(image[x: x, y: 5, channel: 0]) - Float(image[x: x - 1, y: 5, channel: 0]))) }
      for x in 0..<config.size {
        for y in [0, config.size - 1] { across = max(across, abs(Float(image[x: x, y: y, channel: 0]) - Float(image[x: config.size - 1 - x, y: config.size - 1 - y, channel: 0]))) }
      }
      return (local, across)
    }
    #expect(spread(.flat).local <= 1 && spread(.flat).across <= 1)
    #expect(spread(.noisy).local >= 10)
    #expect(spread(.gradient).across >= 20 && spread(.gradient).local <= 12)
  }

  @Test("bad dataset configurations are refused with the field named")
  func badConfigurations() {
    func message(_ change: (inout ShapesDatasetConfig) -> Void) -> String {
      var c = ShapesDatasetConfig()
      change(&c)
      do { try c.validate(source: "test") } catch { return "\(error)" }
      return ""
    }
    #expect(message { $0.colours.append("mauve") }.contains("colours"))
    #expect(message { $0.shapes = ["circle", "hexagon"] }.contains("hexagon"))
    #expect(message { $0.radius = [0.3, 0.1] }.contains("radius"))
    #expect(message { $0.radius = [0.1] }.contains("radius"))
    #expect(message { $0.heldOut = [["red", "kite"]] }.contains("heldOut"))
    #expect(message { $0.size = 0 }.contains("size"))
    #expect(message { $0.radius = [0.1, 0.45] }.contains("radius"))  // two-shape images would cross the halves
    #expect(message { $0.heldOut = [] }.contains("heldOut"))  // unseen images need a held-out pair
    #expect(message { _ in }.isEmpty)
  }

  @Test("generate writes dataset.json, the test and unseen splits, and reads back the same configuration")
  func generatedFolder() throws {
    var config = ShapesDatasetConfig()
    config.images = 12; config.testImages = 5; config.unseenImages = 3; config.size = 24
    let dir = temporaryDirectory()
    try ShapesDataset.generate(config, into: dir)
    #expect(try ShapesDatasetConfig.read(directory: dir) == config)
    let labels = try ShapesDataset.readLabels(dir + "/labels.csv")
    #expect(labels.filter { $0.split == "seen" }.count == 12 && labels.filter { $0.split == "test" }.count == 5
              && labels.filter { $0.split == "unseen" }.count == 3)
    #expect(labels.filter { $0.split != "seen" }.allSatisfy { !$0.label.isEmpty })
    #expect(try CaptionDataset(csvPath: dir + "/captions.csv").images.count == 12)
    #expect(try CaptionDataset(csvPath: dir + "/test.csv").images.count == 5)
    // What a run does with the folder: generate into an empty one; reuse this one as it is; refuse it when
    // asked for other settings; refuse a captions.csv no dataset.json describes when asked for settings.
    #expect(try ShapesDataset.needsGenerating(config, in: temporaryDirectory(), customised: true))
    #expect(try !ShapesDataset.needsGenerating(config, in: dir, customised: true))
    #expect(try !ShapesDataset.needsGenerating(ShapesDatasetConfig(), in: dir, customised: false))
    var other = config
    other.twoShapeFraction = 0
    expectError({ _ = try ShapesDataset.needsGenerating(other, in: dir, customised: true) }, contains: ["other settings", dir])
    let foreign = temporaryDirectory()
    try FileManager.default.copyItem(atPath: dir + "/captions.csv", toPath: foreign + "/captions.csv")
    #expect(try !ShapesDataset.needsGenerating(config, in: foreign, customised: false))
    expectError({ _ = try ShapesDataset.needsGenerating(config, in: foreign, customised: true) }, contains: ["no dataset.json"])
    #expect(FileManager.default.fileExists(atPath: foreign + "/captions.csv"))
    // labels.csv goes through the CSV parser: quoted fields, and a wrong header is an error.
    try Data("image,label,split\n\"a,b.jpg\",red circle,test\n".utf8).write(to: URL(fileURLWithPath: foreign + "/labels.csv"))
    #expect(try ShapesDataset.readLabels(foreign + "/labels.csv") == [ShapesLabel(image: "a,b.jpg", label: "red circle", split: "test")])
    try Data("file,label\nx.jpg,red\n".utf8).write(to: URL(fileURLWithPath: foreign + "/labels.csv"))
    expectError({ _ = try ShapesDataset.readLabels(foreign + "/labels.csv") }, contains: ["image,label,split"])
    try Data("{\"images\": 3}".utf8).write(to: URL(fileURLWithPath: dir + "/dataset.json"))
    #expect(throws: DataProblem.self) { _ = try ShapesDatasetConfig.read(directory: dir) }
  }

  @Test("a mirrored training image gets the mirrored caption (resizeAugment)")
  func flipSwapsCaption() {
    var image = RGBImage(width: 4, height: 4, fill: (0, 0, 0))
    image[x: 0, y: 0, channel: 0] = 255
    var mirroredSeen = false, plainSeen = false
    for seed in 0..<40 {
      var rng = SeededRNG(seed: UInt64(seed))
      let out = ImagePipeline.resizeAugment.pixels(image, side: 4, train: true, rng: &rng)
      // The red pixel is at column 0, or at column 3 when mirrored (channel 0, row 0).
      let left = out.pixels.storage[0], right = out.pixels.storage[3]
      #expect(out.mirrored ? right > left : left > right)
      if out.mirrored { mirroredSeen = true } else { plainSeen = true }
    }
    #expect(mirroredSeen && plainSeen)
    var rng = SeededRNG(seed: 1)
    #expect(!ImagePipeline.resizeAugment.pixels(image, side: 4, train: false, rng: &rng).mirrored)
  }

  @Test("warm-up then cosine: the multiplier's values at the ends and the middle")
  func cosineSchedule() throws {
    var config = microTrainingConfig()
    config.schedule = .cosine
    config.warmupSteps = 2
    config.epochs = 3
    let trainer = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: try .bundledUncased(),
                              outputDirectory: temporaryDirectory(), observer: CollectingObserver())
    let total = trainer.totalSteps  // 3 epochs × 4 steps
    #expect(total == 12)
    #expect(trainer.learningRateMultiplier(step: 0) == 0.5 && trainer.learningRateMultiplier(step: 1) == 1)
    #expect(abs(trainer.learningRateMultiplier(step: 2) - 1) < 1e-6)
    #expect(abs(trainer.learningRateMultiplier(step: 7) - 0.5) < 1e-6)  // halfway through the 10 decay steps
    #expect(trainer.learningRateMultiplier(step: 12) < 1e-6)
    var plateau = config
    plateau.schedule = .plateau
    let flat = try Trainer(config: plateau, dataset: microDataset.dataset, tokenizer: try .bundledUncased(),
                           outputDirectory: temporaryDirectory(), observer: CollectingObserver())
    #expect((0..<12).allSatisfy { flat.learningRateMultiplier(step: $0) == 1 })
  }

  @Test("extending a cosine run on resume warns that the learning rate rises again")
  func cosineResumeNotExtended() throws {
    var config = microTrainingConfig()
    config.schedule = .cosine
    config.epochs = 2
    let dir = temporaryDirectory()
    let first = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: try .bundledUncased(), outputDirectory: dir,
                            observer: CollectingObserver())
    try first.run(stopAfterSteps: 5)
    var longer = config
    longer.epochs = 3
    let observer = CollectingObserver()
    _ = try Trainer(config: longer, dataset: microDataset.dataset, tokenizer: try .bundledUncased(), outputDirectory: dir,
                    resume: dir + "/last.safetensors", observer: observer)
    #expect(observer.lines.contains { $0.contains("learning rate rises again") }, "\(observer.lines)")
    let same = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: try .bundledUncased(), outputDirectory: dir,
                           resume: dir + "/last.safetensors", observer: CollectingObserver())
    try same.run()
    #expect(same.state.epoch == 2)
  }

  @Test("--set changes one field by its path, and refuses unknown fields and bad values")
  func settingFields() throws {
    let tiny = TrainingConfig.tiny
    #expect(try tiny.setting("model.vit.depth=3").model.vit.depth == 3)
    #expect(try tiny.setting("schedule=plateau").schedule == .plateau)
    #expect(try tiny.setting("optimizer.headLearningRate=2e-4").optimizer.headLearningRate == 2e-4)
    for bad in ["model.vit.depht=3", "model.vit.depth=0", "schedule=sideways", "depth", "model.vit.depth.x=1", "=3",
                "schedule=null", "model.vit=null", "model..depth=3", "epochs=\"ten\""] {
      #expect(throws: (any Error).self, "\(bad)") { _ = try tiny.setting(bad) }
    }
    // Fields that must change together can, in either order: the result is checked once, at the end.
    for pair in [["model.vit.imageSize=60", "model.vit.patchSize=12"], ["model.vit.patchSize=12", "model.vit.imageSize=60"]] {
      let c = try tiny.setting(pair)
      #expect(c.model.vit.imageSize == 60 && c.model.vit.patchSize == 12)
    }
    #expect(throws: (any Error).self) { _ = try tiny.setting(["model.vit.imageSize=60"]) }
    // null unsets only the optional fields.
    #expect(try tiny.setting(["maxStepsPerEpoch=5", "maxStepsPerEpoch=null"]).maxStepsPerEpoch == nil)
    #expect(try tiny.setting("maxStepsPerEpoch=5").maxStepsPerEpoch == 5)
    // The same door for the generated data (chapter 08's --shapes).
    let shapes = try applyingAssignments(["twoShapeFraction=0", "radius=[0.2,0.35]"], to: ShapesDatasetConfig(), flag: "--shapes")
    #expect(shapes.twoShapeFraction == 0 && shapes.radius == [0.2, 0.35])
    for bad in ["radius=[0.3,0.2]", "colours=[\"mauve\"]", "twoShapeFractio=0", "images=null"] {
      #expect(throws: (any Error).self, "\(bad)") { _ = try applyingAssignments([bad], to: ShapesDatasetConfig(), flag: "--shapes") }
    }
  }
}
