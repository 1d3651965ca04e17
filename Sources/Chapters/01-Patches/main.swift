// Chapter 01 — from a JPEG to the 196 patch tokens a Vision Transformer reads.
//
//   decode → Resize(248, bicubic) → CenterCrop(224) → normalise → cut 16×16 patches → patch embedding
//
// Every step is the code in Sources/Shared (Image/, Layers/PatchEmbedding.swift); this file only
// runs them in order and shows what each produced. Walkthrough: Walkthroughs/01-Patches.md.

import ArgumentParser
import Foundation
import Kernels
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch01-patches",
                                                  abstract: "Chapter 01: a JPEG → timm's eval transform → 196 patch tokens.")
  @Option(help: "The JPEG to use (default: Assets/grace_hopper.jpg).") var image: String?
  @Option(help: "Where the pictures go.") var out = "output/ch01-patches"
}
let args = Options.parseOrExit()
let outDir = args.out
let notebook = Notebook(title: "Chapter 01 · image → patches → patch embedding", steps: 7)
do { try ensureDirectory(outDir) } catch { fail("cannot create output folder \(outDir): \(error)") }

// MARK: 1. decode
let imagePath: String = args.image ?? {
  if let path = assetPath(BundledAssets.samplePhoto) { return path }
  fail("cannot find the sample photo \(BundledAssets.samplePhoto) (in \(BundledAssets.searchPath)); pass --image PATH")
}()
let image: RGBImage
do {
  let format = imageFormat(of: [UInt8](FileManager.default.contents(atPath: imagePath)?.prefix(12) ?? Data()))
  let kind = format == .png ? "decode PNG (libpng)" : format == .webp ? "decode WebP (libwebp)" : "decode JPEG"
  image = try notebook.step(kind, (imagePath as NSString).lastPathComponent) {
    try JPEG.decode(path: imagePath)
  }
} catch {
  fail("\(error)")
}
notebook.note("\(image.width)×\(image.height) pixels, 3 channels (RGB, 8 bits each) = \(image.pixels.count) bytes")
notebook.note("top-left pixel RGB = (\(image[x: 0, y: 0, channel: 0]), \(image[x: 0, y: 0, channel: 1]), \(image[x: 0, y: 0, channel: 2]))")

// MARK: 2. resize
let config = EvalTransformConfig()
let target = torchvisionResizeSize(width: image.width, height: image.height, shorterSide: config.resizeShorterSide)
// This chapter shows the whole resized image; an extreme aspect ratio would make it enormous.
if target.width * target.height > 50_000_000 {
  fail("\(imagePath) is \(image.width)×\(image.height): resized to \(target.width)×\(target.height) it would not fit in memory to show. "
    + "(The library's EvalTransform resamples only the centre crop and takes it fine.)")
}
let resized = notebook.step("resize, shorter side → \(config.resizeShorterSide)",
                            "\(image.width)×\(image.height) → \(target.width)×\(target.height), bicubic") {
  image.resizedShorterSide(to: config.resizeShorterSide)
}
let scale = Double(image.width) / Double(target.width)
let verticalFirst = resizeRunsVerticalFirst(inWidth: image.width, inHeight: image.height,
                                            outWidth: target.width, outHeight: target.height)
notebook.note("Pillow-exact: two passes (\(verticalFirst ? "vertical, then horizontal" : "horizontal, then vertical")), 22-bit fixed-point weights, bytes after each pass")
notebook.note(scale > 1
  ? String(format: "shrinking by %.3f → bicubic support widened to ±%.2f source pixels (antialiasing)", scale, 2 * scale)
  : String(format: "enlarging (scale %.3f) → the bicubic support stays ±2 source pixels: nothing to antialias", scale))

// MARK: 3. crop
let left = centerCropOffset(size: resized.width, crop: config.cropSize)
let top = centerCropOffset(size: resized.height, crop: config.cropSize)
let cropped = notebook.step("center crop \(config.cropSize)×\(config.cropSize)", "offset x \(left), y \(top)") {
  resized.centerCropped(width: config.cropSize, height: config.cropSize)
}
let cropPath = outDir + "/cropped.png"
try? PNG.write(cropped.upscaled(by: 2), to: cropPath)

