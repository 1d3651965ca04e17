// Chapter 11 — OpenAI's CLIP, the model the seed's whole field builds on, in the same Swift: its BPE
// tokenizer step by step, the two towers block by block (the text one causal, pooled at the end of
// text), then zero-shot classification with ImageNet prompts and a photo search.
//
// Without --clip it runs ViT-B/32's shapes on deterministic (untrained) weights and says how to get
// real ones. Library: Sources/Shared/Text/CLIPTokenizer.swift, Sources/Shared/Models/OpenAICLIP.swift.
// Walkthrough: Walkthroughs/11-OpenAI-CLIP.md.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch11-openai-clip",
                                                  abstract: "Chapter 11: OpenAI's CLIP — BPE, the causal text tower, real checkpoints.")
  @Option(help: "A Hugging Face CLIP folder or an open_clip safetensors file (default: deterministic ViT-B/32 weights).") var clip: String?
  @Option(help: "The photo to classify (default: the sample photo).") var image: String?
  @Option(help: "A folder of JPEGs to search (default: the sample photo and four crops of it).") var photos: String?
  @Option(help: "The caption whose tokens are traced.") var caption = "A photo of Grace Hopper’s naval uniform & medals!"
  @Option(help: "The sentence to search the photos for.") var query = "a woman in a uniform"
  @Option(parsing: .unconditional, help: "How many ImageNet classes to score, 1–1000 (default: all 1,000 with --clip, 50 on deterministic weights).") var classes: Int?
  @Option(parsing: .unconditional, help: "Fine-tune the model this many seconds on generated shapes, zero-shot before and after (default 0: skipped).") var finetuneSeconds: Double = 0
  @Option(parsing: .unconditional, help: "The fine-tuning learning rate (default 1e-5, open_clip's; an untrained model needs far more, e.g. 5e-4).") var finetuneLr: Float = 1e-5
  @Flag(help: "Fine-tune with LiT: the image tower locked, only the text tower and logit_scale learn.") var lockedImage = false
  @Option(help: "Where the fine-tuning data and checkpoints go.") var out = "output/ch11-openai-clip"

  func validate() throws {
    if let classes, !(1...1000).contains(classes) {
      throw ValidationError("--classes must be between 1 and 1000 (ImageNet has 1,000 classes), got \(classes)")
    }
    if !(finetuneSeconds >= 0 && finetuneSeconds <= 1e7) { throw ValidationError("--finetune-seconds must be between 0 and 10000000, got \(finetuneSeconds)") }
    if !(finetuneLr > 0 && finetuneLr <= 10) { throw ValidationError("--finetune-lr must be a learning rate in (0, 10], got \(finetuneLr)") }
  }
}
let args = Options.parseOrExit()
let notebook = Notebook(title: "Chapter 11 · OpenAI's CLIP: BPE, a causal text tower, real checkpoints", steps: args.finetuneSeconds > 0 ? 8 : 7)

// MARK: 1. the tokenizer
let tokenizer: CLIPTokenizer = notebook.step("CLIP's tokenizer", "byte-level BPE, 49,408 tokens, 77 per caption") {
  do { return try CLIPTokenizer.bundled() } catch { fail("\(error)") }
}
let (cleaned, pieces) = tokenizer.trace(args.caption)
notebook.note("caption      \"\(args.caption)\"")
notebook.note("cleaned      \"\(cleaned)\"   (ftfy's fixes, HTML entities, whitespace, lower case)")
notebook.note("pre-tokens   " + pieces.map(\.piece).joined(separator: " | "))
if let longest = pieces.max(by: { $0.stages.count < $1.stages.count }) {
  notebook.note("BPE on \(longest.piece.debugDescription), lowest-ranked merge first:")
  for (i, stage) in longest.stages.enumerated() { notebook.note("  \(i == 0 ? "bytes " : "merge \(i)") " + stage.joined(separator: " · ")) }
}
let ids = tokenizer.encode(args.caption)
notebook.note("ids          " + ids.map(String.init).joined(separator: " ") + "   (\(ids.count) of 77; the rest are 0)")

// MARK: 2. the model
let embedder: OpenAICLIPEmbedder = notebook.step("the model", args.clip ?? "ViT-B/32 shapes, deterministic untrained weights") {
  do {
    if let path = args.clip { return try OpenAICLIPEmbedder(checkpoint: path) }
    return try OpenAICLIPEmbedder(model: OpenAICLIP(config: .b32), tokenizer: tokenizer)
  } catch { fail("\(error)") }
}
let model = embedder.model, config = model.config
let visionParameters = model.visionBlocks.reduce(0) { $0 + $1.attn.qkv.weight.count + $1.attn.proj.weight.count + $1.mlp.fc1.weight.count + $1.mlp.fc2.weight.count }
let textParameters = model.textBlocks.reduce(0) { $0 + $1.attn.qkv.weight.count + $1.attn.proj.weight.count + $1.mlp.fc1.weight.count + $1.mlp.fc2.weight.count }
notebook.note("\(model.parameterCount) parameters: vision \(config.visionLayers) blocks × \(config.visionWidth) wide (\(visionParameters) in their matrices), "
  + "text \(config.textLayers) causal blocks × \(config.textWidth) (\(textParameters)), shared space \(config.embedDim), \(config.activation)")
