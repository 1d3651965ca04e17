// One interface for a CLIP-style model: two towers that meet in one space, trained by a contrastive
// loss. The seed's CLIP (ViT + BERT + projection heads, chapters 03–08) and OpenAI's CLIP (chapter 11)
// both conform, so one training step, one loop, validation and the tools take either.
//
//   pixels (B, 3, S, S), tokens (B, L) → trainingForward → image, text features (B, E) → loss
//   loss's dImage, dText, dLogitScale → backward → gradients in a model-shaped container
//   parameters: every trainable tensor under its checkpoint key (weights, gradients, AdamW's moments)

import IO
import Layers
import TensorCore
import Text

/// Both towers' outputs for one batch, before normalisation: row i of each is pair i.
public struct ContrastiveFeatures: Sendable {
  public var image: Tensor  // (B, E)
  public var text: Tensor  // (B, E)
}

/// A training forward pass: the features, and whatever the model's backward needs (never optional).
public protocol ContrastiveForward: Sendable {
  var features: ContrastiveFeatures { get }
}

public protocol ContrastiveModel: Sendable {
  associatedtype Forward: ContrastiveForward
  associatedtype Tokenizer: CaptionTokenizer

  /// Every trainable parameter under its checkpoint key: the table the optimiser, the gradients and
  /// the training checkpoint share.
  var parameters: [Parameter<Self>] { get }
  /// Scalar (stored as one float): the logits are exp(s) · cos (standard) or s · dot (the seed's).
  var logitScale: Tensor { get set }
  var lossKind: ContrastiveLossKind { get }
  /// The side of the square images, the longest token row, the joint space's width.
  var imageSide: Int { get }
  var maxTextLength: Int { get }
  var embedDim: Int { get }
  /// The projection heads' dropout probability (0: none).
  var headDropout: Float { get }
  /// Rows in the token embedding table (a tokenizer's vocabulary must fit in it).
  var vocabularySize: Int { get }

  /// Forward with everything backward needs; `dropoutMasks` (B, E) multipliers for the heads, or none.
  func trainingForward(pixels: Tensor, batch: TokenBatch, dropoutMasks: DropoutMasks?) -> Forward
  /// Backward from the loss's gradients, accumulated into `grads` (a `zeroGradients()`); a tower not
  /// trained is not walked (its gradients stay zero).
  func backward(_ forward: Forward, loss: ContrastiveLossOutput, grads: inout Self, trainImage: Bool, trainText: Bool)
  /// A container of this model's shape, all zeros, for gradients and moments.
  func zeroGradients() -> Self
  /// Inference: both towers' features for a batch of pairs (no dropout, no caches kept).
  func features(pixels: Tensor, batch: TokenBatch) -> ContrastiveFeatures
  /// Unit-length image embeddings (N, E) of pixels (N, 3, S, S).
  func embedImages(_ pixels: Tensor) -> Tensor
  /// Unit-length text embeddings (N, E) of any number of texts.
  func embedTexts(_ texts: [String], tokenizer: Tokenizer) -> Tensor
}

extension ContrastiveModel {
  /// The contrastive loss of one forward pass, with this model's logit scale read as its kind says.
  public func contrastiveLoss(_ features: ContrastiveFeatures) -> ContrastiveLossOutput {
    Layers.contrastiveLoss(image: features.image, text: features.text, logitScale: logitScale.storage[0], kind: lossKind)
  }
}
