// AdamW with parameter groups, as torch.optim.AdamW: per-group learning rate and weight decay,
// decoupled weight decay, bias-corrected moments. Moments live in zero copies of the model, addressed
// by the same parameter table as the weights and the gradients.

import TensorCore
import Kernels
import Layers
import Runs
import IO
import Foundation

public struct AdamW<Model>: @unchecked Sendable {
  public var groups: [OptimizerGroup]
  public var beta1: Float = 0.9
  public var beta2: Float = 0.999
  public var eps: Float = 1e-8
  /// Steps taken so far (t in the bias corrections).
  public var step = 0
  public var firstMoment: Model  // m
  public var secondMoment: Model  // v
  let table: [Parameter<Model>]
  /// Group index of each parameter in `table` (nil: frozen, never updated).
  let groupOf: [Int?]

  /// `group(key)` names each parameter's group (or nil to freeze it).
  public init(model: Model, table: [Parameter<Model>], groups: [OptimizerGroup], group: (String) -> String?) {
    self.groups = groups
    self.table = table
    firstMoment = zerosLike(model, table: table)
    secondMoment = zerosLike(model, table: table)
    groupOf = table.map { p in group(p.key).flatMap { name in groups.firstIndex { $0.name == name } } }
  }

  /// One update of every non-frozen parameter from `grads`.
  public mutating func update(_ model: inout Model, grads: Model) {
    step += 1
    for (i, p) in table.enumerated() {
      guard let g = groupOf[i] else { continue }
      let group = groups[g]
      let grad = p.get(grads)
      let (lr, weightDecay, beta1, beta2, eps, step) = (group.learningRate, group.weightDecay, beta1, beta2, eps, step)
      if let modify = p.modify {
        // In place: no copies of the weights and moments (5.2 M floats each for the tiny recipe).
        modify(&model) { param in
          precondition(grad.shape == param.shape, "gradient of \(p.key) has shape \(grad.shape), parameter \(param.shape)")
          modify(&firstMoment) { m in
            modify(&secondMoment) { v in
              let count = param.count
              reading(grad) { g in
                writing(&param, &m, &v) { p, m, v in
                  adamwUpdate(p: p, g: g, m: m, v: v, count: count, lr: lr, weightDecay: weightDecay, beta1: beta1, beta2: beta2, eps: eps, step: step)
                }
              }
            }
          }
        }
        continue
      }
      var param = p.get(model), m = p.get(firstMoment), v = p.get(secondMoment)
      precondition(grad.shape == param.shape, "gradient of \(p.key) has shape \(grad.shape), parameter \(param.shape)")
      let count = param.count
      reading(grad) { g in
        writing(&param, &m, &v) { p, m, v in
          adamwUpdate(p: p, g: g, m: m, v: v, count: count, lr: group.learningRate, weightDecay: group.weightDecay,
                      beta1: beta1, beta2: beta2, eps: eps, step: step)
        }
      }
      p.set(&model, param)
      p.set(&firstMoment, m)
      p.set(&secondMoment, v)
    }
  }
}

/// Scales every gradient so their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_:
/// coefficient maxNorm / (norm + 1e-6), applied only when below 1). Returns the norm before clipping.
@discardableResult
func clipGradientNorm<Model>(_ grads: inout Model, table: [Parameter<Model>], maxNorm: Float) -> Float {
  var total = 0.0
  for p in table { for g in p.get(grads).storage { total += Double(g) * Double(g) } }
  let norm = Float(total.squareRoot())
  let coefficient = maxNorm / (norm + 1e-6)
  if coefficient < 1 {
    for p in table { p.set(&grads, p.get(grads) * coefficient) }
  }
  return norm
}

/// The global L2 norm of the gradients, and whether every value is finite.
public struct GradientNorm: Sendable {
  public var norm: Float
  public var finite: Bool
}

public func gradientNorm<Model>(_ grads: Model, table: [Parameter<Model>]) -> GradientNorm {
  var total = 0.0
  for p in table { for g in p.get(grads).storage { total += Double(g) * Double(g) } }
  return GradientNorm(norm: Float(total.squareRoot()), finite: total.isFinite)
}
