// What a run shows a reader: one line per epoch and the loss curve.

import TensorCore
import Image
import Report
import Foundation

extension Trainer {
  /// Writes loss-curve.png (training loss per step, validation loss per epoch).
  public func writeLossCurve() { try? PNG.write(lossCurve(), to: outputDirectory + "/loss-curve.png") }

  /// One line for an epoch's record, as the chapter and `clip train` print it.
  public func describe(_ record: EpochRecord) -> String {
    String(format: "epoch %d/%d  train loss %.4f  val loss %.4f  i→t R@1 %.1f%% R@5 %.1f%%  t→i R@1 %.1f%% R@5 %.1f%%  lr %.1e  · %@",
           record.epoch, config.epochs, record.trainLoss, record.validationLoss, 100 * record.imageToTextR1, 100 * record.imageToTextR5,
           100 * record.textToImageR1, 100 * record.textToImageR5, record.learningRates.first ?? 0, formatDuration(record.seconds) as NSString)
  }

  /// Training loss per step (grey, smoothed in blue) and validation loss per epoch (red).
  public func lossCurve() -> RGBImage {
    let raw = state.stepLosses.enumerated().map { (x: Float($0.offset + 1), y: $0.element) }
    var smooth: [(x: Float, y: Float)] = []
    var ema: Float = raw.first?.y ?? 0
    for p in raw {
      ema = 0.9 * ema + 0.1 * p.y
      smooth.append((p.x, ema))
    }
    let perEpoch = Float(max(stepsPerEpoch, 1))
    let validation = state.history.map { (x: Float($0.epoch) * perEpoch, y: $0.validationLoss) }
    return linePlot([PlotSeries(points: raw, color: (200, 200, 200)), PlotSeries(points: smooth, color: (40, 90, 200), thickness: 2),
                     PlotSeries(points: validation, color: (220, 40, 40), thickness: 3)])
  }
}
