// clip preprocess: JPEGs to the (3, S, S) tensors a model sees, written as safetensors.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Preprocess: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run timm's eval transform on a JPEG and save the pixel values.",
    discussion: """
      Resize(248, bicubic) → CenterCrop(224) → to [0, 1] → Normalize(mean 0.5, std 0.5), exactly as \
      timm resolves it for vit_base_patch16_224.augreg2_in21k_ft_in1k. Writes tensor `pixel_values`, \
      shape (3, 224, 224), float32, to a safetensors file.

      Example:
        clip preprocess photo.jpg --out photo.safetensors
      """
  )

  @Argument(help: "The JPEG image to preprocess.")
  var image: String

  @Option(name: .long, help: "Output safetensors file.")
  var out: String

  func run() throws {
    // Only an earlier `clip preprocess` output is ever replaced: anything else at --out is the user's.
    if FileManager.default.fileExists(atPath: out) {
      let earlier = try? SafetensorsFile(path: out)
      guard earlier?.metadata["transform"] != nil && earlier?.names == ["pixel_values"] else {
        fail("\(out) already exists and is not an earlier `clip preprocess` output, so it was left as it is; choose another --out")
      }
    }
    let decoded: RGBImage
    do {
      decoded = try JPEG.decode(path: image)
    } catch {
      fail("\(error)")
    }
    let pixels = EvalTransform()(decoded)
    var writer = SafetensorsWriter(metadata: [
      "source": (image as NSString).lastPathComponent,
      "transform": "Resize(248, bicubic) CenterCrop(224) Normalize(0.5, 0.5)",
      "original_size": "\(decoded.width)x\(decoded.height)",
    ])
    writer.add("pixel_values", pixels)
    do {
      try writer.write(to: out)
    } catch {
      fail("\(error)")
    }
    print("wrote \(out): pixel_values (3, 224, 224) float32 from \(decoded.width)×\(decoded.height) \(image)")
  }
}
