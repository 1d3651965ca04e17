// `clip index` and `clip search`: a trained CLIP (a chapter 08 checkpoint) used on a real folder of photos.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

func loadEmbedder(_ checkpoint: String) -> Embedder {
  do { return try Embedder(checkpoint: checkpoint) } catch { failExplaining(error, checkpoint, .trainingCheckpoint) }
}

func loadOpenAICLIP(_ checkpoint: String, towers: OpenAICLIPTowers = .both) -> OpenAICLIPEmbedder {
  do { return try OpenAICLIPEmbedder(checkpoint: checkpoint, towers: towers) } catch {
    failExplaining(error, checkpoint, .huggingFaceCLIPFolder, .openCLIPWeights)
  }
}

/// The model a command was given, whichever family (`--model` a trained checkpoint, `--clip` OpenAI's CLIP).
/// OpenAI's CLIP is loaded with only the `towers` the command uses (a trained checkpoint is small: whole).
func loadJointEmbedder(model: String?, clip: String?, towers: OpenAICLIPTowers = .both) -> any JointEmbedder {
  if let clip { return loadOpenAICLIP(clip, towers: towers) }
  return loadEmbedder(model!)
}

/// Stops with `error`, and says what `path` is when it is not one of the `expected` kinds (a CLIP folder
/// given to --model is pointed at --clip).
func failExplaining(_ error: Error, _ path: String, _ expected: ModelFileKind...) -> Never {
  fail(explainingKind(error, path: path, expected: expected))
}

func warn(_ message: String) {
  FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// `path` with control characters (newline, tab, ESC …) written as escapes, for one line of text output.
func printablePath(_ path: String) -> String {
  guard path.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return path }
  return path.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined()
}

/// "warning: skipped PATH: reason", with the path once even when the reason starts with it.
func warnSkipped(_ path: String, _ reason: String) {
  warn(reason.hasPrefix(path) ? "skipped " + reason : "skipped \(path): \(reason)")
}

