// Which AdamW group trains each parameter of OpenAI's CLIP when it is fine-tuned (`clip train --clip`):
// open_clip's rule — weight decay on the weight matrices and the patch conv; none on biases,
// LayerNorms, the class, position and token embeddings, or logit_scale — with one learning rate per
// tower. LiT (`freezeImage`) freezes the whole vision tower with its projection.
//
//   group            parameters (open_clip keys)                              lr                  decay
//   image            visual.conv1, visual.…{in_proj,out_proj,c_fc,c_proj}.weight, visual.proj   imageLearningRate   towerWeightDecay
//   image.no_decay   visual.… biases, ln_*, class_embedding, positional_embedding             imageLearningRate   0
//   text             transformer.… weights, text_projection                  textLearningRate    towerWeightDecay
//   text.no_decay    transformer.… biases, ln_*, ln_final, token_embedding, positional_embedding   textLearningRate   0
//   scale            logit_scale                                             headLearningRate    0

import Models
import Runs

extension OpenAICLIP: TrainableModel {
  public static func optimizerGroups(_ config: OptimizerConfig) -> [OptimizerGroup] {
    [
      OptimizerGroup(name: "image", learningRate: config.imageLearningRate, weightDecay: config.towerWeightDecay),
      OptimizerGroup(name: "image.no_decay", learningRate: config.imageLearningRate, weightDecay: 0),
      OptimizerGroup(name: "text", learningRate: config.textLearningRate, weightDecay: config.towerWeightDecay),
      OptimizerGroup(name: "text.no_decay", learningRate: config.textLearningRate, weightDecay: 0),
      OptimizerGroup(name: "scale", learningRate: config.headLearningRate, weightDecay: 0),
    ]
  }

  public static func optimizerGroup(of key: String, _ config: OptimizerConfig) -> String? {
    if key == "logit_scale" { return "scale" }
    let image = key.hasPrefix("visual.")
    if image && config.freezeImage || !image && config.freezeText { return nil }
    let noDecay = key.hasSuffix("bias") || key.contains("ln_") || key.hasSuffix("embedding") || key.hasSuffix("embedding.weight")
    return (image ? "image" : "text") + (noDecay ? ".no_decay" : "")
  }
}
