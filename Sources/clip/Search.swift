// `clip index`, `clip search`, `clip zero-shot`, `clip retrieve-eval`: a trained CLIP (a chapter 08
// checkpoint) used on real folders of photos.

import ArgumentParser
import Foundation
import Shared

func loadEmbedder(_ checkpoint: String) -> Embedder {
  do { return try Embedder(checkpoint: checkpoint) } catch { exitWithError("\(error)") }
}

func warn(_ message: String) {
  FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// "warning: skipped PATH: reason", with the path once even when the reason starts with it.
func warnSkipped(_ path: String, _ reason: String) {
  warn(reason.hasPrefix(path) ? "skipped " + reason : "skipped \(path): \(reason)")
}

struct Index: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Embed every JPEG under a folder into a searchable index.",
    discussion: """
      Walks DIR recursively for .jpg/.jpeg files, embeds each with the checkpoint's image tower and \
      writes the index (a safetensors file: the embeddings plus the file list) atomically. Files that \
      cannot be decoded are skipped with a warning naming each (exit status 3). Running it again \
      re-embeds only new or changed files (by size and modification time) when the model is the same. \
      An existing --out that is not an index is never replaced; a folder with no readable JPEG is an \
      error and writes nothing.

      Example:
        clip index ~/Pictures --model output/ch08-training/best.safetensors --out pictures.index
      """
  )

  @Argument(help: "The folder of photos.")
  var directory: String

  @Option(name: .long, help: "A checkpoint written by chapter 08 / clip train.")
  var model: String

  @Option(name: .long, help: "The index file to write (default: DIR/.clip-index.safetensors).")
  var out: String?

  func run() throws {
    let indexPath = out ?? (directory as NSString).appendingPathComponent(".clip-index.safetensors")
    var previous: ImageIndex? = nil
    if FileManager.default.fileExists(atPath: indexPath) {
      // Only an index is ever replaced: anything else at --out is the user's and stays.
      do { previous = try ImageIndex.load(indexPath) } catch {
        exitWithError("\(indexPath) already exists and is not a clip index, so it was left as it is (\(error)); "
          + "choose another --out")
      }
      let absolute = URL(fileURLWithPath: model).standardizedFileURL.path
      if let p = previous, p.model != absolute || p.modelStamp != ImageIndex.stamp(ofModel: absolute) {
        warn("the existing index was made by \(p.model == absolute ? "an earlier version of that checkpoint" : p.model): re-embedding everything")
        previous = nil
      }
    }
    let embedder = loadEmbedder(model)
    let paths: [String]
    do { paths = try findJPEGs(in: directory) } catch { exitWithError("\(error)") }
    guard !paths.isEmpty else { exitWithError("no .jpg or .jpeg files under \(directory): nothing to index, no index written") }
    print("\(paths.count) JPEG files under \(directory)")
    let (index, report) = ImageIndex.build(paths: paths, embedder: embedder, previous: previous,
                                           progress: ProgressBar(total: max(paths.count - (previous?.files.count ?? 0), 1), label: "embedding"))
    for s in report.skipped { warnSkipped(s.path, s.reason) }
    guard !index.files.isEmpty else {
      exitWithError("none of the \(paths.count) JPEG files under \(directory) could be read: no index written")
    }
    do { try index.write(to: indexPath) } catch { exitWithError("cannot write the index: \(error)") }
    print("indexed \(index.files.count) images (\(report.embedded) embedded, \(report.reused) unchanged), \(report.skipped.count) skipped → \(indexPath)")
    finish(skipped: report.skipped.count, total: paths.count)
  }
}

struct Search: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Find the images of an index that best match a sentence.",
    discussion: """
      Embeds the query with the text tower of the model that made the index and ranks the images by \
      cosine similarity.

      Example:
        clip search pictures.index "a red circle above a blue square" -k 5
      """
  )

  @Argument(help: "An index written by clip index.")
  var index: String

  @Argument(help: "The sentence to search for.")
  var query: String

  @Option(name: .short, parsing: .unconditional, help: "How many results.")
  var k: Int = 5

  @Option(name: .long, help: "The checkpoint (default: the one the index was made with).")
  var model: String?

  @Flag(name: .long, help: "One JSON object per result: {\"rank\", \"file\", \"score\"}.")
  var json = false

  func validate() throws {
    if k < 1 { throw ValidationError("-k must be at least 1, got \(k)") }
    if query.allSatisfy(\.isWhitespace) { throw ValidationError("the query is empty: say what to look for") }
  }

  func run() throws {
    let loaded: ImageIndex
    do { loaded = try ImageIndex.load(index) } catch { exitWithError("\(error)") }
    guard !loaded.files.isEmpty else { exitWithError("\(index) holds no images: nothing to search") }
    if model == nil && loaded.modelStamp.isEmpty {
      warn("\(index) was made before indexes recorded their model's size and date: cannot tell whether \(loaded.model) changed since")
    } else if model == nil && loaded.modelStamp != ImageIndex.stamp(ofModel: loaded.model) {
      exitWithError("\(loaded.model), the model that made \(index), has changed since (or is gone): "
        + "run clip index again, or pass --model to search with another checkpoint")
    }
    let embedder = loadEmbedder(model ?? loaded.model)
    guard embedder.dimension == loaded.embeddings.shape[1] else {
      exitWithError("the model embeds into \(embedder.dimension) dimensions, the index holds \(loaded.embeddings.shape[1])")
    }
    let hits = loaded.search(embedder.embedTexts([query]), k: k)
    for (rank, hit) in hits.enumerated() {
      let file = loaded.files[hit.index].path
      if json {
        print("{\"rank\":\(rank + 1),\"file\":\(jsonString(file)),\"score\":\(jsonNumber(hit.score))}")
      } else {
        print(String(format: "%2d. %.4f  %@", rank + 1, hit.score, file as NSString))
      }
    }
  }
}

