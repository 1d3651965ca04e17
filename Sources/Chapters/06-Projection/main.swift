// Chapter 06 — projection heads: image features (768 wide) and text features (384 wide) cannot be
// compared directly. One small network per tower maps each into the same 512-d space, where a dot
// product between unit vectors is a cosine similarity.
//
// Uses Sources/Shared/Models/ProjectionHead.swift and CLIP.swift. Walkthrough: Walkthroughs/06-Projection.md.

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch06-projection",
                                                  abstract: "Chapter 06: the projection heads into the shared space.")
  @Option(help: "Where the pictures go.") var out = "output/ch06-projection"
  @Flag(help: "Use an untrained text tower even when MiniLM is there.") var untrainedText = false
}
let args = Options.parseOrExit()
let outDir = args.out
do { try ensureDirectory(outDir) } catch { fail("cannot create output folder \(outDir): \(error)") }
let notebook = Notebook(title: "Chapter 06 · projection heads into a shared space", steps: 6)
// MARK: 1. inputs: four photos and their captions
// The sample photo (shipped as a resource) and three versions of it made here: wide, grey, tiny.
guard let photoPath = assetPath(BundledAssets.samplePhoto), let photo = try? JPEG.decode(path: photoPath) else {
  fail("cannot read the sample photo \(BundledAssets.samplePhoto) (looked in \(BundledAssets.searchPath))")
}
let wideHeight = photo.width * 3 / 4  // a 4:3 band across the middle, like a landscape shot
let photos: [(name: String, image: RGBImage, caption: String)] = [
  ("grace_hopper.jpg", photo, "a portrait of a woman in a navy uniform"),
  ("wide 320×240", photo.cropped(x: 0, y: (photo.height - wideHeight) / 2, width: photo.width, height: wideHeight)
    .resized(width: 320, height: 240), "a wide photo of an older woman with glasses"),
  ("grey 256×256", photo.cropped(x: 0, y: (photo.height - photo.width) / 2, width: photo.width, height: photo.width)
    .resized(width: 256, height: 256).adjustedSaturation(0), "a black and white picture of a face"),
  ("tiny 150×100", photo.resized(width: 150, height: 100), "a tiny low resolution image of a person"),
]
let transform = EvalTransform()
let pixels = notebook.step("four photos and four captions", "timm eval transform") { () -> Tensor in
  Tensor(shape: [photos.count, 3, 224, 224], storage: photos.flatMap { transform($0.image).storage })
}
for (i, p) in photos.enumerated() { notebook.note("\(i): \(p.name)  —  \"\(p.caption)\"") }

// MARK: 2. image features
let vit = ViT(config: .base16)
let imageOut = notebook.step("image features: ViT-B/16", "deterministic weights (untrained)") { vit.forward(pixels) }
notebook.show("pooled (N, 768)", imageOut.pooled)
notebook.show("logits (N, 1000)", imageOut.logits)

// MARK: 3. text features
let useMiniLM = MiniLM.isAvailable && !args.untrainedText
let encoder: SentenceEncoder = notebook.step("text features: BERT, mean-pooled, normalised",
                                             useMiniLM ? "all-MiniLM-L6-v2 (pretrained)" : "untrained MiniLM-shaped BERT") {
  do {
    if useMiniLM { return try SentenceEncoder(directory: MiniLM.directory) }
    return SentenceEncoder(tokenizer: try BertTokenizer.bundledUncased(), model: BERT(config: .miniLM))
  } catch { fail("\(error)") }
}
if !useMiniLM { notebook.note("for the real text tower: \(MiniLM.fetchCommand)") }
let textFeatures = encoder.embed(photos.map(\.caption))
notebook.show("text (N, 384)", textFeatures)
notebook.note("widths differ (768 vs 384): there is no way to compare an image with a caption yet")

// MARK: 4. the heads
var config = CLIPConfig(vit: .base16, text: encoder.model.config)
config.projectionDim = 512
let clip = CLIP(config: config, vit: vit, text: encoder.model)
let (imageProjected, textProjected) = notebook.step("project both into 512-d", "Linear → GELU → Linear → Dropout → + residual → LayerNorm") {
  (clip.imageHead.forward(imageOut.pooled).0, clip.textHead.forward(textFeatures).0)
}
notebook.note("image head: \(clip.imageHead.projection.weight.shape) then \(clip.imageHead.fc.weight.shape); text head: \(clip.textHead.projection.weight.shape) then \(clip.textHead.fc.weight.shape)")
notebook.show("image (N, 512)", imageProjected)
notebook.show("text (N, 512)", textProjected)

// MARK: 5. norms, then unit vectors
let imageNormalized = l2Normalize(imageProjected), textNormalized = l2Normalize(textProjected)
let (imageUnit, imageNorms) = (imageNormalized.unit, imageNormalized.norms)
let (textUnit, textNorms) = (textNormalized.unit, textNormalized.norms)
notebook.step("L2-normalise", "after the head's LayerNorm each vector has norm ≈ √512 ≈ 22.6")
notebook.note("image norms: " + imageNorms.map { String(format: "%.2f", $0) }.joined(separator: " ") + "  →  1")
notebook.note("text norms:  " + textNorms.map { String(format: "%.2f", $0) }.joined(separator: " ") + "  →  1")

// MARK: 6. cosine similarities before training
let similarity = notebook.step("cosine similarity, images × captions", "before any training") {
  imageUnit.matmul(textUnit, transposeOther: true)
}
notebook.note(formatMatrix(similarity, decimals: 3))
let diagonal = (0..<4).map { similarity[$0, $0] }.reduce(0, +) / 4
let offDiagonal = (similarity.storage.reduce(0, +) - diagonal * 4) / 12
notebook.note(String(format: "mean on the diagonal (true pairs) %.3f vs off it %.3f — no preference yet: the heads are random", diagonal, offDiagonal))
let picture = outDir + "/similarity-before-training.svg"
try? heatmapChart(title: "Images × captions before training: no preference yet", matrix: similarity,
                  rowLabels: photos.map(\.name), columnLabels: photos.indices.map { "caption \($0)" }, xLabel: "caption (numbered as printed above)",
                  yLabel: "image", colourLabel: "cosine", valueFormat: "%.3f").write(to: picture)

print("")
print("pictures:")
print("  \(picture)   images (rows) × captions (columns), before training")
notebook.finish(next: "ch07-contrastive-loss — the loss that makes the diagonal win")
