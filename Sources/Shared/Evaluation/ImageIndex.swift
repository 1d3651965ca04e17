// A searchable index of a photo folder: one unit embedding per JPEG, in one safetensors file.
//
//   tensor    embeddings  (N, P)  float32, row r = files[r]
//   metadata  format_version, model (absolute path of the checkpoint that made it), model_stamp (its
//             size and mtime then: a checkpoint retrained in place is a different model), files (JSON:
//             absolute path, size, mtime)
//
// Written atomically (temporary file, fsync, rename), so an interrupted `clip index` leaves the
// previous index intact. Re-indexing reuses the rows of files whose size and mtime are unchanged.

import TensorCore
import Models
import Datasets
import Image
import IO
import Report
import Foundation

public struct IndexedFile: Sendable, Codable, Equatable {
  public var path: String
  public var size: Int
  public var modified: Double  // seconds since 1970
  public init(path: String, size: Int, modified: Double) {
    self.path = path
    self.size = size
    self.modified = modified
  }
}

public struct ImageIndex: Sendable {
  public static let formatVersion = "1"
  public var files: [IndexedFile]
  /// (N, P) unit rows.
  public var embeddings: Tensor
  public var model: String
  public var modelStamp: String  // "size:mtime" of the checkpoint when it made this index
  /// Which kind of model `model` is: "" for a checkpoint of chapter 08 / clip train, `openAICLIPKind`
  /// for OpenAI's CLIP (chapter 11). Search loads the same kind.
  public var modelKind: String = ""
  public static let openAICLIPKind = "openai-clip"
  /// Photos a run was still embedding when it saved this index (0 when the run finished): their rows are
  /// the earlier ones, or missing for new photos, until `clip index` runs again.
  public var pending = 0

  public init(files: [IndexedFile], embeddings: Tensor, model: String, modelStamp: String = "", modelKind: String = "") {
    precondition(embeddings.shape.count == 2 && embeddings.shape[0] == files.count, "one embedding row per file")
    self.files = files
    self.embeddings = embeddings
    self.model = model
    self.modelStamp = modelStamp
    self.modelKind = modelKind
  }

  /// "size:mtime" of a checkpoint file, so an index notices when its model was retrained in place.
  public static func stamp(ofModel path: String) -> String {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue {
      // A Hugging Face folder: its weights and its config (an edited activation or eps is another model).
      let parts = ["model.safetensors", "config.json"].map { name in fileStamp(path + "/" + name).map { "\($0.size):\($0.modified)" } ?? "-" }
      return parts.joined(separator: "+")
    }
    return fileStamp(path).map { "\($0.size):\($0.modified)" } ?? ""
  }

  public func write(to path: String) throws {
    // The loader refuses non-finite rows, so writing one would leave a file nothing can read or replace.
    if let bad = embeddings.storage.firstIndex(where: { !$0.isFinite }) {
      throw CheckpointError(path: path, reason: "not written: the embedding of \(files[bad / max(embeddings.shape[1], 1)].path) "
        + "holds \(embeddings.storage[bad]) (the model overflows on it)")
    }
    var writer = SafetensorsWriter(metadata: [
      "format_version": Self.formatVersion,
      "model": model,
      "model_stamp": modelStamp,
      "model_kind": modelKind,
      "pending": String(pending),
      "files": String(decoding: try JSONEncoder().encode(files), as: UTF8.self),
    ])
    writer.add("embeddings", embeddings)
    try writer.write(to: path)
  }

