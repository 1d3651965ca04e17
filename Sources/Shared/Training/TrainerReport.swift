// What a run shows a reader: one line per epoch and the loss curve.

import TensorCore
import Report
import Foundation

extension ContrastiveTrainer {
  /// Writes loss-curve.svg (training loss per step, validation loss per epoch).
  public func writeLossCurve() { try? lossCurve().write(to: outputDirectory + "/loss-curve.svg") }

  /// One line for an epoch's record, as the chapter and `clip train` print it.
  public func describe(_ record: EpochRecord) -> String {
    String(format: "epoch %d/%d  train loss %.4f  val loss %.4f  i→t R@1 %.1f%% R@5 %.1f%%  t→i R@1 %.1f%% R@5 %.1f%%  lr %.1e  · %@",
           record.epoch, config.epochs, record.trainLoss, record.validationLoss, 100 * record.imageToTextR1, 100 * record.imageToTextR5,
           100 * record.textToImageR1, 100 * record.textToImageR5, record.learningRates.first ?? 0, formatDuration(record.seconds) as NSString)
  }

  /// Training loss per step (grey), its moving average (blue) and validation loss per epoch (red).
  public func lossCurve() -> SVGDocument {
    let raw = state.stepLosses.enumerated().map { (x: Double($0.offset + 1), y: Double($0.element)) }
    var smooth: [(x: Double, y: Double)] = []
    var ema = raw.first?.y ?? 0
    for p in raw {
      ema = 0.9 * ema + 0.1 * p.y
      smooth.append((p.x, ema))
    }
    let perEpoch = Double(max(stepsPerEpoch, 1))
    let validation = state.history.map { (x: Double($0.epoch) * perEpoch, y: Double($0.validationLoss)) }
    return lineChart(title: "Training loss, \(config.name) (\(state.step) steps of \(config.batchSize))", xLabel: "optimiser step",
                     yLabel: "contrastive loss (nats)",
                     series: [LineSeries("train loss, each step", points: raw, colour: "#bbbbbb", width: 1),
                              LineSeries("train loss, moving average", points: smooth, colour: "#2a5ac8", width: 2),
                              LineSeries("validation loss, each epoch", points: validation, colour: "#d62828", width: 2.5, markers: true)])
  }
}
