// `clip index` and `clip search`: a trained CLIP (a chapter 08 checkpoint) used on a real folder of photos.

import ArgumentParser
import Foundation
import Shared

func loadEmbedder(_ checkpoint: String) -> Embedder {
  do { return try Embedder(checkpoint: checkpoint) } catch { fail("\(error)") }
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

      Examples:
        clip index ~/Pictures --model output/ch08-training/best.safetensors --out pictures.index
        clip index ~/Pictures --clip clip-vit-base-patch32 --out pictures.index     (OpenAI's CLIP, chapter 11)
      """
  )

  @Argument(help: "The folder of photos.")
  var directory: String

  @Option(name: .long, help: "A checkpoint written by chapter 08 / clip train.")
  var model: String?

  @Option(name: .long, help: "OpenAI CLIP instead: a Hugging Face CLIP folder or an open_clip safetensors file (chapter 11).")
  var clip: String?

  @Option(name: .long, help: "The index file to write (default: DIR/.clip-index.safetensors).")
  var out: String?

  func validate() throws {
    guard (model == nil) != (clip == nil) else { throw ValidationError("give --model (a trained checkpoint) or --clip (OpenAI CLIP), one of them") }
  }

  func run() throws {
    let model = self.model ?? clip!
    let kind = clip == nil ? "" : ImageIndex.openAICLIPKind
    let indexPath = out ?? (directory as NSString).appendingPathComponent(".clip-index.safetensors")
    var previous: ImageIndex? = nil
    if FileManager.default.fileExists(atPath: indexPath) {
      // Only an index is ever replaced: anything else at --out is the user's and stays.
      do { previous = try ImageIndex.load(indexPath) } catch {
        fail("\(indexPath) already exists and is not a clip index, so it was left as it is (\(error)); "
          + "choose another --out")
      }
      let absolute = URL(fileURLWithPath: model).standardizedFileURL.path
      if let p = previous, p.model != absolute || p.modelKind != kind || p.modelStamp != ImageIndex.stamp(ofModel: absolute) {
        warn("the existing index was made by \(p.model == absolute ? "an earlier version of that checkpoint" : p.model): re-embedding everything")
        previous = nil
      }
    }
    let paths: [String]
    do { paths = try findJPEGs(in: directory) } catch { fail("\(error)") }
    guard !paths.isEmpty else { fail("no .jpg or .jpeg files under \(directory): nothing to index, no index written") }
    print("\(paths.count) JPEG files under \(directory)")
    let progress = ProgressBar(total: max(paths.count - (previous?.files.count ?? 0), 1), label: "embedding")
    let update: ImageIndex.Update
    if let clip {
      let embedder: OpenAICLIPEmbedder
      do { embedder = try OpenAICLIPEmbedder(checkpoint: clip) } catch { fail("\(error)") }
      update = ImageIndex.build(paths: paths, embedder: embedder, previous: previous, progress: progress)
    } else {
      update = ImageIndex.build(paths: paths, embedder: loadEmbedder(model), previous: previous, progress: progress)
    }
    let (index, report) = (update.index, update.report)
    for s in report.skipped { warnSkipped(s.path, s.reason) }
    guard !index.files.isEmpty else {
      fail("none of the \(paths.count) JPEG files under \(directory) could be read: no index written")
    }
    do { try index.write(to: indexPath) } catch { fail("cannot write the index: \(error)") }
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

  @Option(name: .long, help: "An OpenAI CLIP checkpoint instead (default: the one the index was made with).")
  var clip: String?

  @Flag(name: .long, help: "One JSON object per result: {\"rank\", \"file\", \"score\"}.")
  var json = false

  func validate() throws {
    if k < 1 { throw ValidationError("-k must be at least 1, got \(k)") }
    if query.allSatisfy(\.isWhitespace) { throw ValidationError("the query is empty: say what to look for") }
    if model != nil && clip != nil { throw ValidationError("give --model or --clip, not both") }
  }

  func run() throws {
    let loaded: ImageIndex
    do { loaded = try ImageIndex.load(index) } catch { fail("\(error)") }
    guard !loaded.files.isEmpty else { fail("\(index) holds no images: nothing to search") }
    let override = model ?? clip
    if override == nil && loaded.modelStamp.isEmpty {
      warn("\(index) was made before indexes recorded their model's size and date: cannot tell whether \(loaded.model) changed since")
    } else if override == nil && loaded.modelStamp != ImageIndex.stamp(ofModel: loaded.model) {
      fail("\(loaded.model), the model that made \(index), has changed since (or is gone): "
        + "run clip index again, or pass --model to search with another checkpoint")
    }
    // The same kind of model as made the index, unless told otherwise (then say so: the widths may agree
    // while the spaces do not).
    let useCLIP = clip != nil || (model == nil && loaded.modelKind == ImageIndex.openAICLIPKind)
    let dimension: Int, queryEmbedding: Tensor
    if useCLIP {
      let embedder: OpenAICLIPEmbedder
      do { embedder = try OpenAICLIPEmbedder(checkpoint: clip ?? loaded.model) } catch { fail("\(error)") }
      (dimension, queryEmbedding) = (embedder.dimension, embedder.embedTexts([query]))
    } else {
      let embedder = loadEmbedder(model ?? loaded.model)
      (dimension, queryEmbedding) = (embedder.dimension, embedder.embedTexts([query]))
    }
    guard dimension == loaded.embeddings.shape[1] else {
      fail("the model embeds into \(dimension) dimensions, the index holds \(loaded.embeddings.shape[1])")
    }
    if let override, (useCLIP ? ImageIndex.openAICLIPKind : "") != loaded.modelKind || URL(fileURLWithPath: override).standardizedFileURL.path != loaded.model {
      warn("searching \(index) (made by \(loaded.model)) with \(override): the scores mean something only if both embed into the same space")
    }
    let hits = loaded.search(queryEmbedding, k: k)
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
