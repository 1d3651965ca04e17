// `clip` — the practical command-line tool: the same Shared library the chapters teach, as commands.

import ArgumentParser
import Foundation
import Shared

@main
struct Clip: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "clip",
    abstract: "CLIP from scratch in Swift: preprocess images, embed, train, search.",
    subcommands: [Preprocess.self]
  )
}

/// Prints `error: …` to standard error and exits non-zero (without argument-parser's usage text,
/// which is for mistakes in the command line, not in the input files).
func exitWithError(_ message: String) -> Never {
  FileHandle.standardError.write(Data("error: \(message)\n".utf8))
  Foundation.exit(1)
}

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
    let decoded: RGBImage
    do {
      decoded = try JPEG.decode(path: image)
    } catch {
      exitWithError("\(error)")
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
      exitWithError("\(error)")
    }
    print("wrote \(out): pixel_values (3, 224, 224) float32 from \(decoded.width)×\(decoded.height) \(image)")
  }
}
