// clip zero-shot and clip retrieve-eval: a trained checkpoint measured as chapter 09 measures it.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct ZeroShot: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zero-shot",
    abstract: "Classify images into labels the model was never trained on as classes.",
    discussion: """
      Each label is written into every template ("a photo of a {}." …), the template embeddings are \
      averaged (prompt ensembling) and each image goes to the most similar label. With --clip the model \
      is OpenAI's CLIP and the templates default to OpenAI's 80 ImageNet prompts.

      Examples:
        clip zero-shot --model output/ch08-training/best.safetensors --labels "red circle,blue square" a.jpg b.jpg
        clip zero-shot --clip clip-vit-base-patch32 --labels "dog,cat,woman in uniform" photo.jpg
      """
  )

  @Option(name: .long, help: "A checkpoint written by chapter 08 / clip train.")
  var model: String?

  @Option(name: .long, help: "OpenAI CLIP instead: a Hugging Face CLIP folder or an open_clip safetensors file (chapter 11).")
  var clip: String?

  @Option(name: .long, help: "Comma-separated class names.")
  var labels: String

  @Option(name: .long, help: "A file of templates, one per line, each with {} where the label goes.")
  var templates: String?

  @Option(name: .short, parsing: .unconditional, help: "How many classes to show per image.")
  var k: Int = 3

  @Flag(name: .long, help: "One JSON object per image: {\"image\", \"top\": [{\"label\", \"probability\"}]}.")
  var json = false

  @Argument(help: "JPEG images.")
  var images: [String]

  func validate() throws {
    if images.isEmpty { throw ValidationError("give at least one image") }
    if labelList.isEmpty { throw ValidationError("--labels needs at least one class name") }
    if k < 1 { throw ValidationError("-k must be at least 1, got \(k)") }
    guard (model == nil) != (clip == nil) else { throw ValidationError("give --model (a trained checkpoint) or --clip (OpenAI CLIP), one of them") }
  }

  var labelList: [String] { labels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

  func run() throws {
    let embedder = loadJointEmbedder(model: model, clip: clip)
    var templateList = embedder.defaultTemplates
    if let templates {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: templates, isDirectory: &isDirectory), !isDirectory.boolValue else {
        fail("\(templates): \(isDirectory.boolValue ? "is a folder" : "no such file"); --templates takes a text file, one template per line, "
          + "each with {} where the label goes (e.g. \"a photo of a {}.\")")
      }
      guard let text = try? String(contentsOfFile: templates, encoding: .utf8) else { fail("\(templates): cannot be read as UTF-8 text") }
      templateList = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
      guard !templateList.isEmpty else {
        fail("\(templates) holds no templates (it is empty): write one per line, each with {} where the label goes")
      }
      if let bad = templateList.first(where: { !$0.contains("{}") }) {
        fail("\(templates): every template needs a {} where the label goes; \(bad.debugDescription) has none")
      }
    }
    var seen = Set<String>()
    for label in labelList where !seen.insert(label).inserted {
      warn("the label '\(label)' is given more than once: its probability is split between the copies")
    }
    let classifier = ZeroShotClassifier(classes: labelList, templates: templateList, logitScale: embedder.logitScale,
                                        embedTexts: embedder.embedTexts)
    let imageSide = embedder.imageSide
    var failed = 0
    for path in images {
      let image: RGBImage
      do {
        let decoded = try JPEG.decode(path: path, reducedToShortSide: 2 * imageSide)
        if let reduction = decoded.reduction { warn("\(reduction)") }
        image = decoded.image
      } catch {
        warnSkipped(path, "\(error)")
        failed += 1
        continue
      }
      let probabilities = classifier.classify(embedder.embedImages([image])).probabilities.storage
      let top = topK(probabilities, k: min(k, labelList.count))
      if json {
        let items = top.map { "{\"label\":\(jsonString(labelList[$0.index])),\"probability\":\(jsonNumber($0.score))}" }.joined(separator: ",")
        print("{\"image\":\(jsonString(path)),\"top\":[\(items)]}")
      } else {
        print(path + ": " + top.map { String(format: "%@ %.1f%%", labelList[$0.index] as NSString, 100 * $0.score) }.joined(separator: ", "))
      }
    }
    finish(skipped: failed, total: images.count)
  }
}

