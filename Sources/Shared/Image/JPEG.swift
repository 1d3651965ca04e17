// JPEG decode and encode through the system libjpeg (Sources/CJPEGShim wraps it so that errors
// come back as messages instead of exit()). Decoding uses libjpeg's defaults — the accurate integer
// IDCT and fancy upsampling — which is what Pillow uses, so our pixels equal Pillow's.

import IO
import CJPEGShim
import Foundation

/// A photo that could not be read or written, whatever its format (JPEG, PNG, WebP): thrown by every
/// decoder here, so a caller handles one error type.
public struct ImageDecodeError: Error, CustomStringConvertible, Equatable {
  public enum Kind: Sendable, Equatable { case unreadable, empty, corrupt, tooLarge, unsupported, cannotEncode }
  public var kind: Kind
  /// The file (or "<memory>").
  public var source: String
  /// What went wrong, usually the library's own message (libjpeg, libpng, libwebp).
  public var reason: String
  public var description: String { "\(source): \(reason)" }
}

/// The largest image decoded in full, in pixels: Pillow's own ceiling (2 × Image.MAX_IMAGE_PIXELS, above
/// which it raises DecompressionBombError), so every photo Pillow opens is decoded exactly as it
/// decodes it — a 108 MP phone photo among them (324 MB of RGB while it is resized). Larger declared
/// sizes are refused before allocating, or decoded reduced when the caller allows it.
public let maxJPEGPixels = 178_956_970

/// A photo over the limit, decoded reduced by libjpeg's DCT scaling rather than lost.
public struct JPEGReduction: Sendable, Equatable, CustomStringConvertible {
  public var source: String
  public var declaredWidth: Int
  public var declaredHeight: Int
  public var scale: Int  // 2, 4 or 8
  public var width: Int  // as decoded
  public var height: Int
  public var description: String {
    "\(source) is \(declaredWidth)×\(declaredHeight) (\(declaredWidth * declaredHeight / 1_000_000) MP), over the \(maxJPEGPixels / 1_000_000) MP "
      + "that Pillow opens; decoded at 1/\(scale) (\(width)×\(height)) by libjpeg's DCT scaling, so its pixels are close to, not equal "
      + "to, a full decode's"
  }
}

/// A decoded photo, and how it was reduced if it was.
public struct DecodedJPEG: Sendable {
  public var image: RGBImage
  public var reduction: JPEGReduction?
}

public enum JPEG {
  /// Decodes a JPEG file into 8-bit RGB. Grayscale files are replicated into R, G and B.
  public static func decode(path: String, maxPixels: Int = maxJPEGPixels) throws -> RGBImage {
    try decode(path: path, maxPixels: maxPixels, reducedToShortSide: 0).image
  }

  /// Decodes a JPEG file; one over `maxPixels` is decoded at 1/2, 1/4 or 1/8 (the most reduced whose
  /// shorter side stays at least `minShortSide`) instead of refused, and says so in `reduction`.
  public static func decode(path: String, maxPixels: Int = maxJPEGPixels, reducedToShortSide minShortSide: Int)
    throws -> DecodedJPEG
  {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw ImageDecodeError(kind: .unreadable, source: path, reason: "no such file")
    }
    if isDirectory.boolValue { throw ImageDecodeError(kind: .unreadable, source: path, reason: "is a directory, not an image file") }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ImageDecodeError(kind: .unreadable, source: path, reason: "cannot read the file")
    }
    return try decode(bytes: [UInt8](data), source: path, maxPixels: maxPixels, reducedToShortSide: minShortSide)
  }

  /// Decodes JPEG bytes held in memory.
  public static func decode(bytes: [UInt8], source: String = "<memory>", maxPixels: Int = maxJPEGPixels) throws
    -> RGBImage
  {
    try decode(bytes: bytes, source: source, maxPixels: maxPixels, reducedToShortSide: 0).image
  }

  /// Decodes JPEG bytes; see `decode(path:maxPixels:reducedToShortSide:)`.
  public static func decode(bytes: [UInt8], source: String = "<memory>", maxPixels: Int = maxJPEGPixels, reducedToShortSide minShortSide: Int)
    throws -> DecodedJPEG
  {
    if bytes.isEmpty { throw ImageDecodeError(kind: .empty, source: source, reason: "empty file (0 bytes)") }
    // A PNG goes to libpng, a WebP to libwebp (PNGDecode.swift); formats not read here are refused by name.
    switch imageFormat(of: bytes) {
    case .png?: return DecodedJPEG(image: try decodePNG(bytes, source: source, maxPixels: maxPixels), reduction: nil)
    case .webp?: return DecodedJPEG(image: try decodeWebP(bytes, source: source, maxPixels: maxPixels), reduction: nil)
    case .jpeg?, nil: break
    }
    if let kind = unsupportedImageKind(bytes) {
      throw ImageDecodeError(kind: .unsupported, source: source, reason: "\(kind): not read here; JPEG, PNG and WebP are (convert it, e.g. with ImageMagick: convert IN OUT.jpg)")
    }
    if bytes.count < 2 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
      throw ImageDecodeError(kind: .corrupt, source: source,
                      reason: "not a JPEG, PNG or WebP file (starts with \(bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")))")
    }
    var result = cjpeg_decoded()
    let code = bytes.withUnsafeBufferPointer { buffer in
      cjpeg_decode_reduced(buffer.baseAddress, buffer.count, Int64(maxPixels), Int32(clamping: minShortSide), &result)
    }
    let message = withUnsafeBytes(of: result.message) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    switch Int(code) {
    case Int(CJPEG_OK):
      defer { cjpeg_free(result.pixels) }
      let image = RGBImage(copying: result.pixels, width: Int(result.width), height: Int(result.height))
      let reduction = result.scale_denom > 1
        ? JPEGReduction(source: source, declaredWidth: Int(result.source_width), declaredHeight: Int(result.source_height),
                        scale: Int(result.scale_denom), width: image.width, height: image.height) : nil
      return DecodedJPEG(image: image, reduction: reduction)
    case Int(CJPEG_ERROR_TOO_LARGE): throw ImageDecodeError(kind: .tooLarge, source: source, reason: message)
    case Int(CJPEG_ERROR_UNSUPPORTED): throw ImageDecodeError(kind: .unsupported, source: source, reason: message)
    case Int(CJPEG_ERROR_EMPTY): throw ImageDecodeError(kind: .empty, source: source, reason: message)
    case _ where message.contains("Backing store not supported") || message.contains("Insufficient memory"):
      throw ImageDecodeError(kind: .tooLarge, source: source, reason: "too large to decode in the memory there is "
        + "(\(result.source_width > 0 ? "\(result.source_width)×\(result.source_height), " : "")a progressive JPEG holds every coefficient of the "
        + "whole image at once; libjpeg may use 1.5 GB): \(message)")
    case Int(CJPEG_ERROR_NO_MEMORY): throw ImageDecodeError(kind: .tooLarge, source: source, reason: "out of memory decoding it")
    default: throw ImageDecodeError(kind: .corrupt, source: source, reason: "corrupt JPEG: \(message)")
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
      throw ImageDecodeError(kind: .cannotEncode, source: "<encoder>", reason: text)
    }
    defer { cjpeg_free(data) }
    return [UInt8](UnsafeBufferPointer(start: data, count: Int(size)))
  }

  /// Encodes and writes atomically.
  public static func write(_ image: RGBImage, to path: String, quality: Int = 90) throws {
    try writeFileAtomically(encode(image, quality: quality), to: path)
  }
}
