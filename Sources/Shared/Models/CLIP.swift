// CLIP: the image tower (ViT), the text tower (BERT, mean-pooled and normalised), one projection head
// each into a shared P-dimensional space, and a learnable logit scale. The model computes embeddings
// and backpropagates gradients given to it; the loss that makes those gradients is the training
// step's (Training/TrainStep.swift), so the same model trains on local or gathered rows.
//
//   N pairs, P projection width
//   image_feature = ViT(pixels).pooled  (or .logits, as the seed does)        (N, E_img)
//   text_feature  = normalize(meanPool(BERT(ids)))                            (N, E_txt)
//   I = image_projection(image_feature),  T = text_projection(text_feature)   (N, P) each
//   (the step: loss = contrastiveLoss(I, T, logit_scale), Layers/ContrastiveLoss.swift; then backward
//    from dL/dI, dL/dT, dL/dlogit_scale)

import Foundation
import IO
import Layers
import TensorCore
import Text

/// Which ViT output feeds the image projection head.
public enum ImageFeature: String, Sendable, Codable {
  case pooled  // the class token (768 for ViT-B/16): what CLIP models project
  case logits  // the 1000 ImageNet logits: what the seed projects
}

public struct CLIPConfig: Sendable, Equatable, Codable {
  public var vit: ViTConfig  // image tower
  public var text: BERTConfig  // text tower
  public var projectionDim = 512  // P: the shared space
  public var dropout: Float = 0.1  // in the projection heads
  public var imageFeature: ImageFeature = .pooled
  public var loss: ContrastiveLossKind = .standard  // how logit_scale is read: exp(s) (standard) or s (the seed's)
  public var initialLogitScale: Float = Float(log(1 / 0.07))  // ln(1/0.07) ≈ 2.659
  public var maxTextLength = 64  // tokens per caption, [CLS] and [SEP] included
  public var head: ProjectionKind = .seed  // the projection heads: the seed's MLP, or one Linear
  public var initialisation: Initialisation = .uniform  // how a fresh model's towers are filled

  /// How a fresh model's towers start. Both are deterministic functions of (key, seed), so the PyTorch
  /// twin starts from the same numbers (it reads initial.safetensors).
  public enum Initialisation: String, Sendable, Codable, CaseIterable {
    case uniform  // every tensor uniform ±0.02, norm weights 1 ± 0.1 (the fixtures' deterministic fill)
    case standard  // timm's and BERT's: weights and embeddings N(0, 0.02²), biases 0, norms 1 and 0
  }

  public init(vit: ViTConfig, text: BERTConfig) {
    self.vit = vit
    self.text = text
  }

  /// Reads configurations saved before `head` and `initialisation` existed (the seed's heads, uniform).
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    vit = try c.decode(ViTConfig.self, forKey: .vit)
    text = try c.decode(BERTConfig.self, forKey: .text)
    projectionDim = try c.decode(Int.self, forKey: .projectionDim)
    dropout = try c.decode(Float.self, forKey: .dropout)
    imageFeature = try c.decode(ImageFeature.self, forKey: .imageFeature)
    loss = try c.decode(ContrastiveLossKind.self, forKey: .loss)
    initialLogitScale = try c.decode(Float.self, forKey: .initialLogitScale)
    maxTextLength = try c.decode(Int.self, forKey: .maxTextLength)
    head = try c.decodeIfPresent(ProjectionKind.self, forKey: .head) ?? .seed
    initialisation = try c.decodeIfPresent(Initialisation.self, forKey: .initialisation) ?? .uniform
  }

  /// The seed's model: ViT-B/16 + BERT-base, 512-d heads, and the seed's choices (logits as the image
  /// feature, its loss) — switch `imageFeature`/`loss` to `.pooled`/`.standard` for standard CLIP.
  public static let seed: CLIPConfig = {
    var c = CLIPConfig(vit: .base16, text: .base)
    c.imageFeature = .logits
    c.loss = .seedFaithful
    c.maxTextLength = 200
    return c
  }()

  /// A tiny CLIP for tests: the small ViT (width 64) and a small BERT (width 32), 16-d heads.
  public static let testTiny: CLIPConfig = {
    var text = BERTConfig()
    text.vocabSize = 1000; text.hiddenSize = 32; text.layers = 2; text.heads = 4; text.intermediateSize = 64; text.maxPositions = 64
    var c = CLIPConfig(vit: .small, text: text)
    c.projectionDim = 16
    c.maxTextLength = 16
    return c
  }()

  var imageFeatureWidth: Int { imageFeature == .pooled ? vit.width : vit.numClasses }
}

