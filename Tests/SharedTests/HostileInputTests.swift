// What a hostile user found (issue 14), one test per case: configuration from outside validated at the
// door, vocab.txt read as Hugging Face reads it, NaN weights refused, no hangs on bad flags, nothing a
// user made overwritten, and no "success" over nothing. ROBUSTNESS.md is the table of these cases.

import Foundation
import Shared
import Testing

/// A micro checkpoint (untrained) written to `dir/name`, with its config metadata edited by `edit`
/// (the JSON object of TrainingConfig) and its tensors edited by `tensors`.
func hostileCheckpoint(_ dir: String, _ name: String = "model.safetensors", edit: (inout [String: Any]) -> Void = { _ in },
                       tensors: (inout [String: Tensor]) -> Void = { _ in }) throws -> String {
  let config = microTrainingConfig()
  let model = CLIP(config: config.model, seed: 1)
  let clean = dir + "/clean-" + name
  try TrainingCheckpoint.save(model: model, optimizer: AdamW(model: model, config: config.optimizer), config: config,
                              state: TrainingState(), to: clean)
  let file = try SafetensorsFile(path: clean)
  var metadata = file.metadata
  var object = try JSONSerialization.jsonObject(with: Data(metadata["config"]!.utf8)) as! [String: Any]
  edit(&object)
  metadata["config"] = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
  var all: [String: Tensor] = [:]
  for key in file.names { all[key] = try file.tensor(key) }
  tensors(&all)
  var writer = SafetensorsWriter(metadata: metadata)
  for key in all.keys.sorted() { writer.add(key, all[key]!) }
  let path = dir + "/" + name
  try writer.write(to: path)
  return path
}

/// Sets a nested field of a JSON object: setting(&o, ["model", "vit", "heads"], 0).
func setting(_ object: inout [String: Any], _ path: [String], _ value: Any) {
  if path.count == 1 { object[path[0]] = value; return }
  var inner = object[path[0]] as! [String: Any]
  setting(&inner, Array(path.dropFirst()), value)
  object[path[0]] = inner
}

