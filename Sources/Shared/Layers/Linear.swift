// Linear layer, PyTorch's nn.Linear: y = x·Wᵀ + b with W stored (Out, In). Every projection in
// CLIP is one: qkv, attention output, MLP, BERT's query/key/value, the projection heads.
//
//   R rows (all leading dimensions flattened), In input features, Out output features

public struct Linear: Sendable {
  public var weight: Tensor  // (Out, In)
  public var bias: Tensor  // (Out)   every Linear in CLIP has one

  public init(weight: Tensor, bias: Tensor) {
    precondition(weight.rank == 2, "Linear weight must be (out, in), got \(weight.shape)")
    precondition(bias.shape == [weight.shape[0]], "Linear bias must be (\(weight.shape[0])), got \(bias.shape)")
    self.weight = weight
    self.bias = bias
  }

  public var inFeatures: Int { weight.shape[1] }
  public var outFeatures: Int { weight.shape[0] }

  // MARK: - Forward

  /// x (…, In) → y (…, Out). The backward needs x, which the caller already holds.
  public func forward(_ x: Tensor) -> Tensor {
    precondition(x.shape.last == inFeatures, "Linear expects (…, \(inFeatures)), got \(x.shape)")
    return x.matmul(weight, transposeOther: true, bias: bias)
  }
}
