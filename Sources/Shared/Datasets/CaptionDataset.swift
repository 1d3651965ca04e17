// A folder of images with their captions, read from a Flickr-layout CSV (CSV.swift); bad rows and
// missing images are skipped with their line numbers, or fatal with `strict`.

import TensorCore
import IO
import Dispatch
import Foundation

/// One caption of one image.
struct CaptionRecord: Sendable, Equatable {
  public var image: String
  public var caption: String
  public var line: Int
}

/// A folder of images with their captions, as read from a Flickr-layout CSV.
public struct CaptionDataset: Sendable {
  public var imageDirectory: String
  /// Image file names in the order they first appear.
  public var images: [String]
  /// Captions of each image, in file order.
  public var captions: [String: [String]]
  /// Rows skipped, each with its line number and the reason.
  public var problems: [DataProblem]

  /// Reads `csvPath`; images are looked up in `imageDirectory` (default: the CSV's folder, or its
  /// `images/` / `Images/` / `flickr30k_images/` subfolder when that exists). Malformed rows and rows
  /// naming a missing image are reported in `problems` and skipped — or thrown when `strict`.
  public init(csvPath: String, imageDirectory: String? = nil, strict: Bool = false) throws {
    guard let data = FileManager.default.contents(atPath: csvPath), let text = String(data: data, encoding: .utf8) else {
      throw DataProblem(file: csvPath, line: 0, message: FileManager.default.fileExists(atPath: csvPath) ? "not readable UTF-8 text" : "no such file")
    }
    let folder = parentPath(csvPath)
    let directory = imageDirectory ?? ["images", "Images", "flickr30k_images"].map { folder + "/" + $0 }
      .first { var d: ObjCBool = false; return FileManager.default.fileExists(atPath: $0, isDirectory: &d) && d.boolValue } ?? folder
    let firstLine = text.prefix { $0 != "\n" }
    let separator: Character = firstLine.contains("|") && !firstLine.contains(",") ? "|" : ","
    let records: [CSVRecord]
    do { records = try parseCSV(text, separator: separator) } catch var p as DataProblem {
      p.file = csvPath
      throw p
    }
    guard let header = records.first else { throw DataProblem(file: csvPath, line: 1, message: "empty file") }
    let names = header.fields.map { $0.lowercased().trimmingCharacters(in: .whitespaces) }
    guard let imageColumn = names.firstIndex(where: { $0 == "image" || $0 == "image_name" || $0 == "filename" }) else {
      throw DataProblem(file: csvPath, line: header.line, message: "no 'image' column in the header \(header.fields)")
    }
    guard let captionColumn = names.firstIndex(where: { $0 == "caption" || $0 == "comment" }) else {
      throw DataProblem(file: csvPath, line: header.line, message: "no 'caption' column in the header \(header.fields)")
    }
    var images: [String] = [], captions: [String: [String]] = [:], problems: [DataProblem] = []
    var existence: [String: Bool] = [:]
    func report(_ problem: DataProblem) throws {
      if strict { throw problem }
      problems.append(problem)
    }
    for record in records.dropFirst() {
      if record.fields.count == 1 && record.fields[0].isEmpty { continue }  // blank line
      guard record.fields.count == names.count else {
        try report(DataProblem(file: csvPath, line: record.line,
                               message: "expected \(names.count) fields (\(names.joined(separator: ","))), found \(record.fields.count)"))
        continue
      }
      let image = record.fields[imageColumn], caption = record.fields[captionColumn].trimmingCharacters(in: .whitespaces)
      if image.isEmpty || caption.isEmpty {
        try report(DataProblem(file: csvPath, line: record.line, message: image.isEmpty ? "empty image name" : "empty caption"))
        continue
      }
      let exists = existence[image] ?? FileManager.default.fileExists(atPath: directory + "/" + image)
      existence[image] = exists
      guard exists else {
        try report(DataProblem(file: csvPath, line: record.line, message: "image '\(image)' not found in \(directory)"))
        continue
      }
      if captions[image] == nil { images.append(image) }
      captions[image, default: []].append(caption)
    }
    self.imageDirectory = directory
    self.images = images
    self.captions = captions
    self.problems = problems
  }

  public var captionCount: Int { captions.values.reduce(0) { $0 + $1.count } }

  /// Every caption of `images`, image by image, each with the index (into `images`) of the image it
  /// describes: the text side of a retrieval evaluation.
  public func captionList(of images: [String]) -> CaptionList {
    var list = CaptionList(texts: [], imageOfText: [])
    for (i, name) in images.enumerated() {
      for caption in captions[name] ?? [] {
        list.texts.append(caption)
        list.imageOfText.append(i)
      }
    }
    return list
  }
}

/// Captions and the image each belongs to (`imageOfText[t]` indexes the images they were listed from).
public struct CaptionList: Sendable {
  public var texts: [String]
  public var imageOfText: [Int]
}

/// Which data a run trained on, as a checkpoint remembers it: counts and an FNV-1a digest of every image
/// name (relative to its folder, so a moved folder is the same data) with its captions. A resumed run
/// on other data would judge best.safetensors on another validation split.
public struct DataFingerprint: Sendable, Codable, Equatable, CustomStringConvertible {
  public var images: Int
  public var captions: Int
  public var digest: String  // 16 hex digits

  public init(_ dataset: CaptionDataset) {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ text: String) {
      for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
      hash = (hash ^ 0xFF) &* 0x100_0000_01b3  // a separator no UTF-8 text contains
    }
    for image in dataset.images.sorted() {
      mix(image)
      for caption in dataset.captions[image] ?? [] { mix(caption) }
    }
    images = dataset.images.count
    captions = dataset.captionCount
    digest = String(format: "%016llx", hash)
  }

  public var description: String { "\(images) images, \(captions) captions, fingerprint \(digest)" }
}
