// timm's eval transform for the seed's ViT, reproduced pixel for pixel; the train transform's
// determinism and neutral cases.

import Shared
import Testing

/// The decode fixtures, the photo, and three tall photos on both sides of Pillow 13's pass-order rule.
let transformFixtureImages = decodeFixtureImages + ["grace_hopper", "tall_300x620", "tall_300x600", "tall_249x700"]

/// Resize case `i` of ch01-patches.safetensors: the noise input, the target size, the filter and Pillow's bytes.
func resizeCase(_ i: Int) throws -> (input: RGBImage, width: Int, height: Int, filter: ResampleFilter, expected: [Int]) {
  let fixture = try Fixtures.load("ch01-patches")
  let spec = try fixture.integers("resize.\(i).spec").values
  let input = RGBImage(width: spec[0], height: spec[1], pixels: try fixture.integers("resize.\(i).input").values.map { UInt8($0) })
  return (input, spec[2], spec[3], spec[4] == 0 ? .bicubic : .bilinear, try fixture.integers("resize.\(i).output").values)
}

@Suite("Transforms")
struct TransformTests {
  @Test("Resize(248) + CenterCrop(224) equals torchvision + Pillow byte for byte", arguments: transformFixtureImages)
  func cropEqualsTimm(_ name: String) throws {
    let fixture = try Fixtures.load("ch01-patches")
    let path = name == "grace_hopper" ? Fixtures.repositoryRoot + "/Assets/grace_hopper.jpg" : fixtureImagePath(name)
    let image = try JPEG.decode(path: path)
    let size = try fixture.integers("resized_size.\(name)").values
    let target = torchvisionResizeSize(width: image.width, height: image.height, shorterSide: 248)
    #expect([target.width, target.height] == size)
    let (shape, expected) = try fixture.integers("crop.\(name)")
    let cropped = EvalTransform().cropped(image)
    #expect([cropped.height, cropped.width, 3] == shape)
    let diffs = zip(cropped.pixels, expected).map { abs(Int($0) - $1) }
    #expect(diffs.max() == 0, "\(name): \(diffs.filter { $0 > 0 }.count) bytes differ, worst by \(diffs.max()!) levels")
  }

  @Test("the full eval transform equals timm's pixel_values exactly")
  func pixelValuesEqualTimm() throws {
    let fixture = try Fixtures.load("ch01-patches")
    let expected = try fixture.tensor("pixel_values.grace_hopper")
    let ours = EvalTransform()(try JPEG.decode(path: Fixtures.repositoryRoot + "/Assets/grace_hopper.jpg"))
    expectClose(ours, expected, atol: 0, rtol: 0, "pixel_values")
  }

  @Test("Image.resize equals Pillow 13 byte for byte on both sides of its pass-order rule", arguments: 0..<48)
  func resizeEqualsPillow(_ i: Int) throws {
    let (input, outW, outH, filter, expected) = try resizeCase(i)
    let (inW, inH) = (input.width, input.height)
    let out = input.resized(width: outW, height: outH, filter: filter)
    let diffs = zip(out.pixels, expected).map { abs(Int($0) - $1) }
    let order = resizeRunsVerticalFirst(inWidth: inW, inHeight: inH, outWidth: outW, outHeight: outH) ? "vertical first" : "horizontal first"
    #expect(out.pixels.count == expected.count)
    #expect(diffs.max() == 0, "\(inW)×\(inH) → \(outW)×\(outH) (\(order)): \(diffs.filter { $0 > 0 }.count) bytes differ, worst by \(diffs.max() ?? -1)")
  }

