// OpenAI's CLIP against Hugging Face's CLIPModel and open_clip: a small model loaded from both
// checkpoint spellings, every gradient, and ViT-B/32 at full size with deterministic weights.

import Foundation
import Shared
import Testing

@Suite("OpenAI CLIP")
struct OpenAICLIPTests {
  static func ids(_ t: Tensor) -> [[Int]] {
    (0..<t.shape[0]).map { r in (0..<t.shape[1]).map { Int(t.storage[r * t.shape[1] + $0]) } }
  }

  @Test("small CLIPModel from a Hugging Face folder and from open_clip's keys: features and logits within 1e-5")
  func small() throws {
    let fixture = try Fixtures.load("ch11-clip")
    let pixels = try fixture.tensor("small.pixels"), ids = Self.ids(try fixture.tensor("small.ids"))
    let hf = try OpenAICLIP(checkpoint: Fixtures.path("ch11-clip-small-hf"))
    #expect(hf.config.activation == .quickGELU && hf.config.contextLength == 16 && hf.config.embedDim == 24)
    let image = hf.encodeImage(pixels).features, text = hf.encodeText(ids).features
    expectClose(image, try fixture.tensor("small.image_features"), atol: 1e-5, rtol: 1e-5, "image features (HF keys)")
    expectClose(text, try fixture.tensor("small.text_features"), atol: 1e-5, rtol: 1e-5, "text features (HF keys)")
    expectClose(hf.logits(imageFeatures: image, textFeatures: text), try fixture.tensor("small.logits"), atol: 1e-4, rtol: 1e-5, "logits")
    // open_clip's spelling: the shapes come from the config (no config.json beside a bare file).
    let oc = try OpenAICLIP(checkpoint: Fixtures.path("ch11-clip-small-openclip.safetensors"), config: hf.config)
    expectClose(oc.encodeImage(pixels).features, try fixture.tensor("small.openclip_image_features"), atol: 1e-5, rtol: 1e-5,
                "image features (open_clip keys)")
    expectClose(oc.encodeText(ids).features, try fixture.tensor("small.openclip_text_features"), atol: 1e-5, rtol: 1e-5,
                "text features (open_clip keys)")
  }

  @Test("one tower at a time (a search by sentences, an index of photos): the same features as both, only its own parameters, and the other tower's weights never read")
  func oneTower() throws {
    let fixture = try Fixtures.load("ch11-clip")
    let pixels = try fixture.tensor("small.pixels"), ids = Self.ids(try fixture.tensor("small.ids"))
    let hfPath = Fixtures.path("ch11-clip-small-hf"), ocPath = Fixtures.path("ch11-clip-small-openclip.safetensors")
    let both = try OpenAICLIP(checkpoint: hfPath)
    for (path, config) in [(hfPath, nil), (ocPath, both.config)] as [(String, OpenAICLIPConfig?)] {  // Hugging Face's q/k/v rows, open_clip's fused in_proj
      let whole = try OpenAICLIP(checkpoint: path, config: config)
      let text = try OpenAICLIP(checkpoint: path, config: config, towers: .text)
      let image = try OpenAICLIP(checkpoint: path, config: config, towers: .image)
      #expect(text.encodeText(ids).features == whole.encodeText(ids).features, "\(path)")
      #expect(image.encodeImage(pixels).features == whole.encodeImage(pixels).features, "\(path)")
      #expect(text.towers == .text && image.towers == .image && whole.towers == .both)
      #expect(text.visionBlocks.isEmpty && text.patchEmbed.weight.count == 0 && image.textBlocks.isEmpty && image.tokenEmbedding.count == 0)
      // logit_scale is in both: the two halves count it twice.
      #expect(text.parameterCount + image.parameterCount == whole.parameterCount + 1)
      #expect(text.logitScale == whole.logitScale && image.logitScale == whole.logitScale)
    }
    // A NaN in the image tower: refused when it is loaded, never read for sentences (and the reverse).
    let source = try SafetensorsFile(path: ocPath)
    for (key, towers) in [("visual.transformer.resblocks.0.mlp.c_fc.weight", OpenAICLIPTowers.text), ("ln_final.weight", .image)] {
      var writer = SafetensorsWriter()
      for name in source.names {
        var t = try source.tensor(name)
        if name == key { t.storage[3] = .nan }
        writer.add(name, t)
      }
      let path = temporaryDirectory("one-tower") + "/nan.safetensors"
      try writer.write(to: path)
      let other: OpenAICLIPTowers = towers == .text ? .image : .text
      _ = try OpenAICLIP(checkpoint: path, config: both.config, towers: towers)
      expectError({ _ = try OpenAICLIP(checkpoint: path, config: both.config, towers: other) }, contains: ["tensor '\(key)' holds nan at flat index 3"])
      expectError({ _ = try OpenAICLIP(checkpoint: path, config: both.config) }, contains: ["tensor '\(key)' holds nan at flat index 3"])
    }
  }

