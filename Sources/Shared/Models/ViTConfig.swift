// A ViT's configuration (timm's names in comments) and its checks: every size a layer divides by or
// indexes with, validated where a checkpoint or flag brings it in.

import Foundation
import IO

/// A ViT configuration. `base16` is timm's vit_base_patch16_224.
public struct ViTConfig: Sendable, Equatable, Codable {
  public var imageSize = 224  // S: input side in pixels
  public var patchSize = 16  // P: patch side in pixels
  public var channels = 3  // RGB
  public var width = 768  // D: token width
  public var depth = 12  // transformer blocks
  public var heads = 12  // H: attention heads (D / H = 64 per head)
  public var mlpDim = 3072  // Hm: MLP hidden width (4·D)
  public var numClasses = 1000  // C: classifier outputs (0 = no head)
  public var layerNormEps: Float = 1e-6  // timm's ViT LayerNorm eps
  public var pool: Pooling = .classToken  // how the image feature is read off the final tokens

  /// `.classToken` is timm's default (global_pool="token"); `.mean` averages the patch tokens after the
  /// final norm — a shorter gradient path to every patch, which helps a small ViT trained from scratch.
  public enum Pooling: String, Sendable, Codable { case classToken, mean }

  public init() {}

  public var gridSize: Int { imageSize / patchSize }  // S/P patches per side
  public var numPatches: Int { gridSize * gridSize }  // N
  public var numTokens: Int { numPatches + 1 }  // T, with the class token

  /// timm vit_base_patch16_224 (the seed's image tower, 86M parameters).
  public static let base16 = ViTConfig()

  /// A small ViT for tests: image 32, patch 8, width 64, depth 2, heads 4, 10 classes.
  public static let small: ViTConfig = {
    var c = ViTConfig()
    c.imageSize = 32; c.patchSize = 8; c.width = 64; c.depth = 2; c.heads = 4; c.mlpDim = 256; c.numClasses = 10
    return c
  }()

  public static func named(_ name: String) -> ViTConfig? {
    switch name {
    case "base", "base16", "vit_base_patch16_224": return .base16
    case "small": return .small
    default: return nil
    }
  }
}

extension ViTConfig: CheckedConfiguration {
  /// Sizes positive, the image a whole number of patches, heads dividing the width, eps > 0.
  public func check(_ c: inout ConfigurationCheck) {
    c.atLeast(imageSize, "imageSize", maximum: 1 << 14)
    c.atLeast(patchSize, "patchSize", maximum: 1 << 14)
    c.require(patchSize < 1 || imageSize % patchSize == 0, "imageSize", "must be a multiple of patchSize \(patchSize), got \(imageSize)")
    c.require(channels == 3, "channels", "must be 3 (RGB), got \(channels)")
    c.atLeast(width, "width", maximum: 1 << 16)
    c.atLeast(depth, "depth", maximum: 1 << 10)
    c.atLeast(heads, "heads")
    c.require(heads < 1 || width % heads == 0, "heads", "must divide width \(width), got \(heads)")
    c.atLeast(mlpDim, "mlpDim", maximum: 1 << 20)
    c.atLeast(numClasses, "numClasses", minimum: 0)
    c.positive(layerNormEps, "layerNormEps")
  }

  /// The largest terms of the parameter count (a lower bound; see BERTConfig.parameterLowerBound).
  public var parameterLowerBound: Double {
    let d = Double(width), grid = Double(imageSize) / Double(max(patchSize, 1))  // in Double: no overflow
    return Double(depth) * (4 * d * d + 2 * d * Double(mlpDim)) + (grid * grid + 1 + Double(numClasses)) * d
      + Double(channels) * Double(patchSize) * Double(patchSize) * d
  }
}
