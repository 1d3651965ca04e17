// Chapter 03 — the Vision Transformer: twelve attention + MLP blocks turn 197 tokens into an image
// feature and 1000 class logits.
//
// Assembles ViT-B/16 (timm's vit_base_patch16_224) from Sources/Shared/Models/ViT.swift, runs a photo
// through it block by block, prints the top classes, draws the attention rollout, and times batch 1
// and 8. `--weights PATH` loads a real timm checkpoint (safetensors, timm key names); otherwise the
// weights are deterministic and untrained. Walkthrough: Walkthroughs/03-ViT.md.

import ArgumentParser
import Foundation
import Kernels
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch03-vit",
                                                  abstract: "Chapter 03: the ViT-B/16 image tower block by block, and attention rollout.")
  @Option(help: "The JPEG to use (default: Assets/grace_hopper.jpg).") var image: String?
  @Option(help: "timm ViT weights (safetensors); without them the weights are deterministic and untrained.") var weights: String?
  @Option(help: "base (vit_base_patch16_224) or small.") var config = "base"
  @Option(help: "Where the pictures go.") var out = "output/ch03-vit"
  @Flag(help: "Skip the batch-of-8 timing.") var skipBatch = false

  func validate() throws {
    guard ViTConfig.named(config) != nil else { throw ValidationError("unknown --config '\(config)' (use base or small)") }
  }
}
let args = Options.parseOrExit()
let outDir = args.out
do { try ensureDirectory(outDir) } catch { fail("cannot create output folder \(outDir): \(error)") }
let config = ViTConfig.named(args.config)!
let notebook = Notebook(title: "Chapter 03 · the Vision Transformer (\(args.config == "small" ? "the tests' small ViT, 32 px" : "ViT-B/16"))", steps: 7)

// MARK: 1. the model
let model: ViT = notebook.step("build the model", "\(config.depth) blocks, width \(config.width), \(config.heads) heads, MLP \(config.mlpDim)") {
  if let path = args.weights {
    do { return try ViT(config: config, checkpointPath: path) } catch { fail("\(error)") }
  }
  return ViT(config: config)
}
if let path = args.weights {
  notebook.note("weights: \(path) (timm checkpoint, every key and shape validated)")
} else {
  notebook.note("weights: deterministic, UNTRAINED — the logits below are meaningless. For the real model:")
  notebook.note("  python -c \"import timm, safetensors.torch as st; m = timm.create_model('vit_base_patch16_224.augreg2_in21k_ft_in1k', pretrained=True); st.save_file(m.state_dict(), 'vit.safetensors')\"")
  notebook.note("  then: swift run -c release ch03-vit --weights vit.safetensors")
}
notebook.note("\(model.parameterCount) parameters (\(String(format: "%.1f", Double(model.parameterCount) * 4 / 1e6)) MB as float32)")

// MARK: 2. the input
let imagePath = args.image ?? assetPath(BundledAssets.samplePhoto) ?? BundledAssets.samplePhoto
let photo: RGBImage
do { photo = try JPEG.decode(path: imagePath) } catch { fail("\(error)") }
let transform = EvalTransform()
let cropped = transform.cropped(photo).resized(width: config.imageSize, height: config.imageSize)
let pixels = notebook.step("preprocess", "\((imagePath as NSString).lastPathComponent) → (1, 3, \(config.imageSize), \(config.imageSize))") {
  cropped.normalizedTensor(mean: transform.config.mean, std: transform.config.std)
    .reshaped([1, 3, config.imageSize, config.imageSize])
}

// MARK: 3. block by block
var blockLines: [String] = []
let output = notebook.step("forward, block by block", "\(config.numTokens) tokens × \(config.width)") {
  model.forward(pixels) { i, x, seconds in
    let s = x.summary()
    blockLines.append(String(format: "block %2d  %@  std %6.3f  |x| max %6.2f  · %@", i, "\(x.shape)" as NSString,
                             s.std, max(abs(s.min), abs(s.max)), formatDuration(seconds) as NSString))
  }
}
notebook.show("embedded", output.cache.embedded)  // class token + 196 patch tokens, positions added
for line in blockLines { notebook.note(line) }
notebook.show("final norm", output.tokens)

// MARK: 4. two outputs
notebook.step("outputs", "pooled class token and ImageNet logits")
notebook.show("pooled (B, D)", output.pooled)
notebook.show("logits (B, C)", output.logits)
notebook.note("pooled: the class token after the final LayerNorm — the image feature CLIP models usually project")
notebook.note("logits: head(pooled), 1000 ImageNet scores — what the seed's CLIP uses as its 'image embedding'")

// MARK: 5. top classes
let classNames: [String] = {
  guard let path = assetPath(BundledAssets.imagenetClasses), let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
  return text.split(separator: "\n").map(String.init)
}()
notebook.step("top-5 classes", "softmax over the logits")
if config.numClasses > 0 {
  let probs = output.logits.softmaxLastDim()
  let top = probs.storage.enumerated().sorted { $0.element > $1.element }.prefix(5)
  for (i, p) in top {
    let name = i < classNames.count && config.numClasses == 1000 ? classNames[i] : "class \(i)"
    notebook.note(String(format: "%6.2f%%  %4d  %@", p * 100, i, name as NSString))
  }
  if args.weights == nil { notebook.note("(untrained weights: a near-uniform, meaningless distribution)") }
}

// MARK: 6. attention rollout
let rolloutPath = outDir + "/attention-rollout.png"
notebook.step("attention rollout", "Â = ½·mean_heads(A) + ½·I, multiplied over \(config.depth) layers") {
  let heat = attentionRollout(output.attention, grid: config.gridSize)
  let base = transform.cropped(photo)
  try? PNG.write(sideBySide([base, overlayHeatmap(base, heat: heat)]).upscaled(by: 2), to: rolloutPath)
}
notebook.note("how much each patch feeds the class token through all layers (left: input, right: rollout)")

// MARK: 7. timing
if !args.skipBatch {
  notebook.step("forward time", "median of 3, \(kernelThreads) threads")
  for batch in [1, 8] {
    let input = Tensor(shape: [batch, 3, config.imageSize, config.imageSize],
                       storage: Array((0..<batch).map { _ in pixels.storage }.joined()))
    _ = model.forward(input)  // warm-up
    var times: [Double] = []
    for _ in 0..<3 {
      let t0 = now()
      _ = model.forward(input)
      times.append(now() - t0)
    }
    let median = times.sorted()[1]
    notebook.note(String(format: "batch %d: %@  (%.1f images/s)", batch, formatDuration(median) as NSString,
                         Double(batch) / median))
  }
}

print("")
print("pictures:")
print("  \(rolloutPath)   attention rollout over the input")
notebook.finish(next: "ch04-tokenizer — turning captions into token ids")