  @Test("every gradient of a readout of both towers matches autograd (causal attention, QuickGELU, end-of-text pooling)")
  func gradients() throws {
    let fixture = try Fixtures.load("ch11-clip")
    let model = try OpenAICLIP(checkpoint: Fixtures.path("ch11-clip-small-hf"))
    let pixels = try fixture.tensor("small.pixels"), ids = Self.ids(try fixture.tensor("small.ids"))
    var grads = model.zeroGradients()
    let image = model.encodeImageForTraining(pixels), text = model.encodeTextForTraining(ids)
    model.backwardImage(try fixture.tensor("small.r_image"), trace: image, grads: &grads)
    model.backwardText(try fixture.tensor("small.r_text"), trace: text, grads: &grads)
    var checked = 0
    for p in OpenAICLIP.parameterTable(model.config, format: .huggingFace) where p.key != "logit_scale" {
      // Hugging Face computes all 16 positions of every row; the rows are cut after the end of text
      // here, so the position rows past it get no gradient on either side (causal).
      expectClose(p.get(grads), try fixture.tensor("small.grad." + p.key), atol: 2e-5, rtol: 1e-4, "d " + p.key)
      checked += 1
    }
    #expect(checked == OpenAICLIP.parameterTable(model.config, format: .huggingFace).count - 1)
  }

  @Test("ViT-B/32 at full size, deterministic weights: features within 1e-5 relative of CLIPModel and open_clip")
  func fullSize() throws {
    let fixture = try Fixtures.load("ch11-clip")
    let model = OpenAICLIP(config: .b32)
    let pixels = Tensor.deterministic([1, 3, 224, 224], name: "pixels", scale: 1)
    let ids = Self.ids(try fixture.tensor("b32.ids"))
    #expect(ids[0] == CLIPTokenizerTests.tokenizer.batch(["a photo of a dog"])[0])
    let image = model.encodeImage(pixels).features, text = model.encodeText(ids).features
    for (name, ours) in [("image_features", image), ("text_features", text)] {
      for source in ["b32.", "b32.openclip_"] {
        let expected = try fixture.tensor(source + name)
        let scale = expected.storage.map(abs).max()!
        expectClose(ours, expected, atol: 1e-5 * scale, rtol: 0, "\(source)\(name) (1e-5 of the largest value, \(scale))")
      }
    }
    expectClose(model.logits(imageFeatures: image, textFeatures: text), try fixture.tensor("b32.logits"), atol: 1e-3, rtol: 1e-5, "logits")
  }

  @Test("CLIP's preprocessing equals open_clip's image_transform(224): an odd crop margin, upscaled images")
  func preprocessing() throws {
    let fixture = try Fixtures.load("ch11-clip")
    let transform = EvalTransform(config: .openAICLIP)
    for name in ["odd_333x251_422", "tall_97x301", "small_150x100"] {
      let ours = transform(try JPEG.decode(path: fixtureImagePath(name)))
      expectClose(ours, try fixture.tensor("preprocess." + name), atol: 1e-6, rtol: 0, "preprocess \(name)")
    }
  }

  @Test("the three presets have OpenAI's parameter counts: ViT-B/32 151,277,313, ViT-B/16 149,620,737, ViT-L/14 427,616,513")
  func presets() {
    #expect(OpenAICLIPConfig.b32.parameterCount == 151_277_313)
    #expect(OpenAICLIPConfig.b16.parameterCount == 149_620_737)
    #expect(OpenAICLIPConfig.l14.parameterCount == 427_616_513)
    #expect(OpenAICLIP(config: .b32).parameterCount == 151_277_313)  // the tables hold exactly what the config counts
  }

