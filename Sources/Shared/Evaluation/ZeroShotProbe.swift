// Zero-shot accuracy during training: the labelled images of a generated shapes folder (labels.csv
// and dataset.json), decoded and preprocessed once, classified against every colour–shape class name
// written into the dataset's prompt templates. Chapter 08 and the race against the PyTorch twin call
// it between epochs, with the training clock stopped.

import TensorCore
import Models
import Datasets
import Runs
import Image
import IO
import Foundation

public struct ZeroShotProbe {
  /// One labelled set: "test" (one shape, seen pairs) or "unseen" (the held-out pairs).
  public struct LabelledSet {
    public var name: String
    public var images: [String]  // file names, in labels.csv order
    public var pixels: Tensor  // (N, 3, S, S) as the model sees them at evaluation
    public var truth: [Int]  // class index per image
  }
  public let classes: [String]  // "red circle" …
  public let templates: [String]
  public let dataset: ShapesDatasetConfig
  public private(set) var sets: [LabelledSet] = []
  /// Images that could not be read, with the reason (not classified, not counted).
  public private(set) var skipped: [String] = []

  /// Reads `directory`/labels.csv and dataset.json; preprocesses the images of `splits` (at most
  /// `limit` per split) with the run's evaluation pipeline.
  /// `side`: the model's image side (default: the seed CLIP's of `config`).
  public init(directory: String, config: TrainingConfig, side: Int? = nil, splits: [String] = ["test", "unseen"], limit: Int = .max,
              templates: [String] = ShapesDatasetConfig.zeroShotTemplates) throws {
    guard let dataset = try ShapesDatasetConfig.read(directory: directory) else {
      throw DataProblem(file: directory + "/dataset.json", line: 0, message: "no such file: zero-shot needs a generated shapes folder")
    }
    self.dataset = dataset
    classes = dataset.classes
    self.templates = templates
    let rows = try ShapesDataset.readLabels(directory + "/labels.csv")
    let side = side ?? config.model.vit.imageSize
    for split in splits {
      var images: [String] = [], storage: [Float] = [], truth: [Int] = []
      for row in rows where row.split == split && !row.label.isEmpty && images.count < limit {
        guard let label = classes.firstIndex(of: row.label) else {
          throw DataProblem(file: directory + "/labels.csv", line: 0, message: "'\(row.label)' is not one of dataset.json's classes")
        }
        do {
          let image = try JPEG.decode(path: directory + "/images/" + row.image)
          storage += config.imagePipeline.pixels(image, side: side, train: false, rng: &SeededRNG.unused).pixels.storage
        } catch {
          skipped.append("\(row.image): \(error)")
          continue
        }
        images.append(row.image)
        truth.append(label)
      }
      sets.append(LabelledSet(name: split, images: images, pixels: Tensor(shape: [images.count, 3, side, side], storage: storage), truth: truth))
    }
  }

  /// Classifies every set with `model` (either family): class embeddings from the templates (averaged,
  /// renormalised), image embeddings in batches of `batchSize`.
  public func evaluate<Model: ContrastiveModel>(_ model: Model, tokenizer: Model.Tokenizer, batchSize: Int = 128) -> [String: ZeroShotEvaluation] {
    let classifier = ZeroShotClassifier(classes: classes, templates: templates, logitScale: model.logitScale.storage[0]) {
      model.embedTexts($0, tokenizer: tokenizer)
    }
    var out: [String: ZeroShotEvaluation] = [:]
    for set in sets where !set.truth.isEmpty {
      let n = set.truth.count, perImage = set.pixels.count / n
      var embeddings: [Float] = []
      var start = 0
      while start < n {
        let end = min(n, start + batchSize)
        let chunk = Tensor(shape: [end - start] + Array(set.pixels.shape.dropFirst()),
                           storage: Array(set.pixels.storage[(start * perImage)..<(end * perImage)]))
        embeddings += model.embedImages(chunk).storage
        start = end
      }
      out[set.name] = classifier.evaluate(Tensor(shape: [n, model.embedDim], storage: embeddings), truth: set.truth)
    }
    return out
  }
}
