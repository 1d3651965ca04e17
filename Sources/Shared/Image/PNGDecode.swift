// PNG decoding through the system libpng (Sources/CPNGShim), and WebP through libwebp (Sources/CWebPShim). What comes out is what Pillow's
// Image.open(p).convert("RGB") gives — palettes expanded, grey replicated, alpha and transparency
// dropped (not composited: convert("RGB") drops them, so timm's transform sees the stored colours) —
// except 16-bit samples: Pillow opens a 16-bit grey PNG as I;16 and its convert("RGB") clips every
// value above 255 to white, and a 16-bit RGB one keeps the high byte; here both are scaled to 8 bits
// as round(v / 257), so a 16-bit photo looks like its 8-bit self.

import CPNGShim
import CWebPShim
import Foundation

/// The eight bytes every PNG file starts with.
let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

/// Image formats recognised by their first bytes but not decoded here, named for the error message.
func unsupportedImageKind(_ bytes: [UInt8]) -> String? {
  func at(_ offset: Int, _ ascii: String) -> Bool {
    let want = Array(ascii.utf8)
    return bytes.count >= offset + want.count && Array(bytes[offset..<(offset + want.count)]) == want
  }
  if at(4, "ftyp") {
    for brand in ["heic", "heix", "hevc", "mif1", "msf1"] where at(8, brand) { return "a HEIC/HEIF image" }
    if at(8, "avif") { return "an AVIF image" }
  }
  if at(0, "GIF8") { return "a GIF image" }
  if at(0, "BM") && bytes.count > 14 { return "a BMP image" }
  if at(0, "II*\u{0}") || at(0, "MM\u{0}*") { return "a TIFF (or camera RAW) image" }
  return nil
}

/// Decodes PNG bytes into 8-bit RGB; see the comment at the top of this file.
func decodePNG(_ bytes: [UInt8], source: String, maxPixels: Int) throws -> RGBImage {
  var result = cpng_decoded()
  let code = bytes.withUnsafeBufferPointer { cpng_decode($0.baseAddress, $0.count, Int64(maxPixels), &result) }
  let message = withUnsafeBytes(of: result.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
  switch Int(code) {
  case Int(CPNG_OK):
    defer { cpng_free(result.pixels) }
    return RGBImage(copying: result.pixels, width: Int(result.width), height: Int(result.height))
  case Int(CPNG_ERROR_TOO_LARGE):
    throw ImageDecodeError(kind: .tooLarge, source: source, reason: "a \(result.width)×\(result.height) PNG, over the \(maxPixels / 1_000_000) MP this decodes")
  case Int(CPNG_ERROR_NO_MEMORY): throw ImageDecodeError(kind: .tooLarge, source: source, reason: "out of memory decoding it")
  case Int(CPNG_ERROR_EMPTY): throw ImageDecodeError(kind: .empty, source: source, reason: message)
  default: throw ImageDecodeError(kind: .corrupt, source: source, reason: "corrupt PNG: \(message)")
  }
}

/// The image formats decoded here, told apart by their first bytes.
public enum ImageFormat: String, Sendable { case jpeg = "JPEG", png = "PNG", webp = "WebP" }

/// Which decoder `bytes` go to, or nil when they are none of JPEG, PNG and WebP.
public func imageFormat(of bytes: [UInt8]) -> ImageFormat? {
  if bytes.starts(with: pngSignature) { return .png }
  if bytes.count >= 12 && Array(bytes[0..<4]) == Array("RIFF".utf8) && Array(bytes[8..<12]) == Array("WEBP".utf8) { return .webp }
  if bytes.count >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8 { return .jpeg }
  return nil
}

/// Decodes a still WebP into 8-bit RGB, alpha dropped as Pillow's convert("RGB") drops it.
func decodeWebP(_ bytes: [UInt8], source: String, maxPixels: Int) throws -> RGBImage {
  var result = cwebp_decoded()
  let code = bytes.withUnsafeBufferPointer { cwebp_decode($0.baseAddress, $0.count, Int64(maxPixels), &result) }
  let message = withUnsafeBytes(of: result.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
  switch Int(code) {
  case Int(CWEBP_OK):
    defer { cwebp_free(result.pixels) }
    return RGBImage(copying: result.pixels, width: Int(result.width), height: Int(result.height))
  case Int(CWEBP_ERROR_TOO_LARGE):
    throw ImageDecodeError(kind: .tooLarge, source: source, reason: "a \(result.width)×\(result.height) WebP, over the \(maxPixels / 1_000_000) MP this decodes")
  case Int(CWEBP_ERROR_UNSUPPORTED): throw ImageDecodeError(kind: .unsupported, source: source, reason: message)
  default: throw ImageDecodeError(kind: .corrupt, source: source, reason: "corrupt WebP: \(message)")
  }
}

extension RGBImage {
  /// width × height × 3 RGB bytes copied out of a C decoder's buffer (which the caller then frees).
  init(copying pixels: UnsafePointer<UInt8>, width: Int, height: Int) {
    self.init(width: width, height: height, pixels: [UInt8](UnsafeBufferPointer(start: pixels, count: width * height * 3)))
  }
}
