// JPEG decode and encode through the system libjpeg (Sources/CJPEGShim wraps it so that errors
// come back as messages instead of exit()). Decoding uses libjpeg's defaults — the accurate integer
// IDCT and fancy upsampling — which is what Pillow uses, so our pixels equal Pillow's.

import TensorCore
import IO
import CJPEGShim
import Foundation

public struct JPEGError: Error, CustomStringConvertible, Equatable {
  public enum Kind: Sendable, Equatable { case unreadable, empty, corrupt, tooLarge, unsupported, cannotEncode }
  public var kind: Kind
  /// The file (or "<memory>").
  public var source: String
  /// What went wrong, usually libjpeg's own message.
  public var reason: String
  public var description: String { "\(source): \(reason)" }
}

/// The largest image we decode, in pixels. Larger declared sizes are refused before allocating.
public let maxJPEGPixels = 100_000_000

public enum JPEG {
  /// Decodes a JPEG file into 8-bit RGB. Grayscale files are replicated into R, G and B.
  public static func decode(path: String, maxPixels: Int = maxJPEGPixels) throws -> RGBImage {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw JPEGError(kind: .unreadable, source: path, reason: "no such file")
    }
    if isDirectory.boolValue { throw JPEGError(kind: .unreadable, source: path, reason: "is a directory, not a JPEG file") }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw JPEGError(kind: .unreadable, source: path, reason: "cannot read the file")
    }
    return try decode(bytes: [UInt8](data), source: path, maxPixels: maxPixels)
  }

  /// Decodes JPEG bytes held in memory.
  public static func decode(bytes: [UInt8], source: String = "<memory>", maxPixels: Int = maxJPEGPixels) throws
    -> RGBImage
  {
    if bytes.isEmpty { throw JPEGError(kind: .empty, source: source, reason: "empty file (0 bytes)") }
    if bytes.count < 2 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
      throw JPEGError(kind: .corrupt, source: source,
                      reason: "not a JPEG file (starts with \(bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")), not ff d8)")
    }
    var result = cjpeg_decoded()
    let code = bytes.withUnsafeBufferPointer { buffer in
      cjpeg_decode(buffer.baseAddress, buffer.count, Int64(maxPixels), &result)
    }
    let message = withUnsafeBytes(of: result.message) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    switch Int(code) {
    case Int(CJPEG_OK):
      defer { cjpeg_free(result.pixels) }
      let count = Int(result.width) * Int(result.height) * 3
      let pixels = [UInt8](UnsafeBufferPointer(start: result.pixels, count: count))
      return RGBImage(width: Int(result.width), height: Int(result.height), pixels: pixels)
    case Int(CJPEG_ERROR_TOO_LARGE): throw JPEGError(kind: .tooLarge, source: source, reason: message)
    case Int(CJPEG_ERROR_UNSUPPORTED): throw JPEGError(kind: .unsupported, source: source, reason: message)
    case Int(CJPEG_ERROR_EMPTY): throw JPEGError(kind: .empty, source: source, reason: message)
    default: throw JPEGError(kind: .corrupt, source: source, reason: "corrupt JPEG: \(message)")
    }
  }

  /// Encodes an RGB image as a baseline JPEG.
  public static func encode(_ image: RGBImage, quality: Int = 90) throws -> [UInt8] {
    precondition((1...100).contains(quality), "JPEG quality must be 1...100")
    var data: UnsafeMutablePointer<UInt8>? = nil
    var size: UInt = 0
    var message = [CChar](repeating: 0, count: Int(CJPEG_MESSAGE_LENGTH))
    let code = image.pixels.withUnsafeBufferPointer { px in
      cjpeg_encode_rgb(px.baseAddress, Int32(image.width), Int32(image.height), Int32(quality), &data, &size, &message)
    }
    guard code == CJPEG_OK, let data else {
      let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      throw JPEGError(kind: .cannotEncode, source: "<encoder>", reason: text)
    }
    defer { cjpeg_free(data) }
    return [UInt8](UnsafeBufferPointer(start: data, count: Int(size)))
  }

  /// Encodes and writes atomically.
  public static func write(_ image: RGBImage, to path: String, quality: Int = 90) throws {
    try writeFileAtomically(encode(image, quality: quality), to: path)
  }
}
