// PNG decoding (libpng through Sources/CPNGShim) equals Pillow's Image.open(p).convert("RGB") on every
// colour type and bit depth, but for 16-bit samples, scaled as round(v / 257) on purpose
// (Scripts/reference/ch01_png.py says why); bad PNGs and unsupported formats are clear errors.

import Foundation
import Shared
import Testing

let pngFixtures = ["rgb8", "grey8", "rgba8", "greyalpha8", "grey1", "palette", "palette-transparent", "grey16", "rgb16", "rgb8-interlaced"]

@Suite("PNG")
struct PNGTests {
  @Test("decodes to Pillow's convert('RGB') exactly (16-bit: round(v / 257))", arguments: pngFixtures)
  func equalsPillow(_ name: String) throws {
    let (shape, expected) = try Fixtures.load("ch01-png").integers("rgb.\(name)")
    let image = try JPEG.decode(path: Fixtures.path("images/png/\(name).png"))
    #expect([image.height, image.width, 3] == shape)
    let mismatches = zip(image.pixels, expected).filter { Int($0) != $1 }.count
    #expect(mismatches == 0, "\(name): \(mismatches) of \(expected.count) bytes differ")
  }

  @Test("WebP (lossy, lossless, with alpha) decodes to Pillow's convert('RGB')", arguments: ["lossless", "lossy", "alpha"])
  func webpEqualsPillow(_ name: String) throws {
    let (shape, expected) = try Fixtures.load("ch01-png").integers("webp.\(name)")
    let image = try JPEG.decode(path: Fixtures.path("images/png/\(name).webp"))
    #expect([image.height, image.width, 3] == shape)
    let differences = zip(image.pixels, expected).map { abs(Int($0) - $1) }
    let mismatches = differences.filter { $0 != 0 }.count
    #expect(mismatches == 0, "\(name): \(mismatches) of \(expected.count) bytes differ, by at most \(differences.max() ?? 0)")
  }

  @Test("a truncated or corrupt PNG, a corrupt WebP, and HEIC/GIF/TIFF files, are refused with what they are")
  func badFiles() throws {
    let good = readBytes(Fixtures.path("images/png/rgb8.png"))
    expectImageDecodeError(.corrupt) { _ = try JPEG.decode(bytes: Array(good.prefix(good.count / 2))) }
    var flipped = good
    flipped[good.count / 2] ^= 0xFF  // a damaged IDAT: zlib or the CRC says so
    expectImageDecodeError(.corrupt) { _ = try JPEG.decode(bytes: flipped) }
    expectImageDecodeError(.corrupt) { _ = try JPEG.decode(bytes: Array(good.prefix(8))) }
    expectImageDecodeError(.tooLarge) { _ = try JPEG.decode(bytes: good, maxPixels: 100) }
    let webp = readBytes(Fixtures.path("images/png/lossy.webp"))
    expectImageDecodeError(.corrupt) { _ = try JPEG.decode(bytes: Array(webp.prefix(webp.count / 2))) }
    expectImageDecodeError(.tooLarge) { _ = try JPEG.decode(bytes: webp, maxPixels: 100) }
    let kinds: [([UInt8], String)] = [
      (Array("\u{0}\u{0}\u{0}\u{18}ftypheic\u{0}\u{0}".utf8), "a HEIC/HEIF image"),
      (Array("GIF89a\u{1}\u{0}".utf8), "a GIF image"), (Array("II*\u{0}\u{8}\u{0}\u{0}\u{0}".utf8), "a TIFF (or camera RAW) image"),
    ]
    for (bytes, kind) in kinds {
      do {
        _ = try JPEG.decode(bytes: bytes + [UInt8](repeating: 0, count: 32))
        Issue.record("\(kind) decoded")
      } catch let error as ImageDecodeError {
        #expect(error.kind == .unsupported && error.reason.hasPrefix(kind), "\(error)")
      }
    }
  }
}
