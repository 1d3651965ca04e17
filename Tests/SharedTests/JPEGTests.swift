// JPEG decoding equals Pillow's pixels; every bad file is a thrown error, never a crash or exit().

import Foundation
import Shared
import Testing

let decodeFixtureImages = [
  "landscape_320x240", "portrait_200x300_progressive", "square_256_gray", "small_150x100",
  "wide_500x375_444", "odd_333x251_422", "tall_97x301",
]

func fixtureImagePath(_ name: String) -> String { Fixtures.path("images/\(name).jpg") }

func readBytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

func expectImageDecodeError(_ kind: ImageDecodeError.Kind, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
  do {
    try body()
    Issue.record("expected a JPEG error of kind \(kind), got success", sourceLocation: sourceLocation)
  } catch let error as ImageDecodeError {
    #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
    #expect(!error.reason.isEmpty, sourceLocation: sourceLocation)
  } catch {
    Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
  }
}

@Suite("JPEG")
struct JPEGTests {
  @Test("decode equals Pillow exactly (baseline, progressive, grayscale, 4:4:4, 4:2:2)", arguments: decodeFixtureImages)
  func equalsPillow(_ name: String) throws {
    let fixture = try Fixtures.load("ch01-patches")
    let (shape, expected) = try fixture.integers("decoded.\(name)")
    let image = try JPEG.decode(path: fixtureImagePath(name))
    #expect([image.height, image.width, 3] == shape)
    let mismatches = zip(image.pixels, expected).filter { Int($0) != $1 }.count
    #expect(mismatches == 0, "\(name): \(mismatches) of \(expected.count) bytes differ from Pillow")
  }

  @Test func encodeDecodeRoundTrip() throws {
    var image = RGBImage(width: 40, height: 24)
    for y in 0..<24 { for x in 0..<40 { image[x: x, y: y, channel: 0] = UInt8(x * 6); image[x: x, y: y, channel: 1] = UInt8(y * 10); image[x: x, y: y, channel: 2] = 128 } }
    let bytes = try JPEG.encode(image, quality: 95)
    let back = try JPEG.decode(bytes: bytes)
    #expect(back.width == 40 && back.height == 24)
    let worst = zip(back.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.max()!
    #expect(worst <= 12, "quality-95 round trip differs by \(worst) levels")
  }

  @Test("a 1×1 image decodes and goes through the eval transform")
  func onePixel() throws {
    let bytes = try JPEG.encode(RGBImage(width: 1, height: 1, fill: (200, 10, 90)))
    let image = try JPEG.decode(bytes: bytes)
    #expect(image.width == 1 && image.height == 1)
    let pixels = EvalTransform()(image)
    #expect(pixels.shape == [3, 224, 224])
  }

  @Test func emptyFile() {
    let path = temporaryDirectory() + "/empty.jpg"
    _ = FileManager.default.createFile(atPath: path, contents: Data())
    expectImageDecodeError(.empty) { _ = try JPEG.decode(path: path) }
  }

  @Test func truncatedFile() {
    let bytes = readBytes(fixtureImagePath("landscape_320x240"))
    expectImageDecodeError(.corrupt) { _ = try JPEG.decode(bytes: Array(bytes.prefix(bytes.count / 2))) }
    expectImageDecodeError(.corrupt) { _ = try JPEG.decode(bytes: Array(bytes.prefix(300))) }
    expectImageDecodeError(.corrupt) { _ = try JPEG.decode(bytes: [0xFF, 0xD8]) }
  }

  @Test("corrupt entropy-coded data")
  func corruptHuffman() {
    var bytes = readBytes(fixtureImagePath("landscape_320x240"))
    // Find the start of scan (FF DA) and scribble over the entropy-coded data after its header.
    let sos = (0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xDA }!
    var rng = SeededRNG(seed: 3)
    for i in (sos + 40)..<(sos + 2040) { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) | 0x01 }
    expectImageDecodeError(.corrupt) { _ = try JPEG.decode(bytes: bytes) }
  }

  @Test("a PNG named .jpg decodes by its content, as Pillow opens it; a text file named .jpg is refused")
  func notAJPEG() throws {
    let dir = temporaryDirectory()
    let png = dir + "/picture.jpg"
    var picture = RGBImage(width: 4, height: 4)
    picture[x: 1, y: 2, channel: 0] = 200
    try PNG.write(picture, to: png)
    #expect(try JPEG.decode(path: png) == picture)
    let text = dir + "/notes.jpg"
    _ = FileManager.default.createFile(atPath: text, contents: Data("hello, world\n".utf8))
    expectImageDecodeError(.corrupt) { _ = try JPEG.decode(path: text) }
  }

  @Test func directoryAndMissingPath() {
    expectImageDecodeError(.unreadable) { _ = try JPEG.decode(path: temporaryDirectory()) }
    expectImageDecodeError(.unreadable) { _ = try JPEG.decode(path: "/nonexistent/photo.jpg") }
  }

  @Test("a huge declared size is refused before allocating")
  func hugeDeclaredSize() throws {
    var bytes = readBytes(fixtureImagePath("small_150x100"))
    // SOF0 (FF C0): length(2) precision(1) height(2) width(2) — declare 60000 × 60000 (3.6 gigapixels,
    // under libjpeg's own 65500 limit, so our check is the one that refuses it).
    let sof = (0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && (bytes[$0 + 1] == 0xC0 || bytes[$0 + 1] == 0xC2) }!
    for i in [sof + 5, sof + 7] { bytes[i] = 0xEA; bytes[i + 1] = 0x60 }
    expectImageDecodeError(.tooLarge) { _ = try JPEG.decode(bytes: bytes) }
    // A limit can also be set by the caller.
    expectImageDecodeError(.tooLarge) { _ = try JPEG.decode(path: fixtureImagePath("small_150x100"), maxPixels: 1000) }
  }

  @Test("a CMYK JPEG is a clear error")
  func cmyk() {
    expectImageDecodeError(.unsupported) { _ = try JPEG.decode(path: fixtureImagePath("cmyk_64")) }
  }
}