  public static func load(_ path: String) throws -> ImageIndex {
    let file = try SafetensorsFile(path: path)
    guard file.metadata["format_version"] == formatVersion, let filesText = file.metadata["files"] else {
      throw CheckpointError(path: path, reason: "not a clip index (no format_version \(formatVersion) / files in its metadata)")
    }
    let files: [IndexedFile]
    do { files = try JSONDecoder().decode([IndexedFile].self, from: Data(filesText.utf8)) } catch {
      throw CheckpointError(path: path, reason: "unreadable file list: \(describeJSONError(error))")
    }
    let embeddings = try naming(path) { try file.tensor("embeddings") }
    guard embeddings.shape.count == 2, embeddings.shape[0] == files.count, embeddings.shape[1] > 0 else {
      throw CheckpointError(path: path, reason: "embeddings \(embeddings.shape) do not match \(files.count) files")
    }
    if let bad = embeddings.storage.firstIndex(where: { !$0.isFinite }) {
      throw CheckpointError(path: path, reason: "embedding of \(files[bad / embeddings.shape[1]].path) holds \(embeddings.storage[bad])")
    }
    guard let model = file.metadata["model"], !model.isEmpty else {
      throw CheckpointError(path: path, reason: "does not say which model made it (no 'model' in its metadata)")
    }
    var index = ImageIndex(files: files, embeddings: embeddings, model: model, modelStamp: file.metadata["model_stamp"] ?? "",
                           modelKind: file.metadata["model_kind"] ?? "")
    index.pending = max(0, Int(file.metadata["pending"] ?? "0") ?? 0)
    return index
  }

  /// The best `k` files for a unit query embedding (P): (file index, cosine similarity), best first.
  public func search(_ query: Tensor, k: Int) -> [Ranked] {
    guard !files.isEmpty else { return [] }
    let scores = embeddings.matmul(query.reshaped([1, query.count]), transposeOther: true).storage
    return topK(scores, k: k)
  }
}

/// The JPEGs under a folder, and what could not be looked at.
public struct FoundImages {
  public var paths: [String]  // absolute, sorted
  public var skipped: [SkippedFile]  // names that are not UTF-8, folders that cannot be read
}

/// The extensions indexed (any case): JPEG, PNG and WebP.
public let photoExtensions: Set<String> = ["jpg", "jpeg", "png", "webp"]
/// Photo formats a library holds that are not decoded here: listed as skipped, by name, not silently passed over.
let unreadPhotoExtensions: [String: String] = [
  "heic": "HEIC", "heif": "HEIF", "avif": "AVIF", "gif": "GIF", "tif": "TIFF", "tiff": "TIFF",
  "dng": "camera RAW (DNG)", "cr2": "camera RAW (Canon CR2)", "cr3": "camera RAW (Canon CR3)", "nef": "camera RAW (Nikon NEF)",
  "arw": "camera RAW (Sony ARW)", "raf": "camera RAW (Fujifilm RAF)", "orf": "camera RAW (Olympus ORF)", "rw2": "camera RAW (Panasonic RW2)",
]