notebook.note(String(format: "logit scale exp(%.4f) = %.2f", embedder.logitScale, exp(embedder.logitScale)))
if args.clip == nil {
  notebook.note("""
    These weights are untrained, so the predictions below are noise. On a connected machine get OpenAI's:
        hf download openai/clip-vit-base-patch32 --local-dir clip-vit-base-patch32
    then run:  swift run -c release ch11-openai-clip --clip clip-vit-base-patch32
    (or save open_clip's model.state_dict() with safetensors and pass that file).
    """)
}

// MARK: 3. the image tower, block by block
let photoPath = args.image ?? BundledAssets.path(BundledAssets.samplePhoto) ?? "Assets/grace_hopper.jpg"
let photo: RGBImage
do { photo = try JPEG.decode(path: photoPath) } catch { fail("\(error)") }
let pixels = embedder.pixels(photo).reshaped([1, 3, config.imageSize, config.imageSize])
let photoName = args.image ?? "the sample photo"
let image = notebook.step("the image tower", "\(photoName): \(photo.width)×\(photo.height) → shorter side \(config.imageSize), centre crop, CLIP's mean/std") {
  model.encodeImage(pixels) { i, x, seconds in
    if i == 0 || i == config.visionLayers - 1 {
      notebook.note(String(format: "block %2d  (1, %d, %d)  %.0f ms", i, x.shape[1], x.shape[2], seconds * 1000))
    }
  }
}
notebook.note("conv \(config.patchSize)×\(config.patchSize) → \(config.numPatches) patches + the class token = \(config.visionTokens) tokens; "
  + "ln_post(class token) · proj → image feature (1, \(image.features.shape[1]))")

// MARK: 4. the text tower: causal, read at <|endoftext|>
let short = ["a dog"]
let shortIds = embedder.tokenizer.batch(short, contextLength: config.contextLength)  // the checkpoint's own vocabulary
let text = notebook.step("the text tower", "causal: token t attends to tokens 0…t; the feature is read at <|endoftext|>") {
  model.encodeTextForTraining(shortIds)  // the training forward keeps each block's attention
}
let probs = text.tower.blocks[0].attention.probs  // (1, H, L, L)
let l = probs.shape[2]
notebook.note("\(short[0].debugDescription) → " + embedder.tokenizer.pieces(Array(shortIds[0].prefix(l))).joined(separator: " ")
  + "  (the rows are cut after <|endoftext|>: later tokens cannot change it)")
notebook.note("block 0, head 0 attention — zeros above the diagonal:")
for i in 0..<l {
  notebook.note("  " + (0..<l).map { String(format: "%5.2f", probs[0, 0, i, $0]) }.joined(separator: " "))
}
notebook.note("end of text at position \(text.tower.pooledIndex[0]); text feature (1, \(text.output.features.shape[1]))")

// MARK: 5. zero-shot on the photo
let allClasses: [String]
do {
  guard let path = BundledAssets.path(BundledAssets.imagenetClasses) else { fail("imagenet-classes.txt not found") }
  allClasses = try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init)
} catch { fail("\(error)") }
let classCount = min(allClasses.count, args.classes ?? (args.clip == nil ? 50 : allClasses.count))
let classNames = Array(allClasses.prefix(classCount)) + (classCount < allClasses.count ? ["military uniform"] : [])
let templates = ["a photo of a {}."]
let classifier = notebook.step("zero-shot", "\(classNames.count) ImageNet classes × \(templates.count) prompt (`clip zero-shot --clip` ensembles OpenAI's 80)") {
  ZeroShotClassifier(classes: classNames, templates: templates, logitScale: embedder.logitScale) { embedder.embedTexts($0) }
}
let probabilities = classifier.classify(l2Normalize(image.features).unit).probabilities.storage
for hit in topK(probabilities, k: 5) {
  notebook.note(String(format: "%6.2f%%  %@", 100 * hit.score, classNames[hit.index] as NSString))
}