  @Test("checkpoints that do not fit are clear errors naming the file")
  func badCheckpoints() throws {
    let folder = temporaryDirectory("clip-bad")
    #expect { try OpenAICLIP(checkpoint: folder + "/missing") } throws: { "\($0)".contains("no such file") }
    #expect { try OpenAICLIP(checkpoint: folder) } throws: { "\($0)".contains("has no model.safetensors") }
    // A ViT checkpoint is not a CLIP.
    #expect { try OpenAICLIP(checkpoint: Fixtures.path("ch03-vit-small-weights.safetensors")) } throws: {
      "\($0)".contains("neither a Hugging Face CLIPModel")
    }
    // The open_clip file with a config of the wrong width lists the mis-shaped keys.
    var wrong = try OpenAICLIPConfig(huggingFaceConfig: Fixtures.path("ch11-clip-small-hf/config.json"))
    wrong.textWidth = 48
    #expect { try OpenAICLIP(checkpoint: Fixtures.path("ch11-clip-small-openclip.safetensors"), config: wrong) } throws: {
      "\($0)".contains("token_embedding.weight: expected [1000, 48]")
    }
    // A config.json with nonsense in it.
    try #"{"vision_config": {"patch_size": 0}, "text_config": {}}"#.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
    #expect { try OpenAICLIPConfig(huggingFaceConfig: folder + "/config.json") } throws: { "\($0)".contains("between 1 and") }
    try #"{"vision_config": {"hidden_act": "relu"}, "text_config": {}}"#.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
    #expect { try OpenAICLIPConfig(huggingFaceConfig: folder + "/config.json") } throws: { "\($0)".contains("not quick_gelu or gelu") }
    // Sizes that would allocate terabytes, or a context with no room for its two special tokens, are
    // refused by the config itself (a hostile review crashed the loader with these).
    for (json, message) in [(#"{"vision_config": {}, "text_config": {"hidden_size": 1048576, "num_attention_heads": 1, "vocab_size": 1}}"#, "parameters"),
                            (#"{"vision_config": {"image_size": 1048576, "patch_size": 1}, "text_config": {}}"#, "patches"),
                            (#"{"vision_config": {}, "text_config": {"num_hidden_layers": 1000000}}"#, "parameters"),
                            (#"{"vision_config": {}, "text_config": {"max_position_embeddings": 1}}"#, "must hold <|startoftext|>"),
                            (#"{"vision_config": {"hidden_act": 3}, "text_config": {}}"#, "not a name"),
                            (#"{"vision_config": {"layer_norm_eps": "x"}, "text_config": {}}"#, "not a number")] {
      try json.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
      #expect { try OpenAICLIPConfig(huggingFaceConfig: folder + "/config.json") } throws: { "\($0)".contains(message) }
    }
    // A config the file is far too small for is refused before the model is allocated.
    try FileManager.default.copyItem(atPath: Fixtures.path("ch11-clip-small-hf/model.safetensors"), toPath: folder + "/model.safetensors")
    try #"{"vision_config": {}, "text_config": {}}"#.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
    #expect { try OpenAICLIP(checkpoint: folder) } throws: { "\($0)".contains("the configuration needs at least") }
  }
}

@Suite("Executables: clip --clip", .serialized)
struct OpenAICLIPToolTests {
  /// The small fixture model with a full 49,408-row token table (deterministic), written as a Hugging
  /// Face folder: the tool's tokenizer needs every id to have a row.
  static func fullVocabularyFolder() throws -> (folder: String, model: OpenAICLIP) {
    let folder = temporaryDirectory("clip-tool")
    var model = try OpenAICLIP(checkpoint: Fixtures.path("ch11-clip-small-hf"))
    model.config.vocabSize = 49408
    model.tokenEmbedding = Tensor.deterministic([49408, model.config.textWidth], name: "token_embedding", scale: 0.02)
    var writer = SafetensorsWriter()
    writer.add(model, table: OpenAICLIP.parameterTable(model.config, format: .huggingFace))
    try writer.write(to: folder + "/model.safetensors")
    var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("ch11-clip-small-hf/config.json")))) as! [String: Any]
    var text = config["text_config"] as! [String: Any]
    text["vocab_size"] = 49408
    config["text_config"] = text
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
    return (folder, model)
  }

  static func embeddings(_ stdout: String) throws -> [[Float]] {
    try stdout.split(separator: "\n").map { line in
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
      return (object["embedding"] as! [NSNumber]).map(\.floatValue)
    }
  }

  @Test("tokenize, embed-text, embed-image, zero-shot and retrieve-eval with --clip print what the library computes")
  func tool() throws {
    let (folder, _) = try Self.fullVocabularyFolder()
    let embedder = try OpenAICLIPEmbedder(checkpoint: folder)
    let tokens = try runProduct("clip", ["tokenize", "--clip", folder, "--json", "A photo of a Dog!"])
    #expect(tokens.status == 0 && tokens.stdout.contains("[49406,320,1125,539,320,1929,256,49407]"), "\(tokens.stdout)\(tokens.stderr)")
    let texts = try runProduct("clip", ["embed-text", "--clip", folder, "--json", "a dog", "a cat"])
    #expect(texts.status == 0, "\(texts.stderr)")
    let expectedText = embedder.textFeatures(["a dog", "a cat"])
    expectClose(Tensor(shape: [2, 24], storage: try Self.embeddings(texts.stdout).flatMap { $0 }), expectedText, atol: 1e-6, rtol: 0, "embed-text")
    let photo = Fixtures.repositoryRoot + "/Assets/grace_hopper.jpg"
    let images = try runProduct("clip", ["embed-image", "--clip", folder, "--json", photo, "/nonexistent.jpg", photo])
    #expect(images.status == 3 && images.stderr.contains("/nonexistent.jpg"), "\(images.stderr)")
    let expectedImage = embedder.imageFeatures([try JPEG.decode(path: photo)])
    for row in try Self.embeddings(images.stdout) {
      expectClose(Tensor(shape: [1, 24], storage: row), expectedImage, atol: 1e-6, rtol: 0, "embed-image")
    }
    let zeroShot = try runProduct("clip", ["zero-shot", "--clip", folder, "--labels", "dog,cat,woman in uniform", "--json", photo])
    #expect(zeroShot.status == 0 && zeroShot.stdout.contains("\"top\""), "\(zeroShot.stderr)")
    // One model, one way: --clip with --model, or with --vit, is a usage error.
    let both = try runProduct("clip", ["zero-shot", "--clip", folder, "--model", "x", "--labels", "a", photo])
    #expect(both.status == 64 && both.stderr.contains("one of them"))
    // retrieve-eval takes OpenAI's CLIP too, over every image (it was not trained with a split of this data), and prints
    // what the library's retrieval gives for the same embedder.
    let eval = try runProduct("clip", ["retrieve-eval", "--clip", folder, "--data", overfitRun.directory, "--json"])
    #expect(eval.status == 0, "\(eval.stderr)")
    let dataset = try CaptionDataset(csvPath: overfitRun.directory + "/captions.csv")
    let expected = evaluateRetrieval(embedder: embedder, dataset: dataset, images: dataset.images)
    let printed = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as! [String: Any]
    #expect(printed["images"] as? Int == 8 && printed["captions"] as? Int == 8, "\(eval.stdout)")
    for (key, metrics) in [("image_to_text", expected.imageToText), ("text_to_image", expected.textToImage)] {
      let object = printed[key] as! [String: Any]
      #expect(abs((object["r1"] as! NSNumber).floatValue - metrics.recall[1]!) < 1e-6, "\(key): \(eval.stdout)")
      #expect(abs((object["mean_rank"] as! NSNumber).floatValue - metrics.meanRank) < 1e-5, "\(key): \(eval.stdout)")
    }
    let neither = try runProduct("clip", ["retrieve-eval", "--data", overfitRun.directory])
    #expect(neither.status == 64 && neither.stderr.contains("one of them"), "\(neither.stderr)")
    let tiny = try runProduct("clip", ["embed-text", "--clip", Fixtures.path("ch11-clip-small-hf"), "a dog"])
    #expect(tiny.status == 1 && tiny.stderr.contains("the tokenizer has 49408 tokens"), "\(tiny.stderr)")
  }

  @Test("chapter 11 traces the BPE, shows the causal mask, classifies and searches; with --clip it reads a checkpoint")
  func chapter() throws {
    let run = try runProduct("ch11-openai-clip", [])
    #expect(run.status == 0, "\(run.stderr)")
    let out = run.stdout
    let expectedIds = CLIPTokenizerTests.tokenizer.encode("A photo of Grace Hopper’s naval uniform & medals!").map(String.init).joined(separator: " ")
    for line in ["pre-tokens   a | photo | of | grace | hopper | 's | naval | uniform | & | medals | !", "ids          " + expectedIds,
                 "merge 1", "block 0, head 0 attention — zeros above the diagonal:", "1.00  0.00  0.00  0.00",
                 "end of text at position 3; text feature (1, 512)", "151277313 parameters", "hf download openai/clip-vit-base-patch32",
                 "[7/7] next"] {
      #expect(out.contains(line), "chapter 11 should print \(line.debugDescription)")
    }
    let (folder, _) = try Self.fullVocabularyFolder()
    let real = try runProduct("ch11-openai-clip", ["--clip", folder, "--classes", "10"])
    #expect(real.status == 0 && real.stdout.contains("[2/7] the model  (\(folder))") && !real.stdout.contains("hf download"), "\(real.stderr)")
    #expect(real.stdout.contains("11 ImageNet classes"))
  }

  @Test("clip index and clip search with --clip: the index remembers the model's kind, a second run reuses every row")
  func indexAndSearch() throws {
    let (folder, _) = try Self.fullVocabularyFolder()
    let photos = temporaryDirectory("clip-photos")
    try FileManager.default.copyItem(atPath: Fixtures.repositoryRoot + "/Assets/grace_hopper.jpg", toPath: photos + "/a.jpg")
    try FileManager.default.copyItem(atPath: fixtureImagePath("landscape_320x240"), toPath: photos + "/b.jpg")
    let indexPath = photos + "/photos.index"
    let first = try runProduct("clip", ["index", photos, "--clip", folder, "--out", indexPath])
    #expect(first.status == 0 && first.stdout.contains("indexed 2 images (2 embedded, 0 unchanged)"), "\(first.stdout)\(first.stderr)")
    let again = try runProduct("clip", ["index", photos, "--clip", folder, "--out", indexPath])
    #expect(again.status == 0 && again.stdout.contains("(0 embedded, 2 unchanged)"), "\(again.stdout)\(again.stderr)")
    let index = try ImageIndex.load(indexPath)
    #expect(index.modelKind == ImageIndex.openAICLIPKind && index.embeddings.shape == [2, 24])
    // The rows are the library's unit image embeddings.
    let embedder = try OpenAICLIPEmbedder(checkpoint: folder)
    expectClose(index.embeddings.row(0), embedder.embedImages([try JPEG.decode(path: photos + "/a.jpg")]).row(0), atol: 1e-6, rtol: 0, "index row")
    let search = try runProduct("clip", ["search", indexPath, "a woman in a uniform", "-k", "2", "--json"])
    #expect(search.status == 0 && search.stdout.split(separator: "\n").count == 2, "\(search.stdout)\(search.stderr)")
    let both = try runProduct("clip", ["index", photos, "--clip", folder, "--model", "x"])
    #expect(both.status == 64)
  }

  @Test("clip train --clip fine-tunes OpenAI's CLIP and writes OUT/best and OUT/last in the form it read; --locked-image (LiT) leaves the image tower bit-identical")
  func fineTune() throws {
    let (folder, start) = try Self.fullVocabularyFolder()
    let out = temporaryDirectory("clip-finetune")
    let run = try runProduct("clip", ["train", "--clip", folder, "--data", microDataset.directory, "--epochs", "2", "--batch-size", "8",
                                      "--lr", "1e-3", "--out", out])
    #expect(run.status == 0 && run.stdout.contains("checkpoints: \(out)/last, \(out)/best"), "\(run.stdout)\(run.stderr)")
    // A Hugging Face folder, as read: config.json, model.safetensors with Hugging Face's keys and transformers' metadata.
    for name in ["last", "best"] {
      let file = try SafetensorsFile(path: out + "/\(name)/model.safetensors")
      #expect(Set(file.names) == Set(try SafetensorsFile(path: folder + "/model.safetensors").names) && file.metadata["format"] == "pt")
      #expect(try OpenAICLIPConfig(huggingFaceConfig: out + "/\(name)/config.json") == start.config)
    }
    let tuned = try OpenAICLIP(checkpoint: out + "/last")
    let hf = OpenAICLIP.parameterTable(start.config, format: .huggingFace)
    let moved = hf.filter { $0.get(tuned).storage != $0.get(start).storage }.map(\.key)
    #expect(moved.count == hf.count, "every parameter trains; unchanged: \(Set(hf.map(\.key)).subtracting(moved).sorted().prefix(5))")
    // Every other command takes the result.
    let texts = try runProduct("clip", ["embed-text", "--clip", out + "/best", "--json", "a red circle"])
    #expect(texts.status == 0 && texts.stdout.contains("embedding"), "\(texts.stderr)")
    // A second run into the same folder is refused (nothing overwritten), pointing at --resume and --overwrite.
    let again = try runProduct("clip", ["train", "--clip", folder, "--data", microDataset.directory, "--epochs", "1", "--out", out])
    #expect(again.status != 0 && again.stderr.contains("--overwrite") && again.stderr.contains("--resume \(out)/last.training.safetensors"),
            "\(again.stderr)")
    // The model to fine-tune is never one of the files the run writes, not even with --overwrite.
    let inside = temporaryDirectory("clip-inside")
    try FileManager.default.copyItem(atPath: folder, toPath: inside + "/best")
    let clobber = try runProduct("clip", ["train", "--clip", inside + "/best", "--data", microDataset.directory, "--out", inside, "--overwrite"])
    #expect(clobber.status == 1 && clobber.stderr.contains("which this run writes"), "\(clobber.stderr)")
    #expect(FileManager.default.fileExists(atPath: inside + "/best/model.safetensors"))
    // … and continued from its last checkpoint.
    let resumed = try runProduct("clip", ["train", "--resume", out + "/last", "--data", microDataset.directory, "--epochs", "3"])
    #expect(resumed.status == 0 && resumed.stdout.contains("continuing the fine-tuning run") && resumed.stdout.contains("epoch 3/3"),
            "\(resumed.stdout)\(resumed.stderr)")

    // LiT from an open_clip file (in process: a file this small has no preset for the tool to infer its
    // heads from): OUT/last.safetensors in open_clip's keys, the vision tower bit-identical.
    let file = temporaryDirectory("clip-openclip") + "/ViT-small.safetensors"
    var writer = SafetensorsWriter()
    writer.add(start, table: OpenAICLIP.parameterTable(start.config, format: .openCLIP))
    try writer.write(to: file)
    let fromFile = try OpenAICLIP(checkpoint: file, config: start.config)
    #expect(fromFile.origin?.format == .openCLIP && fromFile.origin?.isFolder == false && fromFile.origin?.path == file)
    var config = TrainingConfig.openAICLIPFineTune
    (config.epochs, config.seconds, config.batchSize, config.optimizer.freezeImage) = (1, nil, 8, true)
    (config.optimizer.imageLearningRate, config.optimizer.textLearningRate, config.optimizer.headLearningRate) = (1e-3, 1e-3, 1e-3)
    let litOut = temporaryDirectory("clip-lit")
    let trainer = try ContrastiveTrainer<OpenAICLIP>(config: config, dataset: microDataset.dataset, tokenizer: try CLIPTokenizer.bundled(),
                                                     outputDirectory: litOut, initialModel: fromFile, observer: CollectingObserver())
    try trainer.run()
    #expect(trainer.lastCheckpoint == litOut + "/last.safetensors")
    #expect(try SafetensorsFile(path: litOut + "/last.safetensors").entries["visual.conv1.weight"] != nil)
    let locked = try OpenAICLIP(checkpoint: litOut + "/last.safetensors", config: start.config)
    for p in OpenAICLIP.parameterTable(start.config, format: .openCLIP) {
      let same = p.get(locked).storage == p.get(start).storage
      #expect(same == p.key.hasPrefix("visual."), "\(p.key): \(same ? "unchanged" : "changed")")
    }
    for (flags, message) in [(["--locked-image"], "--locked-image is for --clip"), (["--clip", file, "--resume", "x"], "--resume continues one"),
                             (["--clip", file, "--set", "model.dropout=0"], "come from the --clip checkpoint"),
                             (["--clip", file, "--config", "seed"], "pick one")] {
      let refused = try runProduct("clip", ["train"] + flags)
      #expect(refused.status == 64 && refused.stderr.contains(message), "\(flags): \(refused.stderr)")
    }
  }

  @Test("chapter 11's fine-tuning section: zero-shot on the shapes before and after, the same trainer, a Hugging Face folder out")
  func chapterFineTune() throws {
    let (folder, _) = try Self.fullVocabularyFolder()
    let out = temporaryDirectory("ch11-finetune")
    let run = try runProduct("ch11-openai-clip", ["--clip", folder, "--classes", "5", "--finetune-seconds", "2", "--finetune-lr", "5e-4",
                                                  "--locked-image", "--out", out])
    #expect(run.status == 0, "\(run.stderr)")
    for line in ["[7/8] fine-tuning  (2 s on generated shapes with the image tower locked (LiT), lr 5e-04)", "zero-shot before: test (seen colour–shape pairs)",
                 "zero-shot after:  test (seen colour–shape pairs)", "32 classes (chance 3.1%)", "groups image, image.no_decay, text, text.no_decay, scale",
                 "the fine-tuned model, in the form it was read: \(out)/finetuned/best"] {
      #expect(run.stdout.contains(line), "chapter 11 should print \(line.debugDescription)\n\(run.stdout)")
    }
    #expect(FileManager.default.fileExists(atPath: out + "/finetuned/best/model.safetensors"))
    let skipped = try runProduct("ch11-openai-clip", ["--clip", folder, "--classes", "5"])
    #expect(skipped.stdout.contains("--finetune-seconds 120") && !skipped.stdout.contains("zero-shot before"))
  }

  @Test("a fine-tuning run of OpenAI's CLIP resumed from OUT/last.training.safetensors ends bit-identical to one never interrupted; the state file is whole by itself")
  func fineTuneResume() throws {
    let (folder, _) = try Self.fullVocabularyFolder()
    let start = try OpenAICLIP(checkpoint: folder)
    var config = TrainingConfig.openAICLIPFineTune
    (config.epochs, config.seconds, config.batchSize) = (2, nil, 8)
    (config.optimizer.imageLearningRate, config.optimizer.textLearningRate, config.optimizer.headLearningRate) = (1e-3, 1e-3, 1e-3)
    let tokenizer = try CLIPTokenizer.bundled()
    func trainer(_ out: String, resume: String? = nil) throws -> ContrastiveTrainer<OpenAICLIP> {
      try ContrastiveTrainer<OpenAICLIP>(config: config, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: out, resume: resume,
                                         initialModel: resume == nil ? start : nil, observer: CollectingObserver())
    }
    let straight = try trainer(temporaryDirectory("ft-straight"))
    try straight.run()
    let out = temporaryDirectory("ft-resumed")
    let first = try trainer(out)
    try first.run(stopAfterSteps: first.stepsPerEpoch)  // epoch 1, then a checkpoint at the start of epoch 2
    #expect(first.state.epoch == 1 && FileManager.default.fileExists(atPath: out + "/last.training.safetensors"))
    let earlierState = temporaryDirectory("ft-earlier") + "/state.safetensors"
    try FileManager.default.copyItem(atPath: out + "/last.training.safetensors", toPath: earlierState)
    let second = try trainer(out, resume: out + "/last.training.safetensors")
    #expect(second.state.step == first.state.step && second.optimizer.step == first.optimizer.step)
    try second.run()
    #expect(second.state.step == straight.state.step)
    var differing: [String] = []
    for p in straight.model.parameters where p.get(straight.model).storage != p.get(second.model).storage { differing.append(p.key) }
    #expect(differing.isEmpty, "resumed weights differ from the uninterrupted run's: \(differing.prefix(5))")
    // The weights on disk are the trainer's; a state file is whole by itself: an older one (as a run killed
    // between its two writes leaves) resumes its own step with its own weights, whatever OUT/last holds.
    let saved = try OpenAICLIP(checkpoint: out + "/last")
    #expect(saved.parameters.allSatisfy { $0.get(saved).storage == $0.get(second.model).storage })
    try FileManager.default.removeItem(atPath: out + "/last.training.safetensors")
    try FileManager.default.copyItem(atPath: earlierState, toPath: out + "/last.training.safetensors")
    let older = try OpenAICLIP.loadRun(out + "/last")
    #expect(older.state.step == first.state.step && older.optimizer.step == first.state.step)
    #expect(older.model.parameters.allSatisfy { $0.get(older.model).storage == $0.get(first.model).storage })
  }
}