/// Every JPEG, PNG and WebP (.jpg/.jpeg/.png/.webp, any case) under `directory`, recursively, sorted; hidden files and folders
/// skipped, symbolic links to files followed (links to folders are not, so a loop cannot trap the walk).
/// The walk reads names as bytes: a file whose name is not UTF-8 (Latin-1, from an old camera or a
/// Windows share) cannot be carried in a Swift String, so it is named, escaped, with the way to rename it.
public func findPhotos(in directory: String) throws -> FoundImages {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
    var info = stat()
    let loop = stat(directory, &info) != 0 && errno == ELOOP
    throw CheckpointError(path: directory, reason: loop ? "is a loop of symbolic links, not a folder"
      : FileManager.default.fileExists(atPath: directory) ? "is a file, not a folder" : "no such folder")
  }
  let root = resolvedPath(directory)  // absolute and symlink-free: one photo, one row, from any folder
  var found = FoundImages(paths: [], skipped: [])
  func walk(_ folder: String) {
    guard let handle = opendir(folder) else {
      found.skipped.append(SkippedFile(path: folder + "/", reason: "cannot read the folder: \(String(cString: strerror(errno)))"))
      return
    }
    defer { closedir(handle) }
    while let entry = readdir(handle) {
      let bytes = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
      if bytes.first == UInt8(ascii: ".") { continue }  // hidden, and . and ..
      guard let name = String(validating: bytes, as: UTF8.self) else {
        let escaped = bytes.map { $0 < 0x80 ? String(UnicodeScalar($0)) : String(format: "\\x%02x", $0) }.joined()
        let lower = escaped.lowercased()
        var info = stat()
        let isFolder = bytes.map { CChar(bitPattern: $0) }.withUnsafeBufferPointer { raw in
          var cName = Array(raw)
          cName.append(0)
          return fstatat(dirfd(handle), cName, &info, 0) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
        }
        if isFolder || photoExtensions.contains((lower as NSString).pathExtension) {
          found.skipped.append(SkippedFile(path: folder + "/" + escaped + (isFolder ? "/" : ""),
                                           reason: "its name is not UTF-8 (Latin-1?), so \(isFolder ? "the photos in this folder" : "it") cannot be "
                                             + "opened by name here; rename it to UTF-8, e.g. convmv -f latin1 -t utf8 --notest -r \(root)"))
        }
        continue
      }
      let path = folder + "/" + name
      var info = stat()
      guard stat(path, &info) == 0 else {
        let ext = (name as NSString).pathExtension.lowercased()
        if photoExtensions.contains(ext) {
          found.skipped.append(SkippedFile(path: path, reason: "a symbolic link to a file that does not exist (\(String(cString: strerror(errno))))"))
        }
        continue
      }
      if (info.st_mode & S_IFMT) == S_IFDIR {
        var link = stat()
        if lstat(path, &link) == 0 && (link.st_mode & S_IFMT) != S_IFLNK { walk(path) }
      } else {
        let ext = (name as NSString).pathExtension.lowercased()
        if photoExtensions.contains(ext) {
          found.paths.append(path)
        } else if let format = unreadPhotoExtensions[ext] {
          found.skipped.append(SkippedFile(path: path, reason: "\(format) is not read here (JPEG, PNG and WebP are): convert it, e.g. with ImageMagick or your photo app"))
        }
      }
    }
  }
  walk(root == "/" ? "" : root)
  found.paths.sort()
  return found
}