  @Test("resizing only a region gives the bytes of the full resize, cropped; a 1×60000 photo costs only its crop", arguments: 0..<48)
  func regionEqualsFullResize(_ i: Int) throws {
    let (input, outW, outH, _, _) = try resizeCase(i)
    let (inW, inH) = (input.width, input.height)
    let full = input.resized(width: outW, height: outH)
    var rng = SeededRNG(seed: UInt64(i))
    let x0 = Int(rng.next() % UInt64(outW)), y0 = Int(rng.next() % UInt64(outH))
    let x1 = x0 + 1 + Int(rng.next() % UInt64(outW - x0)), y1 = y0 + 1 + Int(rng.next() % UInt64(outH - y0))
    let region = input.resized(width: outW, height: outH, keeping: x0..<x1, y0..<y1)
    #expect(region == full.cropped(x: x0, y: y0, width: x1 - x0, height: y1 - y0), "\(inW)×\(inH) → \(outW)×\(outH), region x \(x0)..<\(x1) y \(y0)..<\(y1)")
    if i == 0 {
      let thin = RGBImage(width: 1, height: 60_000, fill: (200, 10, 10))
      let crop = EvalTransform().cropped(thin)  // resized to 248×14880000 in principle: only the crop is made
      #expect(crop.width == 224 && crop.height == 224 && crop == RGBImage(width: 224, height: 224, fill: (200, 10, 10)))
    }
  }

  @Test("the pass-order rule at its boundary")
  func passOrderRule() {
    #expect(resizeRunsVerticalFirst(inWidth: 300, inHeight: 620, outWidth: 248, outHeight: 512))  // 108 > 104
    #expect(!resizeRunsVerticalFirst(inWidth: 300, inHeight: 600, outWidth: 248, outHeight: 496))  // 104 = 104: a tie
    #expect(!resizeRunsVerticalFirst(inWidth: 97, inHeight: 301, outWidth: 248, outHeight: 769))  // upscale
    #expect(resizeRunsVerticalFirst(inWidth: 20, inHeight: 60, outWidth: 30, outHeight: 20))  // wider, shorter
    #expect(!resizeRunsVerticalFirst(inWidth: 500, inHeight: 375, outWidth: 330, outHeight: 248))  // wide photo
  }

  @Test func resizeSizeAndCropOffsets() {
    #expect(torchvisionResizeSize(width: 640, height: 480, shorterSide: 248) == (330, 248))
    #expect(torchvisionResizeSize(width: 97, height: 301, shorterSide: 248) == (248, 769))
    #expect(torchvisionResizeSize(width: 248, height: 300, shorterSide: 248) == (248, 300))
    // round-half-to-even: (249 − 224)/2 = 12.5 → 12, (251 − 224)/2 = 13.5 → 14
    #expect(centerCropOffset(size: 249, crop: 224) == 12)
    #expect(centerCropOffset(size: 251, crop: 224) == 14)
  }

  @Test("resizing to the same size is the identity; a flat image stays flat")
  func resizeInvariants() {
    let flat = RGBImage(width: 37, height: 23, fill: (10, 200, 77))
    #expect(flat.resized(width: 37, height: 23) == flat)
    let up = flat.resized(width: 101, height: 11)
    #expect(up.pixels.count == 101 * 11 * 3)
    #expect(up == RGBImage(width: 101, height: 11, fill: (10, 200, 77)))
  }

  @Test("train transform: seeded, 224×224, in range")
  func trainTransform() throws {
    let image = try JPEG.decode(path: fixtureImagePath("landscape_320x240"))
    let transform = TrainTransform()
    var rng1 = SeededRNG(seed: 42), rng2 = SeededRNG(seed: 42), rng3 = SeededRNG(seed: 43)
    let a = transform(image, rng: &rng1), b = transform(image, rng: &rng2), c = transform(image, rng: &rng3)
    #expect(a.shape == [3, 224, 224])
    #expect(a == b)
    #expect(a != c)
    #expect(a.storage.allSatisfy { $0 >= -1 && $0 <= 1 })
    // Neutral jitter factors leave the image unchanged.
    #expect(image.adjustedBrightness(1) == image)
    #expect(image.adjustedContrast(1) == image)
    #expect(image.adjustedSaturation(1) == image)
    // Crop boxes always fit inside the image.
    var rng = SeededRNG(seed: 1)
    for _ in 0..<500 {
      let box = transform.cropBox(width: 320, height: 240, rng: &rng)
      #expect(box.x >= 0 && box.y >= 0 && box.x + box.w <= 320 && box.y + box.h <= 240 && box.w > 0 && box.h > 0)
    }
  }
}
