// ReduceLROnPlateau, as torch.optim.lr_scheduler.ReduceLROnPlateau (mode "min", relative threshold):
// when the validation loss has not improved by more than `threshold` (relative) for more than
// `patience` epochs, every group's learning rate is multiplied by `factor`.

import Runs
import Image
import Foundation

public struct ReduceLROnPlateau: Sendable, Codable, Equatable {
  public var factor: Float = 0.8
  public var patience = 1
  public var threshold: Float = 1e-4  // relative: improvement means metric < best · (1 − threshold)
  public var minLearningRate: Float = 0
  public var eps: Float = 1e-8  // a reduction smaller than this is skipped, as torch does
  public var best: Float = .infinity
  public var badEpochs = 0

  public init(factor: Float = 0.8, patience: Int = 1) {
    self.factor = factor
    self.patience = patience
  }

  /// Feeds one epoch's metric; returns true when the learning rates were reduced.
  @discardableResult
  public mutating func step(metric: Float, groups: inout [OptimizerGroup]) -> Bool {
    if metric < best * (1 - threshold) {
      best = metric
      badEpochs = 0
    } else {
      badEpochs += 1
    }
    guard badEpochs > patience else { return false }
    badEpochs = 0
    var reduced = false
    for i in groups.indices {
      let old = groups[i].learningRate
      let new = max(old * factor, minLearningRate)
      if old - new > eps {
        groups[i].learningRate = new
        reduced = true
      }
    }
    return reduced
  }
}

/// The cosine schedule's learning-rate multiplier at step `step` (0-based) of `totalSteps`:
/// ```
/// step < W:  (step + 1) / W                                  linear warm-up
/// else:      ½ · (1 + cos(π · (step − W) / (total − W)))     from 1 down to 0 at the last step
/// ```
public func cosineMultiplier(step: Int, warmupSteps warmup: Int, totalSteps: Int) -> Float {
  let total = max(totalSteps, warmup + 1)
  if step < warmup { return Float(step + 1) / Float(warmup) }
  let progress = Double(min(step - warmup, total - warmup)) / Double(total - warmup)
  return Float(0.5 * (1 + cos(Double.pi * progress)))
}

/// The cosine schedule's multiplier under a time budget of `budget` seconds, `seconds` of them spent:
/// ```
/// min(1, (step + 1) / W) · ½ · (1 + cos(π · min(1, t / S)))
/// ```
/// a warm-up on steps, then a cosine on seconds: 0 when the budget is spent, on any machine.
public func timeBudgetMultiplier(step: Int, warmupSteps warmup: Int, seconds: Double, budget: Double) -> Float {
  let warm = warmup > 0 ? min(1, Float(step + 1) / Float(warmup)) : 1
  return warm * Float(0.5 * (1 + cos(Double.pi * min(1, seconds / budget))))
}