/// Size and modification time of a file (nil when it cannot be stat'ed).
/// A symbolic link is followed: the photo (or model) it points to is what changes.
func fileStamp(_ path: String) -> IndexedFile? {
  var info = stat()
  guard stat(path, &info) == 0 else { return nil }
  return IndexedFile(path: path, size: Int(info.st_size), modified: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
}

extension ImageIndex {
  public struct UpdateReport {
    public var reused = 0  // unchanged files whose rows were kept
    public var embedded = 0
    public var otherFolders = 0  // rows of files outside the folder indexed, kept as they were
    public var skipped: [SkippedFile] = []
    public var reductions: [JPEGReduction] = []  // photos too large to decode in full, embedded reduced
  }

  /// An index and how it was made.
  public struct Update {
    public var index: ImageIndex
    public var report: UpdateReport
  }

  /// How `build` reports and saves as it goes.
  public struct BuildOptions {
    /// The folder being indexed: `previous` rows of files outside it are kept (one index can hold
    /// several folders); nil keeps only the rows of `paths`.
    public var folder: String? = nil
    /// A bar for the files that need embedding, made once their number is known.
    public var progress: (Int) -> ProgressBar? = { _ in nil }
    /// Files embedded between chances to save.
    public var chunk = 64
    /// Seconds between saves of the index so far (so a killed run loses at most this much work).
    public var saveEvery: Double = .infinity
    public var save: (ImageIndex) throws -> Void = { _ in }
    public init() {}
  }

  /// Indexes `paths` with any model the tools take (a trained checkpoint, or OpenAI's CLIP).
  public static func build(paths: [String], embedder: any JointEmbedder, previous: ImageIndex?, options: BuildOptions = BuildOptions()) throws
    -> Update
  {
    try build(paths: paths, model: embedder.checkpoint, kind: embedder.indexKind, dimension: embedder.dimension, previous: previous,
              options: options) { embedder.embedImageFiles($0, progress: $1) }
  }

  /// Indexes `paths` with any model: `embedFiles` turns files into unit rows of width `dimension`. Rows of
  /// `previous` (when the same model made it) are reused for files whose size and mtime are unchanged,
  /// and kept for files outside `options.folder`. The files to embed go `options.chunk` at a time, and
  /// the index so far is handed to `options.save` every `options.saveEvery` seconds.
  public static func build(paths: [String], model: String, kind: String, dimension p: Int, previous: ImageIndex?,
                           options: BuildOptions = BuildOptions(), embedFiles: ([String], ProgressBar?) -> EmbeddedFiles) throws -> Update {
    var report = UpdateReport()
    var old: [String: (IndexedFile, Int)] = [:]
    let stamp = ImageIndex.stamp(ofModel: model)
    var files: [IndexedFile] = [], rows: [[Float]] = []
    if let previous, previous.model == model, previous.modelKind == kind, previous.modelStamp == stamp, previous.embeddings.shape[1] == p {
      for (r, f) in previous.files.enumerated() { old[f.path] = (f, r) }
      // Another folder's photos, indexed into the same file earlier: kept as they are.
      if let folder = options.folder {
        let inside = resolvedPath(folder) + "/"
        for (r, f) in previous.files.enumerated() where !f.path.hasPrefix(inside) {
          files.append(f)
          rows.append(Array(previous.embeddings.storage[(r * p)..<((r + 1) * p)]))
          report.otherFolders += 1
        }
      }
    }
    var toEmbed: [IndexedFile] = []
    var earlier: [String: [Float]] = [:]  // the previous rows of changed files, kept in saves until replaced
    for path in paths {
      guard let stamp = fileStamp(path) else {
        report.skipped.append(SkippedFile(path: path, reason: "cannot read its size and date"))
        continue
      }
      if let (f, r) = old[path], f == stamp {
        files.append(f)
        rows.append(Array(previous!.embeddings.storage[(r * p)..<((r + 1) * p)]))
        report.reused += 1
      } else {
        toEmbed.append(stamp)
        if let (f, r) = old[path] { earlier[f.path] = Array(previous!.embeddings.storage[(r * p)..<((r + 1) * p)]) }
      }
    }
    // The index of everything so far, in path order whatever was reused. A save part-way keeps the earlier
    // rows (and stamps) of the files not yet embedded again, so an interrupted run never shrinks the index;
    // their old stamps make the next run embed them.
    func current(notYetEmbedded rest: ArraySlice<IndexedFile> = []) -> ImageIndex {
      var allFiles = files, allRows = rows
      for f in rest {
        if let row = earlier[f.path], let (oldFile, _) = old[f.path] {
          allFiles.append(oldFile)
          allRows.append(row)
        }
      }
      let order = allFiles.indices.sorted { allFiles[$0].path < allFiles[$1].path }
      var index = ImageIndex(files: order.map { allFiles[$0] }, embeddings: Tensor(shape: [allFiles.count, p], storage: order.flatMap { allRows[$0] }),
                             model: model, modelStamp: stamp, modelKind: kind)
      index.pending = rest.count
      return index
    }
    let bar = toEmbed.isEmpty ? nil : options.progress(toEmbed.count)
    var lastSave = now()
    for start in stride(from: 0, to: toEmbed.count, by: max(options.chunk, 1)) {
      let chunk = Array(toEmbed[start..<min(toEmbed.count, start + max(options.chunk, 1))])
      bar?.offset = start
      let result = embedFiles(chunk.map(\.path), bar)
      for (r, i) in result.embedded.enumerated() {
        files.append(chunk[i])
        rows.append(Array(result.embeddings.storage[(r * p)..<((r + 1) * p)]))
      }
      report.embedded += result.embedded.count
      report.skipped += result.skipped
      report.reductions += result.reductions
      if start + chunk.count < toEmbed.count && now() - lastSave >= options.saveEvery {
        try options.save(current(notYetEmbedded: toEmbed[(start + chunk.count)...]))
        lastSave = now()
      }
    }
    return Update(index: current(), report: report)
  }
}