// MARK: 4. normalise
let pixels = notebook.step("to tensor, normalise", "x = (byte/255 − 0.5) / 0.5 ∈ [−1, 1]") {
  cropped.normalizedTensor(mean: config.mean, std: config.std)
}
notebook.show("pixel values", pixels)
for (c, name) in ["R", "G", "B"].enumerated() {
  let plane = pixels.rows(c..<(c + 1))
  notebook.note("  channel \(name): mean \(formatNumber(Float(plane.summary().mean)))")
}

// MARK: 5. patches
let patchSize = 16
let batch = pixels.reshaped([1, 3, config.cropSize, config.cropSize])
let patches = notebook.step("cut into \(patchSize)×\(patchSize) patches", "im2col") {
  extractPatches(batch, patchSize: patchSize)
}
let grid = config.cropSize / patchSize
notebook.show("patches", patches)
notebook.note("\(grid)×\(grid) = \(grid * grid) patches, each 3×\(patchSize)×\(patchSize) = \(3 * patchSize * patchSize) numbers")
notebook.note("patch (row 0, col 0) starts with R pixels (0,0)…(0,3): "
  + (0..<4).map { formatNumber(patches[0, 0, $0]) }.joined(separator: ", "))
let gridPath = outDir + "/patch-grid.png"
try? PNG.write(explodedPatchGrid(cropped, patch: patchSize), to: gridPath)

// MARK: 6. patch embedding
let width = 768
let embedding = PatchEmbedding(
  weight: Tensor.deterministic([width, 3, patchSize, patchSize], name: "patch_embed.proj.weight", scale: 0.02),
  bias: Tensor.deterministic([width], name: "patch_embed.proj.bias", scale: 0.02))
notebook.note("weights: deterministic (untrained) — the same numbers the PyTorch reference uses")
let t0 = now()
let (tokens, _) = notebook.step("patch embedding", "(196 × 768) · (768 × 768)ᵀ + bias, one GEMM") {
  embedding.forward(batch)
}
let gemmSeconds = now() - t0
notebook.show("tokens", tokens)
notebook.note(String(format: "im2col + GEMM 196×768×768: %.1f MFLOP in %@ (%.1f GFLOP/s, %d threads)",
                     2.0 * 196 * 768 * 768 / 1e6, formatDuration(gemmSeconds),
                     2.0 * 196 * 768 * 768 / gemmSeconds / 1e9, kernelThreads))

// MARK: 7. the same thing as a convolution
let maxDifference = notebook.step("check: direct Conv2d(3, 768, 16, stride 16)", "sliding the kernel, no im2col") {
  () -> Float in
  // out[d, gy, gx] = bias[d] + Σ_c Σ_ky Σ_kx w[d, c, ky, kx] · x[c, gy·16 + ky, gx·16 + kx]
  var worst: Float = 0
  let s = config.cropSize
  embedding.weight.withUnsafePointer { w in
    pixels.withUnsafePointer { x in
      for gy in 0..<grid {
        for gx in 0..<grid {
          for d in 0..<width {
            var sum = embedding.bias.storage[d]
            for c in 0..<3 {
              for ky in 0..<patchSize {
                for kx in 0..<patchSize {
                  sum += w[((d * 3 + c) * patchSize + ky) * patchSize + kx]
                    * x[(c * s + gy * patchSize + ky) * s + gx * patchSize + kx]
                }
              }
            }
            worst = max(worst, abs(sum - tokens[0, gy * grid + gx, d]))
          }
        }
      }
    }
  }
  return worst
}
notebook.note("max |conv − im2col·GEMM| = \(formatNumber(maxDifference))  (float rounding only: the two are the same sum)")

print("")
print("pictures:")
print("  \(cropPath)   the 224×224 crop the ViT sees (shown 2×)")
print("  \(gridPath)   the 14×14 grid of patches = the 196 tokens")
notebook.finish(next: "ch02-attention — how the 196 tokens look at each other")
