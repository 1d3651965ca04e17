// Captions files as CSV (RFC 4180), in the seed's Flickr layouts:
//
//   image,caption_number,caption,id     (Flickr30k as the seed reads it; also "image,caption" —
//   Flickr8k's captions.txt — and '|'-separated "image_name| comment_number| comment")

import Foundation

/// A problem with one line of a captions file.
public struct DataProblem: Error, CustomStringConvertible, Equatable {
  public var file: String
  public var line: Int
  public var message: String
  public init(file: String, line: Int, message: String) {
    (self.file, self.line, self.message) = (file, line, message)
  }
  public var description: String { "\(file):\(line): \(message)" }
}

/// One CSV record and the line it starts on.
struct CSVRecord: Sendable, Equatable {
  public var line: Int
  public var fields: [String]
}

/// Splits CSV text into records of fields (RFC 4180: quoted fields may hold the separator, doubled
/// quotes and line breaks). Each record carries the line number it starts on.
func parseCSV(_ text: String, separator: Character = ",") throws -> [CSVRecord] {
  var records: [CSVRecord] = []
  var fields: [String] = []
  var field = ""
  var inQuotes = false, quotedField = false
  var line = 1, recordLine = 1
  var chars = Array(text)
  if chars.first == "\u{FEFF}" { chars.removeFirst() }  // byte-order mark
  var i = 0
  func endField() {
    fields.append(quotedField ? field : field.trimmingCharacters(in: .whitespaces))
    field = ""
    quotedField = false
  }
  while i < chars.count {
    let c = chars[i]
    if inQuotes {
      if c == "\"" {
        if i + 1 < chars.count && chars[i + 1] == "\"" {
          field.append("\"")
          i += 1
        } else {
          inQuotes = false
        }
      } else {
        if c == "\n" || c == "\r\n" { line += 1 }
        field.append(c)
      }
    } else if c == "\"" && field.trimmingCharacters(in: .whitespaces).isEmpty {
      inQuotes = true
      quotedField = true
      field = ""
    } else if c == separator {
      endField()
    } else if c == "\n" || c == "\r\n" || c == "\r" {
      endField()
      records.append(CSVRecord(line: recordLine, fields: fields))
      fields = []
      line += 1
      recordLine = line
    } else {
      field.append(c)
    }
    i += 1
  }
  if inQuotes { throw DataProblem(file: "", line: recordLine, message: "a quoted field is never closed") }
  if !field.isEmpty || !fields.isEmpty {
    endField()
    records.append(CSVRecord(line: recordLine, fields: fields))
  }
  return records
}

func csvField(_ s: String) -> String {
  if s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r") {
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }
  return s
}
