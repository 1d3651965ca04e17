// Cross-entropy over the rows of a logit matrix with integer targets, mean over rows — the two
// halves of CLIP's contrastive loss.
//
//   N rows, C classes
//   loss = (1/N) Σ_i [ logsumexp(z_i) − z_i[t_i] ]
//   dz_i = (softmax(z_i) − onehot(t_i)) / N

/// Returns the mean loss and dlogits (N, C).
public func crossEntropy(logits: Tensor, targets: [Int]) -> (loss: Float, dLogits: Tensor) {
  precondition(logits.rank == 2 && targets.count == logits.shape[0], "crossEntropy: logits (N, C) and N targets, got \(logits.shape), \(targets.count)")
  let n = logits.shape[0], c = logits.shape[1]
  var dLogits = Tensor.zeros([n, c])
  var total = 0.0
  for i in 0..<n {
    let row = Array(logits.storage[(i * c)..<((i + 1) * c)])
    let mx = row.max() ?? 0
    var sum: Float = 0
    for v in row { sum += exp(v - mx) }
    let logSumExp = mx + log(sum)
    precondition(targets[i] >= 0 && targets[i] < c, "target \(targets[i]) outside 0..<\(c)")
    total += Double(logSumExp - row[targets[i]])
    for j in 0..<c { dLogits.storage[i * c + j] = exp(row[j] - logSumExp) / Float(n) }
    dLogits.storage[i * c + targets[i]] -= 1 / Float(n)
  }
  return (Float(total / Double(n)), dLogits)
}

import TensorCore
import Kernels
import Foundation