extension CLIPConfig: CheckedConfiguration {
  public func check(_ c: inout ConfigurationCheck) {
    c.nested("vit", vit)
    c.nested("text", text)
    c.atLeast(projectionDim, "projectionDim", maximum: 1 << 16)
    c.within(Double(dropout), 0..<1, "dropout")
    c.require(initialLogitScale.isFinite && initialLogitScale < 80, "initialLogitScale",
              "must be finite and below 80 (exp of it is the logit multiplier), got \(initialLogitScale)")
    c.atLeast(maxTextLength, "maxTextLength", minimum: 2)
    c.require(maxTextLength <= text.maxPositions, "maxTextLength",
              "must be at most text.maxPositions \(text.maxPositions), got \(maxTextLength)")
    c.require(imageFeature != .logits || vit.numClasses > 0, "imageFeature", "is logits but vit.numClasses is 0")
  }

  /// The largest terms of the parameter count (a lower bound; see BERTConfig.parameterLowerBound).
  public var parameterLowerBound: Double {
    vit.parameterLowerBound + text.parameterLowerBound
      + Double(projectionDim) * (Double(imageFeatureWidth) + Double(text.hiddenSize) + 2 * Double(projectionDim))
  }
}

public struct CLIP: Sendable {
  public var config: CLIPConfig
  public var vit: ViT
  public var text: BERT
  public var imageHead: ProjectionHead
  public var textHead: ProjectionHead
  public var logitScale: Tensor  // (1)

  // MARK: Checkpoint keys → properties (the seed's CLIPModel names)

  public static func parameterTable(_ config: CLIPConfig) -> [Parameter<CLIP>] {
    var table: [Parameter<CLIP>] = []
    table += ViT.parameterTable(config.vit).map { Parameter(prefix: "image_encoder.model.", $0, at: \CLIP.vit) }
    table += BERT.parameterTable(config.text).map { Parameter(prefix: "text_encoder.model.", $0, at: \CLIP.text) }
    table += ProjectionHead.parameterTable(prefix: "image_projection.", \CLIP.imageHead, kind: config.head)
    table += ProjectionHead.parameterTable(prefix: "text_projection.", \CLIP.textHead, kind: config.head)
    table.append(Parameter("logit_scale", \.logitScale))
    return table
  }

  // MARK: Construction

  /// Towers from the deterministic generator (or the caller's pretrained ones), heads initialised as
  /// PyTorch's nn.Linear does (uniform ±1/√fan_in) from `seed`.
  public init(config: CLIPConfig, vit: ViT? = nil, text: BERT? = nil, seed: UInt64 = 0) {
    self.config = config
    self.vit = vit ?? ViT(config: config.vit, seed: seed)
    self.text = text ?? BERT(config: config.text, seed: seed)
    imageHead = ProjectionHead(inputWidth: config.imageFeatureWidth, outputWidth: config.projectionDim, dropout: config.dropout, kind: config.head)
    textHead = ProjectionHead(inputWidth: config.text.hiddenSize, outputWidth: config.projectionDim, dropout: config.dropout, kind: config.head)
    logitScale = Tensor(shape: [1], storage: [config.initialLogitScale])
    imageHead = Self.linearDefaultInit(imageHead, name: "image_projection", seed: seed)
    textHead = Self.linearDefaultInit(textHead, name: "text_projection", seed: seed)
    if config.initialisation == .standard {
      if vit == nil { self.vit = Self.standardInit(self.vit, table: ViT.parameterTable(config.vit), seed: seed) }
      if text == nil { self.text = Self.standardInit(self.text, table: BERT.parameterTable(config.text), seed: seed) }
    }
  }

