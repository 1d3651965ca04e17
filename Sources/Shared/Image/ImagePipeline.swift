// How an image becomes the model's pixels in training and evaluation: resize, flips, timm's transforms.

import TensorCore

/// How an image becomes pixels.
public enum ImagePipeline: String, Sendable, Codable {
  case resize  // bicubic resize to the model's side, no crop (the generated square images)
  case resizeAugment  // resize; in training also a random horizontal flip (the caption's left/right swap with it)
  case timmEval  // Resize(248) + CenterCrop(224), as timm's eval transform
  case timmTrain  // RandomResizedCrop + flip + ColorJitter (train) / timmEval (evaluation)
  case clip  // OpenAI's CLIP: Resize(S, bicubic) + CenterCrop(S), OpenAI's mean and std; no augmentation (clip train --clip)

  /// The model's input for one image, and whether it was mirrored: a mirrored image's caption must say
  /// "right" where it said "left" (`mirroredCaption`), or the augmentation teaches a lie.
  public func pixels(_ image: RGBImage, side: Int, train: Bool, rng: inout SeededRNG) -> (pixels: Tensor, mirrored: Bool) {
    switch self {
    case .resize:
      return (image.resized(width: side, height: side).normalizedTensor(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]), false)
    case .resizeAugment:
      var resized = image.resized(width: side, height: side)
      let mirrored = train && rng.uniform(0, 1) < 0.5
      if mirrored { resized = resized.flippedHorizontally() }
      return (resized.normalizedTensor(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]), mirrored)
    case .clip:
      var config = EvalTransformConfig.openAICLIP
      config.resizeShorterSide = side
      config.cropSize = side
      return (EvalTransform(config: config)(image), false)
    case .timmEval, .timmTrain:
      if self == .timmTrain && train {
        var config = TrainTransformConfig()
        config.size = side
        let transform = TrainTransform(config: config)
        let (augmented, mirrored) = transform.augmentedReportingFlip(image, rng: &rng)
        return (augmented.normalizedTensor(mean: config.mean, std: config.std), mirrored)
      }
      var config = EvalTransformConfig()
      config.cropSize = side
      config.resizeShorterSide = Int(Double(side) / 0.9)
      return (EvalTransform(config: config)(image), false)
    }
  }
}