func expectError(_ body: () throws -> Void, contains parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
  do {
    try body()
    Issue.record("expected an error containing \(parts)", sourceLocation: sourceLocation)
  } catch {
    for p in parts { #expect("\(error)".contains(p), "\(error)", sourceLocation: sourceLocation) }
    #expect(!"\(error)".contains("NSCocoaErrorDomain"), "\(error)", sourceLocation: sourceLocation)
  }
}

@Suite("Hostile input", .serialized)
struct HostileInputTests {
  // MARK: - Configuration validated at load

  @Test("a checkpoint config with impossible values is an error naming the file and the field",
        arguments: [
          (["model", "vit", "heads"], 0, "model.vit.heads must be at least 1, got 0"),
          (["model", "vit", "heads"], -4, "model.vit.heads must be at least 1, got -4"),
          (["model", "vit", "heads"], 3, "model.vit.heads must divide width 16, got 3"),
          (["model", "text", "heads"], 0, "model.text.heads must be at least 1"),
          (["model", "vit", "patchSize"], 0, "model.vit.patchSize must be at least 1"),
          (["model", "vit", "layerNormEps"], 0, "model.vit.layerNormEps must be a finite number > 0"),
          (["model", "projectionDim"], -1, "model.projectionDim must be at least 1"),
          (["model", "maxTextLength"], 500, "model.maxTextLength must be at most text.maxPositions 32"),
          (["batchSize"], 0, "batchSize must be at least 2, got 0"),
          (["validationFraction"], 2.0, "validationFraction must be in [0.0, 1.0), got 2.0"),
          (["validationFraction"], -1, "validationFraction must be in [0.0, 1.0), got -1.0"),
          (["model", "vit", "width"], 1_000_000_000, "model.vit.width must be at most 65536"),
          (["model", "text", "vocabSize"], 16_777_216, "the configuration needs at least"),  // refused before allocating 1 GB
        ] as [([String], Double, String)])
  func checkpointConfig(_ field: [String], _ value: Double, _ message: String) throws {
    let dir = temporaryDirectory()
    let path = try hostileCheckpoint(dir) { setting(&$0, field, value == value.rounded() && abs(value) < 1e12 && field.last != "validationFraction" ? Int(value) as Any : value) }
    expectError({ _ = try TrainingCheckpoint.loadModel(path) }, contains: [path, message])
    expectError({ _ = try TrainingCheckpoint.load(path) }, contains: [path, message])
    expectError({ _ = try Embedder(checkpoint: path) }, contains: [path, message])
  }

  @Test("the tools exit 1 with the message, never a signal, on a checkpoint with heads 0, batchSize 0 or validationFraction 2")
  func toolsOnBadCheckpoints() throws {
    let dir = temporaryDirectory()
    let heads = try hostileCheckpoint(dir, "heads.safetensors") { setting(&$0, ["model", "vit", "heads"], 0) }
    let image = overfitRun.directory + "/images/red.jpg"
    let zeroShot = try runProduct("clip", ["zero-shot", "--model", heads, "--labels", "a,b", image])
    #expect(zeroShot.status == 1 && zeroShot.stderr.contains("heads.safetensors") && zeroShot.stderr.contains("model.vit.heads"), "\(zeroShot)")
    let index = try runProduct("clip", ["index", overfitRun.directory + "/images", "--model", heads, "--out", dir + "/x.index"])
    #expect(index.status == 1 && index.stderr.contains("model.vit.heads") && !FileManager.default.fileExists(atPath: dir + "/x.index"), "\(index)")
    let batch = try hostileCheckpoint(dir, "last.safetensors") { setting(&$0, ["batchSize"], 0) }
    let resume = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", dir + "/run", "--resume", batch, "--epochs", "3"])
    #expect(resume.status == 1 && resume.stderr.contains("batchSize must be at least 2"), "\(resume)")
    let fraction = try hostileCheckpoint(dir, "fraction.safetensors") { setting(&$0, ["validationFraction"], 2.0) }
    let eval = try runProduct("clip", ["retrieve-eval", "--model", fraction, "--data", microDataset.directory])
    #expect(eval.status == 1 && eval.stderr.contains("validationFraction"), "\(eval)")
  }

  @Test("a config.json with zero heads, a huge size or a bad eps is refused before anything is allocated")
  func huggingFaceConfig() throws {
    let dir = temporaryDirectory()
    let good = try String(contentsOfFile: Fixtures.path("ch05-bert-small-config.json"), encoding: .utf8)
    for (from, to, message) in [("\"num_attention_heads\": 4", "\"num_attention_heads\": 0", "'num_attention_heads' is missing or not a positive integer"),
                                ("\"vocab_size\": 1000", "\"vocab_size\": 1e15", "'vocab_size'"),
                                ("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": 0", "layerNormEps must be a finite number > 0"),
                                ("\"type_vocab_size\": 2", "\"type_vocab_size\": 0", "'type_vocab_size'"),
                                ("\"hidden_size\": 32", "\"hidden_size\": 32,,", "not valid JSON")] {
      try good.replacingOccurrences(of: from, with: to).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
      expectError({ _ = try BERTConfig(huggingFaceConfig: dir + "/config.json") }, contains: [dir + "/config.json", message])
    }
  }

  @Test("NaN or ∞ in loaded weights is an error naming the tensor")
  func nonFiniteWeights() throws {
    let dir = temporaryDirectory()
    let path = try hostileCheckpoint(dir, tensors: { tensors in
      var t = tensors["model.logit_scale"]!
      t.storage[0] = .nan
      tensors["model.logit_scale"] = t
    })
    expectError({ _ = try TrainingCheckpoint.loadModel(path) }, contains: [path, "tensor 'model.logit_scale' holds nan"])
    let run = try runProduct("clip", ["zero-shot", "--model", path, "--json", "--labels", "a,b", overfitRun.directory + "/images/red.jpg"])
    #expect(run.status == 1 && !run.stdout.contains("nan") && run.stderr.contains("logit_scale"), "\(run)")
    #expect(jsonNumber(Float.nan) == "null" && jsonNumber(Float.infinity) == "null" && jsonNumber(Float(0.5)) == "0.5")
  }

  // MARK: - vocab.txt as Hugging Face reads it

  func vocabFile(_ dir: String, _ name: String, _ lines: [String], separator: String = "\n") throws -> String {
    let path = dir + "/" + name
    try Data((lines.joined(separator: separator) + separator).utf8).write(to: URL(fileURLWithPath: path))
    return path
  }

  @Test("vocab.txt: CRLF reads as LF, trailing whitespace is trimmed, a duplicate keeps its last id, [UNK]/[CLS]/[SEP]/[PAD] are required")
  func vocabularySemantics() throws {
    let dir = temporaryDirectory()
    let base = Array(try String(contentsOfFile: Fixtures.repositoryRoot + "/Assets/bert-base-uncased-vocab.txt", encoding: .utf8)
      .split(separator: "\n", omittingEmptySubsequences: false).prefix(3000).map(String.init))
    let text = "the zzqx [CLS] hello"
    let lf = try BertTokenizer(vocabularyPath: try vocabFile(dir, "lf.txt", base))
    let crlf = try BertTokenizer(vocabularyPath: try vocabFile(dir, "crlf.txt", base, separator: "\r\n"))
    // The ids Hugging Face's BertTokenizer (transformers 5.24) gives for this text with this vocabulary.
    #expect(lf.encode(text) == [101, 1996, 100, 101, 2002, 2140, 2140, 2080, 102])
    #expect(crlf.encode(text) == lf.encode(text))
    #expect(crlf.vocabulary.count == 3000)
    let trailing = try BertTokenizer(vocabularyPath: try vocabFile(dir, "trail.txt", base.map { $0 == "the" ? "the \t" : $0 }))
    #expect(trailing.encode(text) == lf.encode(text))
    let duplicate = try BertTokenizer(vocabularyPath: try vocabFile(dir, "dup.txt", base + ["the", "[CLS]"]))
    #expect(duplicate.encode(text) == [3001, 3000, 100, 3001, 2002, 2140, 2140, 2080, 102])  // HF: the last line wins
    for missing in ["[UNK]", "[CLS]", "[SEP]", "[PAD]"] {
      let path = try vocabFile(dir, "no\(missing.dropFirst().dropLast()).txt", base.map { $0 == missing ? "gone" : $0 })
      expectError({ _ = try BertTokenizer(vocabularyPath: path) }, contains: [path, "has no \(missing) token"])
    }
  }

  @Test("a vocab.txt longer than the model's vocab_size is refused, not read past the table")
  func vocabularyLongerThanModel() throws {
    let dir = temporaryDirectory()
    try FileManager.default.copyItem(atPath: Fixtures.path("ch05-bert-small-config.json"), toPath: dir + "/config.json")
    try FileManager.default.copyItem(atPath: Fixtures.path("ch05-bert-small-weights.safetensors"), toPath: dir + "/model.safetensors")
    try FileManager.default.copyItem(atPath: Fixtures.repositoryRoot + "/Assets/bert-base-uncased-vocab.txt", toPath: dir + "/vocab.txt")
    expectError({ _ = try SentenceEncoder(directory: dir) }, contains: [dir + "/vocab.txt", "has 30522 tokens", "only 1000 rows"])
    let run = try runProduct("clip", ["embed-text", "--model", dir, "a dog"])
    #expect(run.status == 1 && run.stderr.contains("only 1000 rows"), "\(run)")
  }

  @Test("ch04-tokenizer with a short vocabulary and with CRLF endings runs and prints that vocabulary's ids")
  func chapter04OtherVocabularies() throws {
    let dir = temporaryDirectory()
    let base = Array(try String(contentsOfFile: Fixtures.repositoryRoot + "/Assets/bert-base-uncased-vocab.txt", encoding: .utf8)
      .split(separator: "\n").prefix(2100).map(String.init))
    for (name, separator) in [("short.txt", "\n"), ("crlf.txt", "\r\n")] {
      let path = try vocabFile(dir, name, base, separator: separator)
      let run = try runProduct("ch04-tokenizer", ["--vocab", path, "--text", "the dog"])
      #expect(run.status == 0, "\(run)")
      #expect(run.stdout.contains("2100 tokens: special tokens ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103)"), "\(run.stdout)")
      #expect(run.stdout.contains("[101, 1996, 100, 102]"), "\(run.stdout)")  // "dog" (3899) is past line 2100
    }
  }

  // MARK: - No hangs: every executable parses its flags with swift-argument-parser

  @Test("bad numbers and unknown flags get argument-parser's message and exit 64; --help exits 0 and does nothing",
        arguments: [
          ("ch07-contrastive-loss", ["--steps", "-5"], "--steps must be between 1 and 100000, got -5"),
          ("ch07-contrastive-loss", ["--steps", "abc"], "The value 'abc' is invalid for '--steps"),
          ("ch08-training", ["--epochs", "-1"], "--epochs must be at least 1, got -1"),
          ("ch08-training", ["--batch-size", "0"], "--batch-size must be between 2 and 1048576, got 0"),
          ("ch08-training", ["--data", "d", "--shapes", "twoShapeFraction=0"], "--shapes shape generated data, not --data"),
          ("ch08-training", ["--frozen-text", "--set", "model.text.layers=3"], "--set model.text.layers=3 cannot change it"),
          ("ch08-training", ["--lit"], "--lit is now --frozen-text"),
          ("tour", ["--bogus"], "Unknown option '--bogus'"),
          ("clip", ["search", "x.index", "a dog", "-k", "-1"], "-k must be at least 1, got -1"),
          ("clip", ["tokenize", "--vocab", "v.txt", "--max-length", "-5", "a"], "--max-length must be at least 2"),
          ("clip", ["train", "--epochs", "-1"], "--epochs must be at least 1, got -1"),
        ])
  func badFlags(_ product: String, _ arguments: [String], _ message: String) throws {
    let dir = temporaryDirectory()
    let run = try runProduct(product, arguments, currentDirectory: dir)
    #expect(run.status == 64, "\(run)")
    #expect(run.stderr.contains(message), "\(run.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/output"), "\(product) wrote output/ on a bad flag")
  }

  @Test("--help on every chapter and the tour prints usage, exits 0 and writes nothing",
        arguments: ["ch01-patches", "ch02-attention", "ch03-vit", "ch04-tokenizer", "ch05-bert", "ch06-projection",
                    "ch07-contrastive-loss", "ch08-training", "ch09-zero-shot", "tour"])
  func help(_ product: String) throws {
    let dir = temporaryDirectory()
    let run = try runProduct(product, ["--help"], currentDirectory: dir)
    #expect(run.status == 0 && run.stdout.contains("USAGE: \(product)"), "\(run)")
    #expect((try FileManager.default.contentsOfDirectory(atPath: dir)).isEmpty)
  }

  // MARK: - Nothing a user made is lost

  @Test("clip index refuses to replace a file that is not an index, and leaves it as it was")
  func indexOverNonIndex() throws {
    let dir = temporaryDirectory()
    let precious = dir + "/precious.safetensors"
    try FileManager.default.copyItem(atPath: overfitRun.checkpoint, toPath: precious)
    let before = try Data(contentsOf: URL(fileURLWithPath: precious))
    let run = try runProduct("clip", ["index", overfitRun.directory + "/images", "--model", overfitRun.checkpoint, "--out", precious])
    #expect(run.status == 1 && run.stderr.contains("is not a clip index"), "\(run)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: precious)) == before)
  }

  @Test("a fresh run into a folder holding a run is refused without --resume or --overwrite; half-written temp files are removed")
  func freshRunOverExisting() throws {
    let dir = temporaryDirectory()
    var config = microTrainingConfig()
    config.epochs = 1
    config.maxStepsPerEpoch = 1
    let tokenizer = try BertTokenizer.bundledUncased()
    try Trainer(config: config, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: dir, observer: CollectingObserver()).run()
    let best = try Data(contentsOf: URL(fileURLWithPath: dir + "/best.safetensors"))
    expectError({
      _ = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: dir, observer: CollectingObserver())
    }, contains: [dir, "already holds a training run", "--resume", "--overwrite"])
    #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/best.safetensors")) == best)
    #expect(FileManager.default.fileExists(atPath: dir + "/log.jsonl"))
    let cli = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", dir, "--epochs", "1"])
    #expect(cli.status == 1 && cli.stderr.contains("already holds a training run"), "\(cli)")
    // --overwrite with a check that fails later (a vocabulary the model cannot hold) loses nothing.
    var misfit = config
    misfit.model.text.vocabSize = 100
    expectError({
      _ = try Trainer(config: misfit, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: dir, overwrite: true,
                      observer: CollectingObserver())
    }, contains: ["only 100 rows"])
    #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/best.safetensors")) == best)
    #expect(FileManager.default.fileExists(atPath: dir + "/log.jsonl"), "the refused --overwrite deleted the earlier run's log")
    // A temp file of a killed writer (no such process, a minute old) goes; one of a live process, a fresh
    // one, and a user's file that only looks similar stay.
    let stale = dir + "/.last.safetensors.tmp-2147483000", live = dir + "/.last.safetensors.tmp-1"
    let fresh = dir + "/.best.safetensors.tmp-2147483001", users = dir + "/.notes.tmp-2147483002"
    for p in [stale, live, fresh, users] { _ = FileManager.default.createFile(atPath: p, contents: Data(count: 100)) }
    for p in [stale, live, users] {
      try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: p)
    }
    let observer = CollectingObserver()
    _ = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: dir, overwrite: true, observer: observer)
    #expect(!FileManager.default.fileExists(atPath: stale))
    #expect([live, fresh, users].allSatisfy { FileManager.default.fileExists(atPath: $0) })
    #expect(observer.lines.contains { $0.contains(".last.safetensors.tmp-2147483000") })
    #expect(!FileManager.default.fileExists(atPath: dir + "/best.safetensors"))  // replaced as asked, once every check passed
    #expect(!FileManager.default.fileExists(atPath: dir + "/log.jsonl"))  // the new run starts its own log
    // And the replacing run trains and writes its own files (a replaced log.jsonl once stopped it).
    let replacing = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: tokenizer, outputDirectory: dir, overwrite: true,
                                observer: CollectingObserver())
    try replacing.run()
    #expect(FileManager.default.fileExists(atPath: dir + "/best.safetensors") && FileManager.default.fileExists(atPath: dir + "/log.jsonl"))
  }

  @Test("resume: epochs already done, a changed batch size or config are errors")
  func resumeFlags() throws {
    let dir = temporaryDirectory()
    let out = dir + "/run"
    let first = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", out, "--epochs", "1", "--batch-size", "16"])
    #expect(first.status == 0, "\(first)")
    let last = out + "/last.safetensors"
    for (flags, message) in [(["--epochs", "1"], "has already finished 1 of its 1 epochs"), (["--epochs", "2", "--batch-size", "8"], "--batch-size 8 cannot change it"),
                             (["--epochs", "2", "--config", "seed"], "--config seed cannot change it")] {
      let run = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", out, "--resume", last] + flags)
      #expect(run.status == 1 && run.stderr.contains(message), "\(flags): \(run)")
    }
  }

  @Test("chapter 08: resuming with the same --lr is fine, a different one is an error")
  func chapter08ResumeFlags() throws {
    let out = temporaryDirectory() + "/run"
    let common = ["--data", microDataset.directory, "--batch-size", "16", "--out", out]
    let first = try runProduct("ch08-training", common + ["--epochs", "1", "--lr", "0.002"])
    #expect(first.status == 0, "\(first.stderr)")
    let same = try runProduct("ch08-training", common + ["--epochs", "2", "--lr", "0.002", "--resume", out + "/last.safetensors"])
    #expect(same.status == 0, "\(same.stderr)")
    let other = try runProduct("ch08-training", common + ["--epochs", "3", "--lr", "0.003", "--resume", out + "/last.safetensors"])
    #expect(other.status == 1 && other.stderr.contains("cannot change them on --resume"), "\(other)")
  }

  @Test("chapter 08: a time budget shorter than one epoch still leaves last and best checkpoints")
  func chapter08ShortBudget() throws {
    let out = temporaryDirectory() + "/run"
    let run = try runProduct("ch08-training", ["--data", microDataset.directory, "--batch-size", "4", "--out", out, "--epochs", "1", "--seconds", "0.001"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stdout.contains("time budget reached mid-epoch") && run.stdout.contains("best.safetensors"), "\(run.stdout)")
    for file in ["last.safetensors", "best.safetensors"] { #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)") }
  }

  // MARK: - No success over nothing

  /// The micro dataset's captions with its images replaced: `corrupt` decides which become garbage.
  func datasetCopy(_ dir: String, corrupt: (String) -> Bool) throws -> CaptionDataset {
    try FileManager.default.copyItem(atPath: microDataset.directory + "/images", toPath: dir + "/images")
    try FileManager.default.copyItem(atPath: microDataset.directory + "/captions.csv", toPath: dir + "/captions.csv")
    for name in try FileManager.default.contentsOfDirectory(atPath: dir + "/images") where corrupt(name) {
      try Data("not a jpeg".utf8).write(to: URL(fileURLWithPath: dir + "/images/" + name))
    }
    return try CaptionDataset(csvPath: dir + "/captions.csv")
  }

  @Test("all training images unreadable: an error, and no checkpoint")
  func noReadableTrainingImages() throws {
    let dir = temporaryDirectory()
    let dataset = try datasetCopy(dir) { _ in true }
    var config = microTrainingConfig()
    config.epochs = 1
    let trainer = try Trainer(config: config, dataset: dataset, tokenizer: try .bundledUncased(), outputDirectory: dir + "/out",
                              observer: CollectingObserver())
    expectError({ try trainer.run() }, contains: ["epoch 1 took no training step", "No checkpoint was written"])
    #expect(!FileManager.default.fileExists(atPath: dir + "/out/last.safetensors"))
    let cli = try runProduct("clip", ["train", "--data", dir, "--out", dir + "/cli", "--epochs", "1", "--strict"])
    #expect(cli.status == 1, "\(cli)")
  }

  @Test("validation images lost on resume: a warning with the count, and an error when none is left; best.safetensors stays")
  func validationImagesLost() throws {
    let dir = temporaryDirectory()
    var config = microTrainingConfig()
    config.epochs = 1
    let validation = splitByImage(microDataset.dataset.images, validationFraction: config.validationFraction, seed: config.seed).validation
    let some = try datasetCopy(dir + "/some") { $0 == validation[0] }
    let trainer = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: try .bundledUncased(), outputDirectory: dir + "/out",
                              observer: CollectingObserver())
    try trainer.run()
    let best = try Data(contentsOf: URL(fileURLWithPath: dir + "/out/best.safetensors"))
    config.epochs = 2
    let observer = CollectingObserver()
    try Trainer(config: config, dataset: some, tokenizer: try .bundledUncased(), outputDirectory: dir + "/out",
                resume: dir + "/out/last.safetensors", observer: observer).run()
    #expect(observer.lines.contains { $0.contains("warning: 1 of \(validation.count) validation images could not be read") }, "\(observer.lines)")
    let none = try datasetCopy(dir + "/none") { validation.contains($0) }
    config.epochs = 3
    let bestNow = try Data(contentsOf: URL(fileURLWithPath: dir + "/out/best.safetensors"))
    expectError({
      try Trainer(config: config, dataset: none, tokenizer: try .bundledUncased(), outputDirectory: dir + "/out",
                  resume: dir + "/out/last.safetensors", observer: CollectingObserver()).run()
    }, contains: ["validation failed", "\(validation.count) of \(validation.count) validation images"])
    #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/out/best.safetensors")) == bestNow)
    _ = best
  }

  @Test("clip index of an empty or all-bad folder and retrieve-eval over no readable image exit 1 and write nothing")
  func nothingToDo() throws {
    let dir = temporaryDirectory()
    try ensureDirectory(dir + "/empty")
    let empty = try runProduct("clip", ["index", dir + "/empty", "--model", overfitRun.checkpoint, "--out", dir + "/e.index"])
    #expect(empty.status == 1 && empty.stderr.contains("nothing to index") && !FileManager.default.fileExists(atPath: dir + "/e.index"), "\(empty)")
    let bad = dir + "/bad"
    _ = try datasetCopy(bad) { _ in true }
    let allBad = try runProduct("clip", ["index", bad + "/images", "--model", overfitRun.checkpoint, "--out", dir + "/b.index"])
    #expect(allBad.status == 1 && allBad.stderr.contains("could be read: no index written") && !FileManager.default.fileExists(atPath: dir + "/b.index"), "\(allBad)")
    let eval = try runProduct("clip", ["retrieve-eval", "--model", overfitRun.checkpoint, "--data", bad, "--all"])
    #expect(eval.status == 1 && eval.stderr.contains("only 0 of the 40 images could be read"), "\(eval)")
    // One good and one bad image: the good one is classified, the exit status says 3 (partial).
    let mixed = try runProduct("clip", ["zero-shot", "--model", overfitRun.checkpoint, "--labels", "red picture,blue picture,red picture",
                                        overfitRun.directory + "/images/red.jpg", bad + "/images/" + microDataset.dataset.images[0]])
    #expect(mixed.status == 3 && mixed.stdout.contains("red.jpg: ") && mixed.stderr.contains("1 of 2 inputs skipped"), "\(mixed)")
    #expect(mixed.stderr.contains("the label 'red picture' is given more than once"), "\(mixed.stderr)")
  }

  @Test("JSON errors read as one line: the field and the problem, no Foundation dump")
  func jsonMessages() throws {
    let dir = temporaryDirectory()
    let broken = try hostileCheckpoint(dir) { $0["model"] = ["vit": "oops"] }
    expectError({ _ = try TrainingCheckpoint.loadModel(broken) }, contains: [broken, "unreadable config in its metadata"])
    var header = Data("{\"a\": [1, 2,,]}".utf8)
    var length = UInt64(header.count).littleEndian
    var bytes = Data(bytes: &length, count: 8)
    bytes.append(header)
    header = bytes
    expectError({ _ = try SafetensorsFile(data: header) }, contains: ["not valid JSON"])
  }

  @Test("a truncated checkpoint or model file: every command's error names the file")
  func errorsNameTheFile() throws {
    let dir = temporaryDirectory()
    let truncated = dir + "/truncated.safetensors"
    try Data(try Data(contentsOf: URL(fileURLWithPath: overfitRun.checkpoint)).prefix(5000)).write(to: URL(fileURLWithPath: truncated))
    let image = overfitRun.directory + "/images/red.jpg"
    let index = dir + "/good.index"
    _ = try runProduct("clip", ["index", overfitRun.directory + "/images", "--model", overfitRun.checkpoint, "--out", index])
    for arguments in [["zero-shot", "--model", truncated, "--labels", "a,b", image],
                      ["index", overfitRun.directory + "/images", "--model", truncated, "--out", dir + "/x.index"],
                      ["search", index, "a dog", "--model", truncated],
                      ["train", "--data", microDataset.directory, "--out", dir + "/run", "--resume", truncated, "--epochs", "9"],
                      ["retrieve-eval", "--model", truncated, "--data", microDataset.directory]] {
      let run = try runProduct("clip", arguments)
      #expect(run.status == 1 && run.stderr.hasPrefix("error: \(truncated): ") && run.stderr.contains("runs past the end"), "\(arguments[0]): \(run)")
    }
    try ensureDirectory(dir + "/model")
    try FileManager.default.copyItem(atPath: Fixtures.path("ch05-bert-small-config.json"), toPath: dir + "/model/config.json")
    try Data(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("ch05-bert-small-weights.safetensors"))).prefix(3000))
      .write(to: URL(fileURLWithPath: dir + "/model/model.safetensors"))
    try Data("[PAD]\n[UNK]\n[CLS]\n[SEP]\n".utf8).write(to: URL(fileURLWithPath: dir + "/model/vocab.txt"))
    let text = try runProduct("clip", ["embed-text", "--model", dir + "/model", "a dog"])
    #expect(text.status == 1 && text.stderr.contains(dir + "/model/model.safetensors: "), "\(text)")
  }

  // MARK: - A second hostile pass (the neighbours of the first list)

  @Test("sizes that would overflow a product are refused, in a checkpoint and on the command line",
        arguments: [(["model", "vit", "imageSize"], 17_592_186_044_416, "model.vit.imageSize must be at most 16384"),
                    (["model", "vit", "numClasses"], Int.max, "model.vit.numClasses must be at most 16777216"),
                    (["model", "projectionDim"], 4_611_686_018_427_387_903, "model.projectionDim must be at most 65536"),
                    (["model", "text", "maxPositions"], Int.max, "model.text.maxPositions must be at most 1048576"),
                    (["batchSize"], Int.max, "batchSize must be at most 1048576")])
  func overflowingSizes(_ field: [String], _ value: Int, _ message: String) throws {
    let dir = temporaryDirectory()
    let path = try hostileCheckpoint(dir) { setting(&$0, field, value) }
    expectError({ _ = try TrainingCheckpoint.loadModel(path) }, contains: [path, message])
    let run = try runProduct("clip", ["zero-shot", "--model", path, "--labels", "a,b", overfitRun.directory + "/images/red.jpg"])
    #expect(run.status == 1 && run.stderr.contains(message), "\(run)")
  }

  @Test("resume state past the data's epoch, a huge --batch-size, or another run in --out are errors, not traps or overwrites")
  func resumeNeighbours() throws {
    let dir = temporaryDirectory()
    let huge = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", dir + "/h", "--batch-size", "\(Int.max)"])
    #expect(huge.status == 64 && huge.stderr.contains("--batch-size must be between 2 and"), "\(huge)")
    let a = dir + "/a", b = dir + "/b"
    for out in [a, b] {
      let run = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", out, "--epochs", "1", "--batch-size", "16"])
      #expect(run.status == 0, "\(run)")
    }
    let bBest = try Data(contentsOf: URL(fileURLWithPath: b + "/best.safetensors"))
    let into = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", b, "--resume", a + "/last.safetensors", "--epochs", "2"])
    #expect(into.status == 1 && into.stderr.contains("holds another training run"), "\(into)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: b + "/best.safetensors")) == bBest)
    // A state that stopped at batch 1000 of an epoch of 2 batches.
    let loaded = try TrainingCheckpoint.load(a + "/last.safetensors")
    var state = loaded.state
    state.batchInEpoch = 1000
    try ensureDirectory(dir + "/c")
    try TrainingCheckpoint.save(model: loaded.model, optimizer: loaded.optimizer, config: loaded.config, state: state, to: dir + "/c/last.safetensors")
    let past = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", dir + "/c", "--resume", dir + "/c/last.safetensors", "--epochs", "3"])
    #expect(past.status == 1 && past.stderr.contains("stopped at batch 1000"), "\(past)")
  }

  @Test("finite weights that overflow, or a logit scale whose exp is ∞, are refused at load; no NaN index is written")
  func overflowingModels() throws {
    let dir = temporaryDirectory()
    let big = try hostileCheckpoint(dir, "big.safetensors", tensors: { tensors in
      var t = tensors["model.image_projection.projection.weight"]!
      for i in t.storage.indices { t.storage[i] = 3e38 }
      tensors["model.image_projection.projection.weight"] = t
    })
    expectError({ _ = try Embedder(checkpoint: big) }, contains: [big, "overflow to NaN"])
    let scale = try hostileCheckpoint(dir, "scale.safetensors", tensors: { tensors in tensors["model.logit_scale"] = Tensor(shape: [1], storage: [100]) })
    expectError({ _ = try Embedder(checkpoint: scale) }, contains: [scale, "logit_scale 100.0 is out of range"])
    let index = try runProduct("clip", ["index", overfitRun.directory + "/images", "--model", big, "--out", dir + "/x.index"])
    #expect(index.status == 1 && !FileManager.default.fileExists(atPath: dir + "/x.index"), "\(index)")
  }

  @Test("clip preprocess never replaces a file that is not its own output; search refuses an empty query and a stale model")
  func preprocessAndSearchNeighbours() throws {
    let dir = temporaryDirectory()
    let image = overfitRun.directory + "/images/red.jpg"
    let notes = dir + "/notes.txt"
    try Data("precious".utf8).write(to: URL(fileURLWithPath: notes))
    let over = try runProduct("clip", ["preprocess", image, "--out", notes])
    #expect(over.status == 1 && over.stderr.contains("not an earlier `clip preprocess` output"), "\(over)")
    #expect(try String(contentsOfFile: notes, encoding: .utf8) == "precious")
    let selfOverwrite = try runProduct("clip", ["preprocess", image, "--out", image])
    let stillAPhoto = try JPEG.decode(path: image)
    #expect(selfOverwrite.status == 1 && stillAPhoto.width == 16)
    let first = try runProduct("clip", ["preprocess", image, "--out", dir + "/p.safetensors"])
    let again = try runProduct("clip", ["preprocess", image, "--out", dir + "/p.safetensors"])
    #expect(first.status == 0 && again.status == 0, "\(again)")

    let model = dir + "/model.safetensors"
    try FileManager.default.copyItem(atPath: overfitRun.checkpoint, toPath: model)
    let index = dir + "/p.index"
    let made = try runProduct("clip", ["index", overfitRun.directory + "/images", "--model", model, "--out", index])
    #expect(made.status == 0, "\(made)")
    let blank = try runProduct("clip", ["search", index, "  "])
    #expect(blank.status == 64 && blank.stderr.contains("the query is empty"), "\(blank)")
    // Retrained in place (here: touched): the index notices, search refuses, index re-embeds everything.
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: model)
    let stale = try runProduct("clip", ["search", index, "a red picture"], currentDirectory: NSTemporaryDirectory())
    #expect(stale.status == 1 && stale.stderr.contains("has changed since"), "\(stale)")
    let redo = try runProduct("clip", ["index", overfitRun.directory + "/images", "--model", model, "--out", index])
    #expect(redo.stdout.contains("(8 embedded, 0 unchanged)"), "\(redo)")
    // The index holds absolute paths: it works from any folder.
    let elsewhere = try runProduct("clip", ["search", index, "a red picture", "-k", "1"], currentDirectory: NSTemporaryDirectory())
    #expect(elsewhere.status == 0 && elsewhere.stdout.contains(overfitRun.directory + "/images/"), "\(elsewhere)")
  }

  @Test("an extreme aspect ratio: the eval transform resamples only the crop; chapter 01 says why it will not show it")
  func extremeAspectRatio() throws {
    let dir = temporaryDirectory()
    try JPEG.write(RGBImage(width: 1, height: 60_000, fill: (200, 20, 20)), to: dir + "/thin.jpg", quality: 90)
    let run = try runProduct("clip", ["preprocess", dir + "/thin.jpg", "--out", dir + "/thin.safetensors"])
    #expect(run.status == 0, "\(run)")
    let chapter = try runProduct("ch01-patches", ["--image", dir + "/thin.jpg", "--out", dir + "/ch01"])
    #expect(chapter.status == 1 && chapter.stderr.contains("would not fit in memory to show"), "\(chapter)")
  }

  // MARK: - Shipped files from anywhere

  @Test("the vocabulary, class names and photo are resources beside the executables; a chapter runs from any folder")
  func assetsFromAnywhere() throws {
    for name in [BundledAssets.bertVocabulary, BundledAssets.imagenetClasses, BundledAssets.samplePhoto] {
      #expect(FileManager.default.isReadableFile(atPath: productsDirectory + "/" + BundledAssets.bundleName + "/" + name), "\(name)")
      #expect(assetPath(name) != nil)
    }
    let elsewhere = temporaryDirectory()
    let run = try runProduct("ch04-tokenizer", ["--text", "a dog"], currentDirectory: elsewhere)
    #expect(run.status == 0 && run.stdout.contains("[101, 1037, 3899, 102]"), "\(run)")
  }
}