// MARK: 6. photo search
var gallery: [(name: String, image: RGBImage)] = []
if let folder = args.photos {
  guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { fail("--photos \(folder): not a folder I can read") }
  let paths = names.filter { $0.lowercased().hasSuffix(".jpg") || $0.lowercased().hasSuffix(".jpeg") }.sorted()
  let loaded = loadImages(paths.map { folder + "/" + $0 }, minShortSide: 2 * embedder.model.config.imageSize) { $0 }
  for (path, result) in zip(paths, loaded.results) {
    switch result {
    case .success(let image): gallery.append((path, image))
    case .failure(let error): notebook.note("skipped \(error)")
    }
  }
  for reduction in loaded.reductions { notebook.note("note: \(reduction)") }
  if gallery.isEmpty { fail("--photos \(folder): no JPEG there could be read") }
} else {
  let w = photo.width, h = photo.height
  gallery = [("the photo", photo),
             ("top half", photo.centerCropped(width: w, height: h / 2)),
             ("centre", photo.centerCropped(width: w / 2, height: h / 2)),
             ("mirrored", photo.flippedHorizontally()),
             ("tiny", photo.resized(width: 32, height: 32).resized(width: w, height: h))]
}
notebook.step("photo search", "\(gallery.count) photos ranked for \(args.query.debugDescription)") {
  let images = embedder.embedImages(gallery.map(\.image))
  let queryEmbedding = embedder.embedTexts([args.query])
  let scores = images.matmul(queryEmbedding, transposeOther: true).storage
  for hit in topK(scores, k: gallery.count) {
    notebook.note(String(format: "%+.4f  %@", hit.score, gallery[hit.index].name as NSString))
  }
}

// MARK: 7. fine-tuning: the chapter 08 loop on OpenAI's CLIP
// `clip train --clip` in a few lines: the same ContrastiveTrainer, its open_clip parameter groups
// (Sources/Shared/Training/OpenAICLIPTraining.swift), zero-shot on the shapes before and after.
if args.finetuneSeconds > 0 {
  notebook.step("fine-tuning", String(format: "%.0f s on generated shapes", args.finetuneSeconds)
    + (args.lockedImage ? " with the image tower locked (LiT)" : "") + String(format: ", lr %.0e", args.finetuneLr))
  let dataDir = args.out + "/data"
  var shapes = ShapesDatasetConfig()
  (shapes.images, shapes.testImages, shapes.unseenImages) = (2000, 300, 300)
  do {
    if try ShapesDataset.needsGenerating(shapes, in: dataDir, customised: false) { try ShapesDataset.generate(shapes, into: dataDir) }
  } catch { fail("\(error)") }
  var run = TrainingConfig.openAICLIPFineTune
  run.seconds = args.finetuneSeconds
  (run.optimizer.imageLearningRate, run.optimizer.textLearningRate, run.optimizer.headLearningRate) = (args.finetuneLr, args.finetuneLr, args.finetuneLr)
  run.optimizer.freezeImage = args.lockedImage
  run.maxValidationImages = 200
  do {
    let dataset = try CaptionDataset(csvPath: dataDir + "/captions.csv")
    let probe = try ZeroShotProbe(directory: dataDir, config: run, side: config.imageSize, limit: 200)
    func describe(_ scores: [String: ZeroShotEvaluation]) -> String {
      String(format: "test (seen colour–shape pairs) %.1f%%, unseen pairs %.1f%% of %d and %d images, %d classes (chance %.1f%%)",
             100 * (scores["test"]?.accuracy ?? 0), 100 * (scores["unseen"]?.accuracy ?? 0), scores["test"]?.truth.count ?? 0,
             scores["unseen"]?.truth.count ?? 0, probe.classes.count, 100 / Double(probe.classes.count))
    }
    notebook.note("zero-shot before: " + describe(probe.evaluate(model, tokenizer: embedder.tokenizer)))
    let trainer = try ContrastiveTrainer<OpenAICLIP>(config: run, dataset: dataset, tokenizer: embedder.tokenizer, outputDirectory: args.out + "/finetuned",
                                                     overwrite: true, initialModel: model)
    notebook.note("\(trainer.trainImages.count) training pairs, batches of \(run.batchSize); groups " + trainer.optimizer.groups.map(\.name).joined(separator: ", "))
    try trainer.run()
    notebook.note(String(format: "%d steps in %.0f s of training (%.2f s per step)", trainer.state.step, trainer.state.trainingSeconds,
                         trainer.stepSeconds / Double(max(trainer.stepsTimed, 1))))
    notebook.note("zero-shot after:  " + describe(probe.evaluate(trainer.model, tokenizer: embedder.tokenizer)))
    notebook.note("the fine-tuned model, in the form it was read: \(trainer.bestCheckpoint ?? trainer.lastCheckpoint ?? "none")")
  } catch { fail("\(error)") }
}

// MARK: 8. what to try
notebook.step("next", "the same model from the command line")
notebook.note("clip zero-shot --clip DIR --labels \"dog,cat,woman in uniform\" photo.jpg     (OpenAI's 80 prompts)")
notebook.note("clip embed-image --clip DIR --json photo.jpg · clip embed-text --clip DIR \"a dog\" · clip tokenize --clip DIR \"a dog\"")
notebook.note("clip train --clip DIR --data FLICKR --out tuned   (fine-tune: tuned/best is a Hugging Face folder again; --locked-image for LiT)")
if args.finetuneSeconds == 0 { notebook.note("ch11-openai-clip --finetune-seconds 120   (this chapter's fine-tuning section: zero-shot on shapes before and after)") }
notebook.finish(next: "Walkthroughs/11-OpenAI-CLIP.md")