  /// timm's and BERT's initialisation, deterministically from (key, seed): norm weights 1, biases and norm
  /// biases 0, everything else (weights, embeddings, class token, positions) N(0, 0.02²).
  static func standardInit<Tower>(_ tower: Tower, table: [Parameter<Tower>], seed: UInt64) -> Tower {
    var t = tower
    for p in table {
      let key = p.key.lowercased(), shape = p.get(t).shape
      if key.hasSuffix(".bias") {
        p.set(&t, .zeros(shape))
      } else if key.contains("norm") && key.hasSuffix(".weight") {
        p.set(&t, Tensor(shape: shape, repeating: 1))
      } else {
        p.set(&t, Tensor.deterministicNormal(shape, name: p.key, seed: seed, std: 0.02))
      }
    }
    return t
  }

  /// nn.Linear's default initialisation, deterministically: weight and bias uniform in ±1/√fan_in.
  static func linearDefaultInit(_ head: ProjectionHead, name: String, seed: UInt64) -> ProjectionHead {
    var h = head
    for (path, suffix) in [(\ProjectionHead.projection, "projection"), (\ProjectionHead.fc, "fc")] {
      let bound = 1 / Float(h[keyPath: path].inFeatures).squareRoot()
      h[keyPath: path].weight = Tensor.deterministic(h[keyPath: path].weight.shape, name: "\(name).\(suffix).weight", seed: seed, scale: bound)
      h[keyPath: path].bias = Tensor.deterministic(h[keyPath: path].bias.shape, name: "\(name).\(suffix).bias", seed: seed, scale: bound)
    }
    return h
  }

  public func zeroGradients() -> CLIP { zerosLike(self, table: Self.parameterTable(config)) }

  public var parameterCount: Int { Self.parameterTable(config).reduce(0) { $0 + $1.get(self).count } }
}

// MARK: - Forward and backward

/// Everything one forward pass produced: the two projections, and what backward needs.
public struct CLIPForward: Sendable {
  public var image: ViTOutput
  public var text: BERTOutput
  public var batch: TokenBatch
  public var imageHeadCache: ProjectionHeadCache
  public var textHeadCache: ProjectionHeadCache
  public var imageProjection: Tensor  // (N, P)
  public var textProjection: Tensor  // (N, P)
}

extension CLIP {
  func imageFeature(_ out: ViTOutput) -> Tensor { config.imageFeature == .pooled ? out.pooled : out.logits }

  /// Forward pass. `dropout` draws the heads' dropout masks and advances (nil: no dropout).
  public func forward(pixels: Tensor, batch: TokenBatch, dropout: inout SeededRNG?) -> CLIPForward {
    var masks: DropoutMasks? = nil
    if var rng = dropout, config.dropout > 0 {
      let shape = [batch.batchSize, config.projectionDim]
      masks = DropoutMasks(image: dropoutMask(shape: shape, p: config.dropout, rng: &rng), text: dropoutMask(shape: shape, p: config.dropout, rng: &rng))
      dropout = rng
    }
    return forward(pixels: pixels, batch: batch, dropoutMasks: masks)
  }

  /// Forward pass with explicit dropout masks (multipliers), or none. `keepCaches: false` (validation)
  /// drops each block's cache as it goes; such a step cannot be passed to `backward`.
  public func forward(pixels: Tensor, batch: TokenBatch, dropoutMasks: DropoutMasks?, keepCaches: Bool = true) -> CLIPForward {
    precondition(pixels.shape[0] == batch.batchSize, "\(pixels.shape[0]) images but \(batch.batchSize) captions")
    let image = vit.forward(pixels, keepCaches: keepCaches)
    let textOut = text.forward(batch, keepCaches: keepCaches)
    let (imageProjection, imageHeadCache) = imageHead.forward(imageFeature(image), dropoutMask: dropoutMasks?.image)
    let (textProjection, textHeadCache) = textHead.forward(textOut.embedding, dropoutMask: dropoutMasks?.text)
    return CLIPForward(image: image, text: textOut, batch: batch, imageHeadCache: imageHeadCache, textHeadCache: textHeadCache,
                       imageProjection: imageProjection, textProjection: textProjection)
  }