struct Index: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Embed every photo (JPEG, PNG, WebP) under a folder into a searchable index.",
    discussion: """
      Walks DIR recursively for .jpg/.jpeg/.png/.webp files (HEIC and camera RAW files are listed as skipped), embeds each with the checkpoint's image tower and \
      writes the index (a safetensors file: the embeddings plus the file list) atomically. Files that \
      cannot be decoded are skipped with a warning naming each (exit status 3). Running it again \
      re-embeds only new or changed files (by size and modification time) when the model is the same, \
      and drops deleted ones. One index can hold several folders: indexing another folder into the \
      same --out keeps the first folder's photos. The index so far is saved every --save-every seconds, \
      so an interrupted run resumes where it stopped. An existing --out that is not an index is never \
      replaced; an index made with another model that also holds other folders is replaced only with \
      --overwrite; a folder with no readable photo is an error and writes nothing.

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

  @Option(name: .long, parsing: .unconditional, help: "Save the index so far this often, in seconds (an interrupted run resumes from it).")
  var saveEvery: Double = 60

  @Flag(name: .long, help: "Replace an index made by another model even when it also holds other folders' photos.")
  var overwrite = false

  func validate() throws {
    guard (model == nil) != (clip == nil) else { throw ValidationError("give --model (a trained checkpoint) or --clip (OpenAI CLIP), one of them") }
    guard saveEvery >= 0 && saveEvery <= 1e9 else { throw ValidationError("--save-every must be a number of seconds ≥ 0, got \(saveEvery)") }
    if directory.isEmpty { throw ValidationError("the folder to index is an empty string") }
    if let out, out.isEmpty { throw ValidationError("--out is an empty string: give the index file's name") }
    if (model ?? clip ?? "x").isEmpty { throw ValidationError("--model/--clip is an empty string") }
  }

  func run() throws {
    let model = self.model ?? clip!
    // The output first: a folder that is not there, or a file we may not replace, is found before an
    // hour of embedding, not after it. Then the index is this process's until it is written. A link is
    // followed: the file it names is the index (and is what is locked).
    let (indexPath, lock) = claimIndexFile(out ?? (directory as NSString).appendingPathComponent(".clip-index.safetensors"))
    let folder = resolvedPath(directory)
    // The embedder is loaded before the folder is walked (a wrong model is found in a second, not after
    // a walk over a photo library) — unless the index was made by this very model file (same path, size
    // and date): then it is loaded only when a photo is new or changed, so a re-run over an unchanged
    // library of 10,000 photos costs a walk and a few stats, not a 600 MB model load.
    let kind = clip != nil ? ImageIndex.openAICLIPKind : ""
    let absolute = resolvedPath(model)
    var embedder: (any JointEmbedder)? = nil
    var previous: ImageIndex? = nil
    if FileManager.default.fileExists(atPath: indexPath) {
      // Only an index is ever replaced: anything else at --out is the user's and stays.
      do { previous = try ImageIndex.load(indexPath) } catch {
        fail("\(indexPath) already exists and is not a clip index, so it was left as it is (\(error)); choose another --out")
      }
    }
    let sameModel = previous.map { $0.model == absolute && $0.modelKind == kind && $0.modelStamp == ImageIndex.stamp(ofModel: absolute) } ?? false
    if !sameModel { embedder = loadJointEmbedder(model: self.model, clip: clip, towers: .image) }
    if let p = previous, !sameModel {
      let others = p.files.filter { !$0.path.hasPrefix(folder + "/") }
      let maker = p.model == absolute ? "an earlier version of that model" : p.model
      if !others.isEmpty && !overwrite {
        fail("\(indexPath) was made by \(maker) and also indexes \(others.count) photos outside \(directory) "
          + "(e.g. \(others[0].path)); this model cannot add to it. Choose another --out, or pass --overwrite to replace it "
          + "with \(directory)'s photos only")
      }
      warn("the existing index was made by \(maker): re-embedding everything" + (others.isEmpty ? "" : " (--overwrite: its \(others.count) photos outside \(directory) are dropped)"))
      previous = nil
    }
    // A folder that is gone, or holds no photo any more: its rows leave the index (the other folders' stay).
    var folderExists: ObjCBool = false
    if let p = previous, !FileManager.default.fileExists(atPath: folder, isDirectory: &folderExists) || !folderExists.boolValue
      || ((try? findPhotos(in: directory))?.paths.isEmpty ?? false)
    {
      let keep = p.files.indices.filter { !p.files[$0].path.hasPrefix(folder + "/") }
      if keep.count < p.files.count {
        guard !keep.isEmpty else {
          fail("\(directory) has no photos any more, and \(indexPath) holds only its \(p.files.count): delete the index file to drop it")
        }
        let width = p.embeddings.shape[1]
        var pruned = p
        pruned.files = keep.map { p.files[$0] }
        pruned.embeddings = Tensor(shape: [keep.count, width], storage: keep.flatMap { p.embeddings.storage[($0 * width)..<(($0 + 1) * width)] })
        do { try pruned.write(to: indexPath) } catch { fail("cannot write the index: \(error)") }
        print("dropped the \(p.files.count - keep.count) photos of \(directory), which has none any more; \(indexPath) keeps \(keep.count) of other folders")
        return
      }
    }
    let found: FoundImages
    do { found = try findPhotos(in: directory) } catch { fail("\(error)") }
    let paths = found.paths.filter { $0 != resolvedPath(indexPath) }  // an index named .jpg inside the folder is not a photo
    for s in found.skipped { warnSkipped(s.path, s.reason) }
    guard !paths.isEmpty else { fail("no readable .jpg, .jpeg, .png or .webp files under \(directory): nothing to index, no index written") }
    print("\(paths.count) photos under \(directory)")
    var options = ImageIndex.BuildOptions()
    options.folder = folder
    options.progress = { ProgressBar(total: $0, label: "embedding") }
    options.saveEvery = saveEvery
    options.save = { index in try index.write(to: indexPath) }
    let update: ImageIndex.Update
    do {
      let dimension = previous?.embeddings.shape[1] ?? embedder!.dimension
      update = try ImageIndex.build(paths: paths, model: absolute, kind: kind, dimension: dimension, previous: previous, options: options) { files, bar in
        if embedder == nil { embedder = loadJointEmbedder(model: self.model, clip: clip, towers: .image) }  // something to embed after all
        return embedder!.embedImageFiles(files, progress: bar)
      }
    } catch { fail("cannot save the index so far: \(error)") }
    let (index, report) = (update.index, update.report)
    for s in report.skipped { warnSkipped(s.path, s.reason) }
    for reduction in report.reductions { warn("\(reduction)") }
    let skipped = report.skipped.count + found.skipped.count
    guard index.files.count > report.otherFolders else {
      fail("none of the \(paths.count) photos under \(directory) could be read: no index written")
    }
    do { try index.write(to: indexPath) } catch { fail("cannot write the index: \(error)") }
    lock.release()
    print("indexed \(index.files.count - report.otherFolders) images (\(report.embedded) embedded, \(report.reused) unchanged), "
      + "\(skipped) skipped → \(indexPath)" + (report.otherFolders > 0 ? " (which also holds \(report.otherFolders) photos of other folders)" : ""))
    finish(skipped: skipped, total: paths.count + found.skipped.count)
  }
}

/// Checks that `path` can be written as an index — its folder exists and takes a new file there (the
/// temporary file is really made and removed, which also catches an immutable folder or a name too long
/// for it), and it is not a folder or a device — and claims it with a lock file beside it, `.NAME.lock`:
/// a second `clip index` into the same file is refused at once. A symbolic link is followed: the file it
/// names is the index. Returns that path and the lock; stops with a message otherwise.
func claimIndexFile(_ path: String) -> (path: String, lock: FileLock) {
  if path.hasSuffix("/") { fail("cannot write the index \(path): it names a folder (ends in /); give a file name") }
  let indexPath: String
  do { indexPath = try regularFileTarget(path) } catch { fail("cannot write the index: \(error)") }
  let parent = parentPath(indexPath)
  let folder = parent.isEmpty ? "." : parent
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
    fail("cannot write the index \(indexPath): \(folder) is not an existing folder (create it first, or choose another --out)")
  }
  let name = (indexPath as NSString).lastPathComponent
  guard name.utf8.count <= 230 else {
    fail("cannot write the index \(indexPath): its name is \(name.utf8.count) bytes; the temporary and lock files beside it need "
      + "\(255 - 230) more than that within the 255 a file name may have — choose a shorter name")
  }
  // Half-written indexes of runs killed mid-save (their process gone for a minute).
  for stale in staleTemporaryFiles(in: folder, of: [name]) { try? FileManager.default.removeItem(atPath: folder + "/" + stale) }
  let probe = temporaryName(for: indexPath)  // the very name the index is written under before its rename
  unlink(probe)
  let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644)
  guard fd >= 0 else {
    fail("cannot write the index \(indexPath): the folder \(folder) does not take new files (\(String(cString: strerror(errno))))")
  }
  close(fd)
  unlink(probe)
  do { return (indexPath, try FileLock(path: folder + "/." + name + ".lock", what: indexPath)) } catch {
    fail("\(error)")
  }
}

struct Search: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Find the images of an index that best match sentences and photos, added and subtracted.",
    discussion: """
      Embeds each term with the model that made the index — a sentence with its text tower, an image file \
      with its image tower and preprocessing — adds and subtracts the unit embeddings, normalises the sum, \
      and ranks the images by cosine similarity.

      Examples:
        clip search pictures.index "a red circle above a blue square" -k 5
        clip search pictures.index holiday/beach.jpg -k 10 --paths | xargs feh
        clip search pictures.index "a cat" + "a hat" - "a dog" --threshold 0.25
      """
  )

  @Argument(help: "An index written by clip index.")
  var index: String

  @Argument(parsing: .allUnrecognized, help: ArgumentHelp(
    "What to look for: sentences and image files, combined with + and -.",
    discussion: "Each term is a sentence, or an image file (one that exists): \"more like this photo\". "
      + "A term after - is subtracted, after + (or with no sign) added: the unit embeddings are summed and the sum "
      + "normalised, e.g.  clip search photos.index \"a cat\" + \"a hat\" - \"a dog\"  or  clip search photos.index me.jpg - \"indoors\".",
    valueName: "query"))
  var terms: [String] = []

  @Option(name: .long, help: "A term to subtract (repeatable), the same as - TERM.")
  var minus: [String] = []

  @Option(name: .short, parsing: .unconditional, help: "How many results.")
  var k: Int = 5

  @Option(name: .long, parsing: .unconditional, help: "Only results scoring at least this (a cosine, -1 to 1).")
  var threshold: Float?

  @Flag(name: .long, help: "Only the paths, one per line, nothing else (for xargs or an image viewer).")
  var paths = false

  @Option(name: .long, help: "Also write the results as one self-contained HTML page (thumbnails embedded, rank, score, path).")
  var sheet: String?

  @Option(name: .long, help: "The checkpoint (default: the one the index was made with).")
  var model: String?

  @Option(name: .long, help: "An OpenAI CLIP checkpoint instead (default: the one the index was made with).")
  var clip: String?

  @Flag(name: .long, help: "One JSON object per result: {\"rank\", \"file\", \"score\"}.")
  var json = false

  /// The terms with their signs: + and - apply to the term after them; --minus terms are subtracted.
  func signedTerms() throws -> [(sign: Float, term: String)] {
    var out: [(sign: Float, term: String)] = [], sign: Float? = nil
    for word in terms {
      if word == "+" || word == "-" {
        if sign != nil { throw ValidationError("two signs in a row before \"\(word)\": put a sentence or an image between them") }
        sign = word == "+" ? 1 : -1
        continue
      }
      if word.hasPrefix("--"), !FileManager.default.fileExists(atPath: word) { throw ValidationError("Unknown option '\(word)'") }
      if word.hasPrefix("-"), word.count > 1, !FileManager.default.fileExists(atPath: word) {
        throw ValidationError("unknown option '\(word)' (to subtract a term write - \"\(word.dropFirst())\" with a space, or --minus)")
      }
      out.append((sign ?? 1, word))
      sign = nil
    }
    if sign != nil { throw ValidationError("the query ends with a sign: say what to add or subtract after it") }
    out += minus.map { (-1, $0) }
    return out
  }

  func validate() throws {
    if k < 1 { throw ValidationError("-k must be at least 1, got \(k)") }
    if index.isEmpty { throw ValidationError("the index is an empty string: give the file clip index wrote") }
    let signed = try signedTerms()
    if signed.isEmpty { throw ValidationError("say what to look for: a sentence or an image file after the index") }
    if let blank = signed.first(where: { $0.term.allSatisfy(\.isWhitespace) }) {
      throw ValidationError(signed.count == 1 ? "the query is empty: say what to look for" : "one of the query's terms is empty (\"\(blank.term)\")")
    }
    if !signed.contains(where: { $0.sign > 0 }) { throw ValidationError("every term is subtracted: add at least one thing to look for") }
    if let threshold, !(threshold >= -1 && threshold <= 1) { throw ValidationError("--threshold is a cosine between -1 and 1, got \(threshold)") }
    if model != nil && clip != nil { throw ValidationError("give --model or --clip, not both") }
    if paths && json { throw ValidationError("give --paths or --json, not both") }
    if let sheet, sheet.isEmpty || sheet.hasSuffix("/") { throw ValidationError("--sheet needs a file name, e.g. results.html") }
  }

  /// Is this term an image file? true: one that exists; false: a sentence; nil: an error — a folder, or
  /// a term that only looks like a file name (photo.jpg) but does not exist (not a sentence about "photo.jpg").
  static func imageTerm(_ term: String) -> Bool? {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: term, isDirectory: &isDirectory) { return isDirectory.boolValue ? nil : true }
    let ext = (term as NSString).pathExtension.lowercased()
    let looksLikeFile = !term.contains(" ") && (photoExtensions.contains(ext) || ["heic", "heif", "gif", "bmp", "tif", "tiff"].contains(ext))
    return looksLikeFile ? nil : false
  }

  func run() throws {
    let loaded: ImageIndex
    do { loaded = try ImageIndex.load(index) } catch { failExplaining(error, index, .clipIndex) }
    guard !loaded.files.isEmpty else { fail("\(index) holds no images: nothing to search") }
    let override = model ?? clip
    if override == nil && loaded.modelStamp.isEmpty {
      warn("\(index) was made before indexes recorded their model's size and date: cannot tell whether \(loaded.model) changed since")
    } else if override == nil && loaded.modelStamp != ImageIndex.stamp(ofModel: loaded.model) {
      let flag = loaded.modelKind == ImageIndex.openAICLIPKind ? "--clip" : "--model"
      fail("\(loaded.model), the model that made \(index), has changed since (or is gone): "
        + "run clip index again, or pass \(flag) to search with another model of the same kind")
    }
    // The same kind of model as made the index, unless told otherwise (then say so: the widths may agree
    // while the spaces do not).
    let useCLIP = clip != nil || (model == nil && loaded.modelKind == ImageIndex.openAICLIPKind)
    let signed: [(sign: Float, term: String)]
    do { signed = try signedTerms() } catch { fail("\(error)") }
    // Each term is a sentence (false) or an image file (true), told before the model is loaded: a
    // misspelt file name is reported at once, not after a model load.
    let isImage: [Bool] = signed.map { (_, term) in
      if let kind = Self.imageTerm(term) { return kind }
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: term, isDirectory: &isDirectory), isDirectory.boolValue {
        fail("\(printablePath(term)) is a folder: a query is a sentence or one image file (to search that folder's photos, clip index it)")
      }
      fail("\(printablePath(term)): no such image file (a sentence is searched as text only when it is not a file name)")
    }
    // Sentences alone need only the text tower: OpenAI's ViT-B/32 then loads 40% of its weights.
    let towers: OpenAICLIPTowers = isImage.contains(true) ? .both : .text
    let embedder = useCLIP ? loadJointEmbedder(model: nil, clip: clip ?? loaded.model, towers: towers)
      : loadJointEmbedder(model: model ?? loaded.model, clip: nil)
    var sum = [Float](repeating: 0, count: embedder.dimension)
    for ((sign, term), image) in zip(signed, isImage) {
      let unit: Tensor
      if image {
        let decoded: RGBImage
        do { decoded = try JPEG.decode(path: term) } catch { fail("\(printablePath(term)): cannot be read as an image query: \(error)") }
        unit = embedder.embedImages([decoded])
      } else {
        unit = embedder.embedTexts([term])
      }
      for i in sum.indices { sum[i] += sign * unit.storage[i] }
    }
    let norm = sum.reduce(0) { $0 + $1 * $1 }.squareRoot()
    guard norm > 1e-6 else { fail("the query's terms cancel out (their sum is the zero vector): nothing to look for") }
    let queryEmbedding = Tensor(shape: [1, sum.count], storage: sum.map { $0 / norm })
    guard embedder.dimension == loaded.embeddings.shape[1] else {
      fail("the model embeds into \(embedder.dimension) dimensions, the index holds \(loaded.embeddings.shape[1])")
    }
    if let override, embedder.indexKind != loaded.modelKind || resolvedPath(override) != loaded.model {
      warn("searching \(index) (made by \(loaded.model)) with \(override): the scores mean something only if both embed into the same space")
    }
    // Photos deleted since they were indexed are passed over (and counted), not shown.
    var hits: [Ranked] = [], gone = 0
    for hit in loaded.search(queryEmbedding, k: loaded.files.count) {
      if hits.count == k { break }
      if let threshold, hit.score < threshold { break }  // ranked: every later one scores lower
      if FileManager.default.fileExists(atPath: loaded.files[hit.index].path) { hits.append(hit) } else { gone += 1 }
    }
    if gone > 0 { warn("\(gone) indexed photos scored higher but no longer exist: run clip index on their folder again to drop them") }
    if loaded.pending > 0 {
      warn("\(index) was saved by a clip index run that stopped with \(loaded.pending) photos still to embed: run it again to finish")
    }
    if hits.isEmpty, let threshold, gone == 0 {
      warn("no photo scores \(threshold) or more (the best: \(String(format: "%.4f", loaded.search(queryEmbedding, k: 1).first?.score ?? 0)))")
      return
    }
    guard !hits.isEmpty else { fail("none of the \(loaded.files.count) photos in \(index) exists any more: run clip index again") }
    if let sheet {
      do {
        try contactSheet(title: terms.joined(separator: " "), index: index, hits: hits.map { (loaded.files[$0.index].path, $0.score) }, to: sheet)
      } catch { fail("cannot write the contact sheet \(sheet): \(error)") }
      if !paths && !json { FileHandle.standardError.write(Data("contact sheet: \(sheet)\n".utf8)) }
    }
    for (rank, hit) in hits.enumerated() {
      let file = loaded.files[hit.index].path
      if paths {
        print(file)
      } else if json {
        print("{\"rank\":\(rank + 1),\"file\":\(jsonString(file)),\"score\":\(jsonNumber(hit.score))}")
      } else {
        // A name with a newline or an escape sequence must not break the line or drive the terminal.
        print(String(format: "%2d. %.4f  %@", rank + 1, hit.score, printablePath(file) as NSString))
      }
    }
  }
}

/// One self-contained HTML page of search results: each photo as a JPEG thumbnail (shorter side 200 px)
/// embedded as a data: URL, with its rank, score and path; no file outside the page is needed to view
/// it. Written atomically, and never over something that is not an earlier contact sheet.
func contactSheet(title: String, index: String, hits: [(path: String, score: Float)], to path: String) throws {
  if let existing = FileManager.default.contents(atPath: path), !existing.isEmpty,
     !(String(decoding: existing.prefix(200), as: UTF8.self).contains("<meta name=\"generator\" content=\"clip search --sheet\">")) {
    throw CocoaError(.fileWriteFileExists, userInfo: [NSLocalizedDescriptionKey: "\(path) exists and is not a contact sheet clip search wrote: choose another name"])
  }
  var cards: [String] = []
  for (rank, hit) in hits.enumerated() {
    var thumbnail = "<div class=\"missing\">cannot be read</div>"
    if let image = try? JPEG.decode(path: hit.path) {
      let small = min(image.width, image.height) > 200 ? image.resizedShorterSide(to: 200) : image
      if let bytes = try? JPEG.encode(small, quality: 85) {
        thumbnail = "<img src=\"data:image/jpeg;base64,\(Data(bytes).base64EncodedString())\" alt=\"\(escapeXML(hit.path))\">"
      }
    }
    cards.append("""
      <figure>\(thumbnail)<figcaption><b>\(rank + 1)</b> · \(String(format: "%.4f", hit.score))<br>\
      <a href="\(escapeXML(URL(fileURLWithPath: hit.path).absoluteString))">\(escapeXML(hit.path))</a></figcaption></figure>
      """)
  }
  let page = """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8"><meta name="generator" content="clip search --sheet">
    <title>\(escapeXML(title))</title>
    <style>
    body { font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; }
    main { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 14px; }
    figure { margin: 0; background: white; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
    img { width: 100%; height: 200px; object-fit: contain; background: #eee; }
    figcaption { font-size: 12px; word-break: break-all; margin-top: 6px; }
    .missing { height: 200px; display: flex; align-items: center; justify-content: center; color: #a00; background: #eee; }
    </style></head><body>
    <h1>\(escapeXML(title))</h1>
    <p>\(hits.count) result\(hits.count == 1 ? "" : "s") from \(escapeXML(index))</p>
    <main>
    \(cards.joined(separator: "\n"))
    </main></body></html>

    """
  let temporary = path + ".tmp-\(getpid())"
  try Data(page.utf8).write(to: URL(fileURLWithPath: temporary))
  guard rename(temporary, path) == 0 else {
    let reason = String(cString: strerror(errno))
    try? FileManager.default.removeItem(atPath: temporary)
    throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: reason])
  }
}
