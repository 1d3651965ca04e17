// The image transforms in front of the ViT: timm's eval transform for the seed's
// vit_base_patch16_224.augreg2_in21k_ft_in1k, and the train-time augmentation.
//
//   eval:  Resize(248, bicubic) → CenterCrop(224) → to [0, 1] → Normalize(mean 0.5, std 0.5)
//   train: RandomResizedCrop(224, scale 0.08–1, ratio 3/4–4/3, bicubic) → horizontal flip (p 0.5)
//          → ColorJitter(brightness 0.4, contrast 0.4, saturation 0.4) → to [0, 1] → Normalize
//
// The eval transform equals timm + torchvision + Pillow pixel for pixel (Tests: TransformTests).

import TensorCore
import IO
import Foundation

/// The eval transform's parameters (timm's pretrained config for the seed's ViT).
public struct EvalTransformConfig: Sendable {
  public var resizeShorterSide = 248  // int(224 / crop_pct 0.9): torchvision Resize(int) sets the shorter side
  public var cropSize = 224  // CenterCrop
  public var mean: [Float] = [0.5, 0.5, 0.5]  // per channel, after scaling to [0, 1]
  public var std: [Float] = [0.5, 0.5, 0.5]
  public var filter: ResampleFilter = .bicubic
  public init() {}

  /// OpenAI CLIP's preprocessing as open_clip runs it: the shorter side to 224 (bicubic), a centre crop
  /// of 224, CLIP's own channel statistics. (Hugging Face's CLIPImageProcessor centres its crop with a
  /// floor where torchvision rounds half to even: on an odd margin the two differ by a pixel.)
  public static var openAICLIP: EvalTransformConfig {
    var c = EvalTransformConfig()
    c.resizeShorterSide = 224
    c.cropSize = 224
    c.mean = [0.48145466, 0.4578275, 0.40821073]
    c.std = [0.26862954, 0.26130258, 0.27577711]
    return c
  }
}

/// Output size of torchvision's `Resize(size)` with an int size: the shorter side becomes `size`
/// and the longer `int(size * long / short)` (truncated, computed in double as Python does).
public func torchvisionResizeSize(width: Int, height: Int, shorterSide size: Int) -> (width: Int, height: Int) {
  let short = min(width, height), long = max(width, height)
  if short == size { return (width, height) }
  let newLong = Int(Double(size * long) / Double(short))
  return width <= height ? (size, newLong) : (newLong, size)
}

/// torchvision's CenterCrop offsets: int(round((size − crop) / 2)) with round-half-to-even.
public func centerCropOffset(size: Int, crop: Int) -> Int {
  Int((Double(size - crop) / 2.0).rounded(.toNearestOrEven))
}

extension RGBImage {
  /// torchvision `Resize(shorterSide)` on a PIL image.
  public func resizedShorterSide(to size: Int, filter: ResampleFilter = .bicubic) -> RGBImage {
    let target = torchvisionResizeSize(width: width, height: height, shorterSide: size)
    return resized(width: target.width, height: target.height, filter: filter)
  }

  /// torchvision `CenterCrop(size)` (zero padding where the image is smaller).
  public func centerCropped(width w: Int, height h: Int) -> RGBImage {
    if width < w || height < h {
      // torchvision pads symmetrically first ((crop − size) // 2 on the left/top), then crops.
      let padLeft = max(0, (w - width) / 2), padTop = max(0, (h - height) / 2)
      let padded = cropped(x: -padLeft, y: -padTop, width: max(width, w), height: max(height, h))
      return padded.centerCropped(width: w, height: h)
    }
    return cropped(x: centerCropOffset(size: width, crop: w), y: centerCropOffset(size: height, crop: h),
                   width: w, height: h)
  }

  /// ToTensor + Normalize: (3, H, W) with value (byte / 255 − mean[c]) / std[c], in Float32 as torch does.
  public func normalizedTensor(mean: [Float], std: [Float]) -> Tensor {
    let plane = width * height
    var out = [Float](repeating: 0, count: 3 * plane)
    for i in 0..<plane {
      for c in 0..<3 {
        let unit = Float(pixels[3 * i + c]) / 255
        out[c * plane + i] = (unit - mean[c]) / std[c]
      }
    }
    return Tensor(shape: [3, height, width], storage: out)
  }
}

/// timm's eval transform: an RGB image → pixel values (3, 224, 224).
public struct EvalTransform: Sendable {
  public var config: EvalTransformConfig
  public init(config: EvalTransformConfig = EvalTransformConfig()) { self.config = config }

  /// The 8-bit image after Resize and CenterCrop (what the tensor is made from). Only the crop is
  /// resampled — the same bytes as resizing everything and cropping, but a 1×60000 photo (resized
  /// to 248×14880000) costs 224×224 pixels, not 11 GB.
  public func cropped(_ image: RGBImage) -> RGBImage {
    let target = torchvisionResizeSize(width: image.width, height: image.height, shorterSide: config.resizeShorterSide)
    let crop = config.cropSize
    guard target.width >= crop && target.height >= crop else {
      return image.resized(width: target.width, height: target.height, filter: config.filter).centerCropped(width: crop, height: crop)
    }
    let x = centerCropOffset(size: target.width, crop: crop), y = centerCropOffset(size: target.height, crop: crop)
    return image.resized(width: target.width, height: target.height, filter: config.filter, keeping: x..<(x + crop), y..<(y + crop))
  }

  public func callAsFunction(_ image: RGBImage) -> Tensor {
    cropped(image).normalizedTensor(mean: config.mean, std: config.std)
  }
}