struct ZeroShot: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zero-shot",
    abstract: "Classify images into labels the model was never trained on as classes.",
    discussion: """
      Each label is written into every template ("a photo of a {}." …), the template embeddings are \
      averaged (prompt ensembling) and each image goes to the most similar label.

      Example:
        clip zero-shot --model output/ch08-training/best.safetensors --labels "red circle,blue square" a.jpg b.jpg
      """
  )

  @Option(name: .long, help: "A checkpoint written by chapter 08 / clip train.")
  var model: String

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
  }

  var labelList: [String] { labels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

  func run() throws {
    var templateList = ZeroShotClassifier.defaultTemplates
    if let templates {
      guard let text = try? String(contentsOfFile: templates, encoding: .utf8) else { exitWithError("cannot read \(templates) as UTF-8 text") }
      templateList = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
      guard !templateList.isEmpty, templateList.allSatisfy({ $0.contains("{}") }) else {
        exitWithError("\(templates): every template needs a {} where the label goes")
      }
    }
    var seen = Set<String>()
    for label in labelList where !seen.insert(label).inserted {
      warn("the label '\(label)' is given more than once: its probability is split between the copies")
    }
    let embedder = loadEmbedder(model)
    let classifier = ZeroShotClassifier(classes: labelList, templates: templateList, logitScale: embedder.logitScale) { embedder.embedTexts($0) }
    var failed = 0
    for path in images {
      let image: RGBImage
      do { image = try JPEG.decode(path: path) } catch {
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
      validation split the model was trained with is used (--all for every image).

      Example:
        clip retrieve-eval --model output/ch08-training/best.safetensors --data output/ch08-training/data
      """
  )

  @Option(name: .long, help: "A checkpoint written by chapter 08 / clip train.")
  var model: String

  @Option(name: .long, help: "Folder with captions.csv and the images.")
  var data: String

  @Option(name: .long, help: "The captions file, if not DATA/captions.csv.")
  var csv: String?

  @Flag(name: .long, help: "Evaluate on every image, not only the validation split.")
  var all = false

  @Flag(name: .long, help: "Print the metrics as one JSON object.")
  var json = false

  func run() throws {
    let embedder = loadEmbedder(model)
    let dataset: CaptionDataset
    do { dataset = try CaptionDataset(csvPath: csv ?? data + "/captions.csv") } catch { exitWithError("\(error)") }
    for p in dataset.problems { warn("skipped \(p)") }
    let images = all ? dataset.images
      : splitByImage(dataset.images, validationFraction: embedder.config.validationFraction, seed: embedder.config.seed).validation
    guard images.count >= 2 else { exitWithError("need at least 2 images, have \(images.count)") }
    let result = evaluateRetrieval(embedder: embedder, dataset: dataset, images: images,
                                   progress: json ? nil : ProgressBar(total: images.count, label: "embedding"))
    for s in result.skipped { warnSkipped(s.path, s.reason) }
    guard result.kept.count >= 2 else {
      exitWithError("only \(result.kept.count) of the \(images.count) images could be read: retrieval needs at least 2")
    }
    if json {
      func object(_ m: RetrievalMetrics) -> String {
        "{\"r1\":\(jsonNumber(m.recall[1]!)),\"r5\":\(jsonNumber(m.recall[5]!)),\"r10\":\(jsonNumber(m.recall[10]!)),"
          + "\"mean_rank\":\(jsonNumber(m.meanRank)),\"median_rank\":\(jsonNumber(m.medianRank)),\"queries\":\(m.queries)}"
      }
      print("{\"images\":\(result.kept.count),\"captions\":\(result.texts.count),\"image_to_text\":\(object(result.imageToText)),\"text_to_image\":\(object(result.textToImage))}")
    } else {
      print("\(result.kept.count) images × \(result.texts.count) captions (\(all ? "all" : "validation split"))")
      print("image → text: \(result.imageToText)")
      print("text → image: \(result.textToImage)")
    }
    finish(skipped: result.skipped.count + dataset.problems.count, total: images.count + dataset.problems.count)
  }
}