  /// Backward pass of `step` from the gradients of whatever loss was computed on its projections,
  /// accumulating into `grads`. `trainText: false` stops at the text head (a frozen text tower, chapter 08 --frozen-text).
  public func backward(_ step: CLIPForward, dImageProjection: Tensor, dTextProjection: Tensor, dLogitScale: Float, grads: inout CLIP,
                       trainImage: Bool = true, trainText: Bool = true) {
    grads.logitScale.storage[0] += dLogitScale
    let dImageFeature = imageHead.backward(dImageProjection, cache: step.imageHeadCache, grads: &grads.imageHead, inputGradient: trainImage)
    let dTextFeature = textHead.backward(dTextProjection, cache: step.textHeadCache, grads: &grads.textHead, inputGradient: trainText)
    if trainImage {
      switch config.imageFeature {
      case .pooled: vit.backward(dLogits: nil, dPooled: dImageFeature, output: step.image, grads: &grads.vit)
      case .logits: vit.backward(dLogits: dImageFeature, dPooled: nil, output: step.image, grads: &grads.vit)
      }
    }
    if trainText {
      text.backward(dEmbedding: dTextFeature, output: step.text, batch: step.batch, grads: &grads.text)
    }
  }

  // MARK: Inference

  /// Unit-length image embeddings (N, P) for pixels (N, 3, S, S).
  public func embedImages(_ pixels: Tensor) -> Tensor {
    let (projected, _) = imageHead.forward(imageFeature(vit.forward(pixels, keepCaches: false)))
    return l2Normalize(projected).unit
  }

  /// Unit-length text embeddings (N, P).
  public func embedTexts(_ batch: TokenBatch) -> Tensor {
    let (projected, _) = textHead.forward(text.forward(batch, keepCaches: false).embedding)
    return l2Normalize(projected).unit
  }

  /// Unit-length text embeddings (N, P) of any number of texts, tokenised and embedded `batchSize` at a time.
  public func embedTexts(_ texts: [String], tokenizer: BertTokenizer, batchSize: Int = 256) -> Tensor {
    inBatches(texts, of: batchSize, rowShape: [config.projectionDim]) { embedTexts(tokenizer.batch($0, maxLength: config.maxTextLength)) }
  }
}

// MARK: - The contrastive-model interface

extension CLIPForward: ContrastiveForward {
  public var features: ContrastiveFeatures { ContrastiveFeatures(image: imageProjection, text: textProjection) }
}

extension CLIP: ContrastiveModel {
  public typealias Tokenizer = BertTokenizer
  public var parameters: [Parameter<CLIP>] { Self.parameterTable(config) }
  public var lossKind: ContrastiveLossKind { config.loss }
  public var imageSide: Int { config.vit.imageSize }
  public var maxTextLength: Int { config.maxTextLength }
  public var embedDim: Int { config.projectionDim }
  public var headDropout: Float { config.dropout }
  public var vocabularySize: Int { config.text.vocabSize }

  public func trainingForward(pixels: Tensor, batch: TokenBatch, dropoutMasks: DropoutMasks?) -> CLIPForward {
    forward(pixels: pixels, batch: batch, dropoutMasks: dropoutMasks, keepCaches: true)
  }

  /// Backward from a contrastive loss's gradients (its rows for this process's pairs).
  public func backward(_ forward: CLIPForward, loss: ContrastiveLossOutput, grads: inout CLIP, trainImage: Bool = true, trainText: Bool = true) {
    backward(forward, dImageProjection: loss.dImage, dTextProjection: loss.dText, dLogitScale: loss.dLogitScale, grads: &grads,
             trainImage: trainImage, trainText: trainText)
  }

  public func features(pixels: Tensor, batch: TokenBatch) -> ContrastiveFeatures {
    forward(pixels: pixels, batch: batch, dropoutMasks: nil, keepCaches: false).features
  }

  public func embedTexts(_ texts: [String], tokenizer: BertTokenizer) -> Tensor { embedTexts(texts, tokenizer: tokenizer, batchSize: 256) }
}
