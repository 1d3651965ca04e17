// The chapter executables and the clip tool, run as a reader runs them.

import Foundation
import Shared
import Testing

@Suite("Executables", .serialized)
struct ExecutableTests {
  @Test("ch01-patches prints every step and writes its pictures")
  func chapter01() throws {
    let out = temporaryDirectory()
    let result = try runProduct("ch01-patches", ["--out", out], currentDirectory: Fixtures.repositoryRoot)
    #expect(result.status == 0, "\(result.stderr)")
    let text = result.stdout
    for line in ["[1/7] decode JPEG  (grace_hopper.jpg)", "512×600 → 248×290", "offset x 12, y 33",
                 "pixel values  (3, 224, 224)  min -1  max 1", "14×14 = 196 patches, each 3×16×16 = 768 numbers",
                 "tokens        (1, 196, 768)", "[7/7] check: direct Conv2d", "next: ch02-attention"] {
      #expect(text.contains(line), "missing line: \(line)")
    }
    // The direct convolution and im2col + GEMM agree to float rounding.
    let diffLine = text.split(separator: "\n").first { $0.contains("max |conv − im2col·GEMM| = ") }!
    let value = Float(diffLine.split(separator: "=")[1].split(separator: " ")[0])!
    #expect(value < 1e-4)
    for picture in ["cropped.png", "patch-grid.png"] {
      let bytes = readBytes(out + "/" + picture)
      #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(picture) is not a PNG")
    }
  }

  @Test("ch01-patches --image with a bad file fails with a one-line error")
  func chapter01BadImage() throws {
    let result = try runProduct("ch01-patches", ["--image", "/nonexistent.jpg", "--out", temporaryDirectory()])
    #expect(result.status != 0)
    #expect(result.stderr.contains("/nonexistent.jpg: no such file"))
    let unknown = try runProduct("ch01-patches", ["--bogus"])
    #expect(unknown.status == 2 && unknown.stderr.contains("usage:"))
  }

  @Test("clip preprocess equals timm's eval transform")
  func clipPreprocess() throws {
    let out = temporaryDirectory() + "/hopper.safetensors"
    let result = try runProduct("clip", ["preprocess", Fixtures.repositoryRoot + "/Assets/grace_hopper.jpg", "--out", out])
    #expect(result.status == 0, "\(result.stderr)")
    let written = try SafetensorsFile(path: out).tensor("pixel_values")
    let expected = try Fixtures.load("ch01-patches").tensor("pixel_values.grace_hopper")
    expectClose(written, expected, atol: 0, rtol: 0, "clip preprocess")
  }

  @Test("clip preprocess: missing, corrupt and non-JPEG inputs give one-line errors and exit non-zero")
  func clipPreprocessErrors() throws {
    let dir = temporaryDirectory()
    let bad = dir + "/bad.jpg"
    _ = FileManager.default.createFile(atPath: bad, contents: Data("not a jpeg".utf8))
    let truncated = dir + "/truncated.jpg"
    _ = FileManager.default.createFile(atPath: truncated, contents: Data(readBytes(fixtureImagePath("landscape_320x240")).prefix(2000)))
    for (input, expected) in [(dir + "/missing.jpg", "no such file"), (bad, "not a JPEG file"), (truncated, "corrupt JPEG")] {
      let result = try runProduct("clip", ["preprocess", input, "--out", dir + "/x.safetensors"])
      #expect(result.status == 1)
      let lines = result.stderr.split(separator: "\n")
      #expect(lines.count == 1 && lines[0].hasPrefix("error: \(input)") && lines[0].contains(expected), "\(result.stderr)")
    }
    #expect(!FileManager.default.fileExists(atPath: dir + "/x.safetensors"))
    let usage = try runProduct("clip", ["preprocess"])
    #expect(usage.status != 0 && usage.stderr.contains("Usage: clip preprocess"))
  }
}