struct RetrieveEval: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "retrieve-eval",
    abstract: "Image↔text retrieval metrics of a model on a Flickr-layout folder.",
    discussion: """
      Every image against every caption (five per image in Flickr8k/30k), grouped by image: \
      image→text and text→image R@1, R@5, R@10, mean and median rank. By default only the \
      validation split the model was trained with is used (--all for every image). OpenAI's CLIP \
      (--clip) was not trained with a split of this data: every image is used.

      Examples:
        clip retrieve-eval --model output/ch08-training/best.safetensors --data output/ch08-training/data
        clip retrieve-eval --clip clip-vit-base-patch32 --data Flickr8k
      """
  )

  @Option(name: .long, help: "A checkpoint written by chapter 08 / clip train.")
  var model: String?

  @Option(name: .long, help: "OpenAI CLIP instead: a Hugging Face CLIP folder or an open_clip safetensors file (chapter 11).")
  var clip: String?

  @Option(name: .long, help: "Folder with captions.csv and the images.")
  var data: String

  @Option(name: .long, help: "The captions file, if not DATA/captions.csv.")
  var csv: String?

  @Flag(name: .long, help: "Evaluate on every image, not only the validation split.")
  var all = false

  @Flag(name: .long, help: "Print the metrics as one JSON object.")
  var json = false

  func validate() throws {
    guard (model == nil) != (clip == nil) else { throw ValidationError("give --model (a trained checkpoint) or --clip (OpenAI CLIP), one of them") }
  }

  func run() throws {
    // Either model; the trained one knows the split it was validated on, OpenAI's sees every image.
    let embedder = loadJointEmbedder(model: model, clip: clip), split = embedder.validationSplit
    let dataset: CaptionDataset
    do { dataset = try CaptionDataset(csvPath: csv ?? data + "/captions.csv") } catch { fail("\(error)") }
    for p in dataset.problems { warn("skipped \(p)") }
    let useAll = all || split == nil
    let images = useAll ? dataset.images
      : splitByImage(dataset.images, validationFraction: split!.validationFraction, seed: split!.seed).validation
    guard images.count >= 2 else { fail("need at least 2 images, have \(images.count)") }
    let result = evaluateRetrieval(embedder: embedder, dataset: dataset, images: images,
                                   progress: json ? nil : ProgressBar(total: images.count, label: "embedding images"),
                                   captionProgress: json ? nil : { ProgressBar(total: $0, label: "embedding captions") })
    for s in result.skipped { warnSkipped(s.path, s.reason) }
    guard result.kept.count >= 2 else {
      fail("only \(result.kept.count) of the \(images.count) images could be read: retrieval needs at least 2")
    }
    if json {
      func object(_ m: RetrievalMetrics) -> String {
        "{\"r1\":\(jsonNumber(m.recall[1]!)),\"r5\":\(jsonNumber(m.recall[5]!)),\"r10\":\(jsonNumber(m.recall[10]!)),"
          + "\"mean_rank\":\(jsonNumber(m.meanRank)),\"median_rank\":\(jsonNumber(m.medianRank)),\"queries\":\(m.queries)}"
      }
      print("{\"images\":\(result.kept.count),\"captions\":\(result.captions.texts.count),\"image_to_text\":\(object(result.imageToText)),\"text_to_image\":\(object(result.textToImage))}")
    } else {
      print("\(result.kept.count) images × \(result.captions.texts.count) captions (\(useAll ? "all" : "validation split"))")
      print("image → text: \(result.imageToText)")
      print("text → image: \(result.textToImage)")
    }
    finish(skipped: result.skipped.count + dataset.problems.count, total: images.count + dataset.problems.count)
  }
}
