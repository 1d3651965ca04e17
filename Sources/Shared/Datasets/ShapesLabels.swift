// labels.csv of a generated shapes dataset: one row per image with its class ("colour shape", or empty for
// a two-shape image) and its split, so zero-shot evaluation knows the truth.

import Foundation

/// One row of labels.csv.
public struct ShapesLabel: Sendable, Equatable {
  public var image: String
  /// "colour shape", or "" for a two-shape image.
  public var label: String
  /// "seen", "test" or "unseen".
  public var split: String
}

extension ShapesDataset {
  /// Reads labels.csv (header image,label,split), with the same CSV rules as the captions.
  public static func readLabels(_ path: String) throws -> [ShapesLabel] {
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
      throw DataProblem(file: path, line: 0, message: "cannot read: \(error.localizedDescription)")
    }
    let rows: [CSVRecord]
    do { rows = try parseCSV(text) } catch let problem as DataProblem {
      throw DataProblem(file: path, line: problem.line, message: problem.message)
    }
    guard let header = rows.first, header.fields == ["image", "label", "split"] else {
      throw DataProblem(file: path, line: 1, message: "expected the header image,label,split")
    }
    return try rows.dropFirst().filter { $0.fields != [""] }.map { row in
      guard row.fields.count == 3 else { throw DataProblem(file: path, line: row.line, message: "expected image,label,split") }
      return ShapesLabel(image: row.fields[0], label: row.fields[1], split: row.fields[2])
    }
  }
}
