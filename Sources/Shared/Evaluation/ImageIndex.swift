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
import Layers
import Models
import Runs
import Text
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
    return ImageIndex(files: files, embeddings: embeddings, model: model, modelStamp: file.metadata["model_stamp"] ?? "",
                      modelKind: file.metadata["model_kind"] ?? "")
  }

  /// The best `k` files for a unit query embedding (P): (file index, cosine similarity), best first.
  public func search(_ query: Tensor, k: Int) -> [(index: Int, score: Float)] {
    guard !files.isEmpty else { return [] }
    let scores = embeddings.matmul(query.reshaped([1, query.count]), transposeOther: true).storage
    return topK(scores, k: k)
  }
}

/// Every JPEG (.jpg/.jpeg, any case) under `directory`, recursively, sorted; hidden files skipped.
public func findJPEGs(in directory: String) throws -> [String] {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
    throw CheckpointError(path: directory, reason: "not a folder")
  }
  guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
  var found: [String] = []
  let directory = URL(fileURLWithPath: directory).standardizedFileURL.path  // absolute: the index works from any folder
  while let relative = walker.nextObject() as? String {
    let name = (relative as NSString).lastPathComponent
    if name.hasPrefix(".") { continue }
    let ext = (name as NSString).pathExtension.lowercased()
    if ext == "jpg" || ext == "jpeg" { found.append((directory as NSString).appendingPathComponent(relative)) }
  }
  return found.sorted()
}

/// Size and modification time of a file (nil when it cannot be stat'ed).
public func fileStamp(_ path: String) -> IndexedFile? {
  guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
    let size = (attributes[.size] as? NSNumber)?.intValue, let date = attributes[.modificationDate] as? Date
  else { return nil }
  return IndexedFile(path: path, size: size, modified: date.timeIntervalSince1970)
}

extension ImageIndex {
  public struct UpdateReport {
    public var reused = 0
    public var embedded = 0
    public var skipped: [SkippedFile] = []
  }

  /// An index and how it was made.
  public struct Update {
    public var index: ImageIndex
    public var report: UpdateReport
  }

  /// Indexes `paths` with `embedder`, reusing rows of `previous` (same model) for unchanged files.
  public static func build(paths: [String], embedder: Embedder, previous: ImageIndex?, progress: ProgressBar? = nil)
    -> Update
  {
    build(paths: paths, model: embedder.checkpoint, kind: "", dimension: embedder.dimension, previous: previous, progress: progress) {
      embedder.embedImageFiles($0, progress: $1)
    }
  }

  /// Indexes `paths` with OpenAI's CLIP (chapter 11).
  public static func build(paths: [String], embedder: OpenAICLIPEmbedder, previous: ImageIndex?, progress: ProgressBar? = nil)
    -> Update
  {
    build(paths: paths, model: embedder.checkpoint, kind: openAICLIPKind, dimension: embedder.dimension, previous: previous,
          progress: progress) { embedder.embedImageFiles($0, progress: $1) }
  }

  /// Indexes `paths` with any model: `embedFiles` turns files into unit rows of width `dimension`.
  public static func build(paths: [String], model: String, kind: String, dimension p: Int, previous: ImageIndex?, progress: ProgressBar?,
                           embedFiles: ([String], ProgressBar?) -> EmbeddedFiles) -> Update {
    var report = UpdateReport()
    var old: [String: (IndexedFile, Int)] = [:]
    let stamp = ImageIndex.stamp(ofModel: model)
    if let previous, previous.model == model, previous.modelKind == kind, previous.modelStamp == stamp, previous.embeddings.shape[1] == p {
      for (r, f) in previous.files.enumerated() { old[f.path] = (f, r) }
    }
    var files: [IndexedFile] = [], rows: [[Float]] = []
    var toEmbed: [IndexedFile] = []
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
      }
    }
    let result = embedFiles(toEmbed.map(\.path), progress)
    for (r, i) in result.embedded.enumerated() {
      files.append(toEmbed[i])
      rows.append(Array(result.embeddings.storage[(r * p)..<((r + 1) * p)]))
    }
    report.embedded = result.embedded.count
    report.skipped += result.skipped
    // Keep the index in path order whatever was reused.
    let order = files.indices.sorted { files[$0].path < files[$1].path }
    let index = ImageIndex(files: order.map { files[$0] }, embeddings: Tensor(shape: [files.count, p], storage: order.flatMap { rows[$0] }),
                           model: model, modelStamp: stamp, modelKind: kind)
    return Update(index: index, report: report)
  }
}