// MARK: - Train-time augmentation

/// The train transform's parameters (timm's defaults for ImageNet training).
public struct TrainTransformConfig: Sendable {
  public var size = 224  // output side
  public var scale: ClosedRange<Double> = 0.08...1.0  // fraction of the image area kept
  public var ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0)  // aspect ratio w/h of the crop
  public var horizontalFlip = 0.5  // probability
  public var brightness = 0.4, contrast = 0.4, saturation = 0.4  // ColorJitter strengths
  public var mean: [Float] = [0.5, 0.5, 0.5]
  public var std: [Float] = [0.5, 0.5, 0.5]
  public init() {}
}

/// RandomResizedCrop → flip → ColorJitter → normalise, driven by a caller's seeded generator so a
/// run (and a resumed run) sees the same augmentations.
public struct TrainTransform: Sendable {
  public var config: TrainTransformConfig
  public init(config: TrainTransformConfig = TrainTransformConfig()) { self.config = config }

  /// torchvision RandomResizedCrop.get_params: (x, y, width, height) of the crop.
  public func cropBox(width: Int, height: Int, rng: inout SeededRNG) -> (x: Int, y: Int, w: Int, h: Int) {
    let area = Double(width * height)
    let logRatio = (log(config.ratio.lowerBound), log(config.ratio.upperBound))
    for _ in 0..<10 {
      let target = area * rng.uniform(config.scale.lowerBound, config.scale.upperBound)
      let aspect = exp(rng.uniform(logRatio.0, logRatio.1))
      let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
      let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
      if w > 0 && w <= width && h > 0 && h <= height {
        let y = Int(rng.next() % UInt64(height - h + 1))
        let x = Int(rng.next() % UInt64(width - w + 1))
        return (x, y, w, h)
      }
    }
    // Fallback: a centre crop clamped to the ratio range.
    let inRatio = Double(width) / Double(height)
    var w = width, h = height
    if inRatio < config.ratio.lowerBound {
      h = Int((Double(w) / config.ratio.lowerBound).rounded(.toNearestOrEven))
    } else if inRatio > config.ratio.upperBound {
      w = Int((Double(h) * config.ratio.upperBound).rounded(.toNearestOrEven))
    }
    return ((width - w) / 2, (height - h) / 2, w, h)
  }

  /// The augmented 8-bit image.
  public func augmented(_ image: RGBImage, rng: inout SeededRNG) -> RGBImage { augmentedReportingFlip(image, rng: &rng).image }

  /// The augmented 8-bit image, and whether it was mirrored (a caption's "left" and "right" then swap).
  public func augmentedReportingFlip(_ image: RGBImage, rng: inout SeededRNG) -> (image: RGBImage, mirrored: Bool) {
    let box = cropBox(width: image.width, height: image.height, rng: &rng)
    var out = image.cropped(x: box.x, y: box.y, width: box.w, height: box.h)
      .resized(width: config.size, height: config.size, filter: .bicubic)
    let mirrored = rng.uniform(0, 1) < config.horizontalFlip
    if mirrored { out = out.flippedHorizontally() }
    // ColorJitter applies its three adjustments in a random order with random factors.
    var order = [0, 1, 2]
    order.shuffle(using: &rng)
    let factors = [config.brightness, config.contrast, config.saturation].map { strength in
      rng.uniform(max(0, 1 - strength), 1 + strength)
    }
    for op in order {
      switch op {
      case 0: out = out.adjustedBrightness(factors[0])
      case 1: out = out.adjustedContrast(factors[1])
      default: out = out.adjustedSaturation(factors[2])
      }
    }
    return (out, mirrored)
  }

  public func callAsFunction(_ image: RGBImage, rng: inout SeededRNG) -> Tensor {
    augmented(image, rng: &rng).normalizedTensor(mean: config.mean, std: config.std)
  }
}

extension RGBImage {
  /// Pillow's ImageEnhance blend: out = degenerate + factor · (image − degenerate), clipped to bytes.
  func blended(towards degenerate: (Int) -> Float, factor: Double) -> RGBImage {
    var out = self
    let f = Float(factor)
    for i in 0..<pixels.count {
      let d = degenerate(i)
      let v = d + f * (Float(pixels[i]) - d)
      out.pixels[i] = UInt8(max(0, min(255, v.rounded())))
    }
    return out
  }

  /// ITU-R 601-2 luma as Pillow's convert("L"): (R·299 + G·587 + B·114) / 1000, rounded.
  func luma(_ pixel: Int) -> Float {
    let r = Int(pixels[3 * pixel]), g = Int(pixels[3 * pixel + 1]), b = Int(pixels[3 * pixel + 2])
    return Float((r * 299 + g * 587 + b * 114 + 500) / 1000)
  }

  /// Brightness: blend with black.
  public func adjustedBrightness(_ factor: Double) -> RGBImage { blended(towards: { _ in 0 }, factor: factor) }

  /// Contrast: blend with the mean gray level of the image.
  public func adjustedContrast(_ factor: Double) -> RGBImage {
    let n = width * height
    var total: Float = 0
    for p in 0..<n { total += luma(p) }
    let mean = n > 0 ? (total / Float(n)).rounded() : 0
    return blended(towards: { _ in mean }, factor: factor)
  }

  /// Saturation: blend with the grayscale version of the image.
  public func adjustedSaturation(_ factor: Double) -> RGBImage {
    blended(towards: { self.luma($0 / 3) }, factor: factor)
  }
}
