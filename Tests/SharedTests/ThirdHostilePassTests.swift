// What the third hostile pass found (issue 26), one test per case: re-indexing after photos changed,
// one index over several folders, an interrupted index resumed, one writer per run folder and per index,
// CLIP vocabularies with Windows line endings or no merges, the end of text found by its own id, logit
// scales and flags out of range, resumes on other data, and messages that say what a file is and what to
// do. ROBUSTNESS.md is the table of these cases.

import Foundation
import Shared
import Testing

/// `count` photos in a fresh folder: copies of the eight overfit colours, named 000.jpg, 001.jpg, …
func photoFolder(_ count: Int, _ tag: String = #function) throws -> String {
  let dir = temporaryDirectory(tag)
  for i in 0..<count {
    let colour = overfitRun.colours[i % overfitRun.colours.count]
    try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/\(colour).jpg", toPath: dir + String(format: "/%03d.jpg", i))
  }
  return dir
}

/// Sets a file's modification time `seconds` later than it is (an edited photo).
func touchLater(_ path: String, seconds: Double = 10) throws {
  let date = (try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date).addingTimeInterval(seconds)
  try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: path)
}

/// Starts one of the package's executables without waiting for it.
func startProduct(_ name: String, _ arguments: [String]) throws -> Process {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: productsDirectory + "/" + name)
  process.arguments = arguments
  process.standardOutput = FileHandle.nullDevice
  process.standardError = FileHandle.nullDevice
  try process.run()
  return process
}

/// Waits up to `seconds` for `condition`.
func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
  let end = Date().addingTimeInterval(seconds)
  while Date() < end {
    if condition() { return true }
    usleep(10_000)
  }
  return condition()
}

@Suite("Hostile input, third pass", .serialized)
struct ThirdHostilePassTests {
  // MARK: - Crashes

  @Test("re-indexing after photos were touched, added or made unreadable updates the index; the bar ends at its total")
  func reindexAfterChanges() throws {
    let photos = try photoFolder(4)
    let index = photos + "/photos.index"
    let first = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    #expect(first.status == 0 && first.stdout.contains("indexed 4 images (4 embedded, 0 unchanged)"), "\(first)")
    try touchLater(photos + "/001.jpg")
    try touchLater(photos + "/002.jpg")
    let second = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    #expect(second.status == 0 && second.stdout.contains("indexed 4 images (2 embedded, 2 unchanged)"), "\(second)")
    #expect(second.stdout.contains("2/2") && !second.stdout.contains("/4 "), "the bar counts the 2 to embed: \(second.stdout)")
    // An unreadable photo and a new one, together.
    try Data("not a jpeg".utf8).write(to: URL(fileURLWithPath: photos + "/003.jpg"))
    try FileManager.default.copyItem(atPath: photos + "/000.jpg", toPath: photos + "/004.jpg")
    let third = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    #expect(third.status == 3 && third.stdout.contains("indexed 4 images (1 embedded, 3 unchanged), 1 skipped"), "\(third)")
    #expect(third.stdout.contains("2/2"), "the bar counts both files it tried: \(third.stdout)")
    #expect(try ImageIndex.load(index).files.map { ($0.path as NSString).lastPathComponent } == ["000.jpg", "001.jpg", "002.jpg", "004.jpg"])
  }

  @Test("the progress bar draws a count past its total at the end instead of stopping the program")
  func progressBarPastItsTotal() {
    let bar = ProgressBar(total: 3, label: "x")
    bar.update(7, info: "")
    bar.offset = 5
    bar.update(-20, info: "")
  }

  @Test("numbers past any sensible range are refused as flags, never converted into a trap",
        arguments: [
          ("ch08-training", ["--seconds", "1e300"], "--seconds must be a number of seconds between 0 and 10000000"),
          ("ch08-training", ["--lr", "1e40"], "--lr must be a learning rate in (0, 10]"),
          ("ch08-training", ["--set", "model.vit.depth=2.5"], "'model.vit.depth' must be a whole number, got 2.5"),
          ("ch08-training", ["--set", "seed=-5"], "'seed' must not be negative, got -5"),
          ("ch08-training", ["--set", "epochs=1e300"], "'epochs' is out of range, got 1e300"),
          ("ch08-training", ["--set", "model.vit=3"], "'model.vit' is a group of fields (channels, depth"),
          ("ch08-training", ["--set", "model.vit.depth=\"3\""], "'model.vit.depth' is a number, not the text"),
          ("ch08-training", ["--shapes", "colours=[]"], "colours must name at least one"),
          ("ch11-openai-clip", ["--classes", "0"], "--classes must be between 1 and 1000"),
          ("clip", ["index", ".", "--model", "m", "--save-every", "-1"], "--save-every must be a number of seconds"),
        ])
  func numbersOutOfRange(_ product: String, _ arguments: [String], _ message: String) throws {
    let dir = temporaryDirectory()
    let run = try runProduct(product, arguments, currentDirectory: dir)
    #expect(run.status == 64 || run.status == 1, "\(run)")  // argument-parser's 64, or 1 for --set (an error in a value)
    #expect(run.stderr.contains(message), "\(run.stderr)")
    #expect(!run.stderr.contains("Fatal error") && !run.stderr.contains("not valid JSON"), "\(run.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/output/ch08-training/last.safetensors"))
  }

  // MARK: - Data loss

  @Test("one index over two folders keeps both; another model's index of other folders is replaced only with --overwrite")
  func indexOverAnotherFolder() throws {
    let a = try photoFolder(3, "folderA"), b = try photoFolder(2, "folderB")
    let shared = temporaryDirectory() + "/shared.index"
    _ = try runProduct("clip", ["index", a, "--model", overfitRun.checkpoint, "--out", shared])
    let both = try runProduct("clip", ["index", b, "--model", overfitRun.checkpoint, "--out", shared])
    #expect(both.status == 0 && both.stdout.contains("indexed 2 images (2 embedded, 0 unchanged), 0 skipped"), "\(both)")
    #expect(both.stdout.contains("also holds 3 photos of other folders"), "\(both.stdout)")
    #expect(try ImageIndex.load(shared).files.count == 5)
    // Re-indexing A leaves B's rows as they were.
    let again = try runProduct("clip", ["index", a, "--model", overfitRun.checkpoint, "--out", shared])
    #expect(again.stdout.contains("indexed 3 images (0 embedded, 3 unchanged)") && again.stdout.contains("2 photos of other folders"), "\(again)")
    // Another model cannot add to it: refused, the file untouched, until --overwrite.
    let other = try hostileCheckpoint(temporaryDirectory("other-model"))
    let before = try Data(contentsOf: URL(fileURLWithPath: shared))
    let refused = try runProduct("clip", ["index", b, "--model", other, "--out", shared])
    #expect(refused.status == 1 && refused.stderr.contains("also indexes 3 photos outside") && refused.stderr.contains("--overwrite"), "\(refused)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: shared)) == before)
    let replaced = try runProduct("clip", ["index", b, "--model", other, "--out", shared, "--overwrite"])
    #expect(replaced.status == 0 && replaced.stderr.contains("3 photos outside"), "\(replaced)")
    #expect(try ImageIndex.load(shared).files.count == 2)
  }

  @Test("clip search passes over photos deleted since they were indexed, and says how many")
  func searchSkipsDeletedPhotos() throws {
    let photos = try photoFolder(8)
    let index = photos + "/p.index"
    _ = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    for i in [0, 1, 2] { try FileManager.default.removeItem(atPath: photos + String(format: "/%03d.jpg", i)) }
    let search = try runProduct("clip", ["search", index, "a red picture", "-k", "8", "--json"])
    #expect(search.status == 0 && search.stdout.split(separator: "\n").count == 5, "\(search)")
    #expect(search.stderr.contains("3 indexed photos scored higher but no longer exist"), "\(search.stderr)")
  }

  @Test("an index saved as it goes: a run stopped part-way resumes from the rows it saved")
  func interruptedIndexResumes() throws {
    let photos = try photoFolder(10)
    let paths = try findPhotos(in: photos).paths
    let embedder = try Embedder(checkpoint: overfitRun.checkpoint)
    var saved: [ImageIndex] = []
    var options = ImageIndex.BuildOptions()
    options.chunk = 4
    options.saveEvery = 0
    options.save = { saved.append($0) }
    let full = try ImageIndex.build(paths: paths, embedder: embedder, previous: nil, options: options)
    #expect(saved.map(\.files.count) == [4, 8], "saved after each chunk but the last")
    // As if killed after the first save: the next run reuses its 4 rows and embeds the other 6.
    let resumed = try ImageIndex.build(paths: paths, embedder: embedder, previous: saved[0])
    #expect(resumed.report.reused == 4 && resumed.report.embedded == 6)
    #expect(resumed.index.files == full.index.files)
    expectClose(resumed.index.embeddings, full.index.embeddings, atol: 1e-6, rtol: 0, "resumed rows equal a straight run's")
    // The tool saves too: killed once the first save is there, the re-run reuses what was saved.
    let many = try photoFolder(400, "many")
    let index = many + "/many.index"
    let killed = try startProduct("clip", ["index", many, "--model", overfitRun.checkpoint, "--out", index, "--save-every", "0"])
    #expect(waitFor(120) { FileManager.default.fileExists(atPath: index) })
    kill(killed.processIdentifier, SIGKILL)
    killed.waitUntilExit()
    let partial = try ImageIndex.load(index).files.count
    let rerun = try runProduct("clip", ["index", many, "--model", overfitRun.checkpoint, "--out", index])
    #expect(rerun.status == 0 && rerun.stdout.contains("indexed 400 images (\(400 - partial) embedded, \(partial) unchanged)"), "\(rerun.stdout)")
    #expect(partial >= 64, "the first save holds at least one chunk, got \(partial)")
  }

  @Test("two clip train runs into one folder: the second is refused at once; a killed run's lock does not block the next")
  func oneRunPerFolder() throws {
    let dir = temporaryDirectory()
    let out = dir + "/run"
    let first = try startProduct("clip", ["train", "--data", microDataset.directory, "--out", out, "--epochs", "100000", "--batch-size", "4"])
    #expect(waitFor(60) { FileManager.default.fileExists(atPath: out + "/log.jsonl") })
    for extra in [[], ["--overwrite"]] {
      let second = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", out, "--epochs", "1"] + extra)
      #expect(second.status == 1 && second.stderr.contains("is in use by another run (pid \(first.processIdentifier))"), "\(second)")
    }
    kill(first.processIdentifier, SIGKILL)
    first.waitUntilExit()
    let after = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", out, "--epochs", "1", "--overwrite"])
    #expect(after.status == 0, "\(after.stderr)")
    #expect(!FileManager.default.fileExists(atPath: out + "/.lock"), "a finished run removes its lock file")
    // In one process: a trainer holds its folder until its run ends, then another may resume there.
    var config = microTrainingConfig()
    config.epochs = 1
    let trainer = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: try .bundledUncased(), outputDirectory: dir + "/lib",
                              observer: CollectingObserver())
    expectError({
      _ = try Trainer(config: config, dataset: microDataset.dataset, tokenizer: try .bundledUncased(), outputDirectory: dir + "/lib",
                      overwrite: true, observer: CollectingObserver())
    }, contains: ["is in use by another run (pid \(getpid()))"])
    try trainer.run()
    config.epochs = 2
    try Trainer(config: config, dataset: microDataset.dataset, tokenizer: try .bundledUncased(), outputDirectory: dir + "/lib",
                resume: dir + "/lib/last.safetensors", observer: CollectingObserver()).run()
  }

  @Test("an index being written is claimed too: a second clip index into it is refused, the first one's file untouched")
  func oneWriterPerIndex() throws {
    let photos = try photoFolder(2)
    let index = photos + "/p.index"
    let held = try FileLock(path: photos + "/.p.index.lock", what: index)
    let refused = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    #expect(refused.status == 1 && refused.stderr.contains("\(index) is in use by another run (pid \(getpid()))"), "\(refused)")
    #expect(!FileManager.default.fileExists(atPath: index))
    held.release()
    let done = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    #expect(done.status == 0 && !FileManager.default.fileExists(atPath: photos + "/.p.index.lock"), "\(done)")
  }

  // MARK: - Wrong outputs

  /// A Hugging Face CLIP tokenizer folder holding the bundled vocabulary, with `edit` applied to the ids.
  func clipVocabularyFolder(_ tag: String, lineEnding: String = "\n", edit: (inout [String: Int]) -> Void = { _ in }) throws -> String {
    let folder = temporaryDirectory(tag)
    let merges = try String(contentsOfFile: BundledAssets.path(BundledAssets.clipMerges)!, encoding: .utf8)
    try Data(merges.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: lineEnding).utf8)
      .write(to: URL(fileURLWithPath: folder + "/merges.txt"))
    var vocab: [String: Int] = [:]
    for (id, token) in try CLIPTokenizer.bundled().tokens.enumerated() { vocab[token] = id }
    edit(&vocab)
    try JSONSerialization.data(withJSONObject: vocab).write(to: URL(fileURLWithPath: folder + "/vocab.json"))
    return folder
  }

  @Test("merges.txt with CRLF line endings reads as with LF; one with no merges or cut short is refused")
  func clipMergesLineEndings() throws {
    let bundled = try CLIPTokenizer.bundled()
    let crlf = try CLIPTokenizer(huggingFaceDirectory: try clipVocabularyFolder("crlf", lineEnding: "\r\n"))
    for text in ["A photo of a Dog!", "naïve café 😀", "two\r\nlines"] { #expect(crlf.encode(text) == bundled.encode(text), "\(text)") }
    #expect(try CLIPTokenizer.readMerges(path: try clipVocabularyFolder("crlf2", lineEnding: "\r\n") + "/merges.txt").count == CLIPTokenizer.mergeCount)
    let empty = try clipVocabularyFolder("version-only")
    try "#version: 0.2\r\n".write(toFile: empty + "/merges.txt", atomically: true, encoding: .utf8)
    expectError({ _ = try CLIPTokenizer(huggingFaceDirectory: empty) }, contains: [empty + "/merges.txt", "has no merges after its #version line"])
    let short = try clipVocabularyFolder("cut-short")
    let lines = try String(contentsOfFile: short + "/merges.txt", encoding: .utf8).split(separator: "\n").prefix(1001)
    try (lines.joined(separator: "\n") + "\n").write(toFile: short + "/merges.txt", atomically: true, encoding: .utf8)
    expectError({ _ = try CLIPTokenizer(huggingFaceDirectory: short) }, contains: ["has 1000 merges", "49408 tokens", "is it cut short?"])
  }

  @Test("merges.txt is read line by line up to CLIP's 48,894 merges: lone CR and mixed line ends, blanks and tabs between the symbols, blank lines only at the end, and whatever follows the merges CLIP uses")
  func clipMergesLines() throws {
    let folder = temporaryDirectory("merges-lines")
    let bundled = try CLIPTokenizer.readMerges(path: BundledAssets.path(BundledAssets.clipMerges)!)
    let lines = bundled.map { "\($0.0) \($0.1)" }
    func read(_ text: String) throws -> [(String, String)] {
      try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/merges.txt"))
      return try CLIPTokenizer.readMerges(path: folder + "/merges.txt")
    }
    func same(_ merges: [(String, String)], _ what: String) {
      #expect(merges.count == bundled.count && zip(merges, bundled).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }, "\(what)")
    }
    // Every line end Python's universal newlines knows, mixed; blank lines after the merges.
    let ends = ["\n", "\r\n", "\r"]
    same(try read("#version: 0.2\r" + lines.enumerated().map { $1 + ends[$0 % 3] }.joined() + "\n\r\n\r"), "mixed line ends")
    // Runs of blanks and tabs split like Python's str.split().
    same(try read("#version: 0.2\n" + lines.map { $0.replacingOccurrences(of: " ", with: " \t  ") }.joined(separator: "\n")), "tabs and runs of spaces")
    // Lines after the 48,894th are not CLIP's: not read, whatever they hold.
    same(try read("#version: 0.2\n" + lines.joined(separator: "\n") + "\nnot a merge line at all\n\n"), "junk after the merges")
    // A blank line among the merges is an error at its line number; blank lines at the very end are not.
    var holed = lines
    holed.insert("", at: 10)
    expectError({ _ = try read("#version: 0.2\n" + holed.joined(separator: "\n")) }, contains: ["line 12 is not two symbols"])
    expectError({ _ = try read("#version: 0.2\n" + lines.prefix(5).joined(separator: "\n") + "\na b c\n") }, contains: ["line 7 is not two symbols", "\"a b c\""])
    #expect(try read("#version: 0.2\n" + lines.prefix(3).joined(separator: "\n") + "\n\n\n").count == 3)
    expectError({ _ = try read("no header\n" + lines.joined(separator: "\n")) }, contains: ["does not start with a #version line"])
    expectError({ _ = try read("") }, contains: ["does not start with a #version line"])
    expectError({ _ = try read("#version: 0.2\n\n\r\n") }, contains: ["has no merges after its #version line"])
  }

  @Test("the text tower reads each row at the tokenizer's own <|endoftext|>, wherever vocab.json numbers it")
  func endOfTextByItsOwnId() throws {
    var config = OpenAICLIPConfig()
    config.imageSize = 32; config.patchSize = 16; config.visionWidth = 16; config.visionLayers = 1; config.visionHeads = 2
    config.textWidth = 16; config.textLayers = 2; config.textHeads = 2; config.embedDim = 8
    let model = OpenAICLIP(config: config, seed: 7)
    let bundled = try CLIPTokenizer.bundled()
    // The same vocabulary with <|startoftext|> and <|endoftext|> numbered the other way round, and a model
    // whose two embedding rows are swapped to match: the same texts must embed the same.
    let swapped = try CLIPTokenizer(huggingFaceDirectory: try clipVocabularyFolder("swapped") { vocab in
      (vocab["<|startoftext|>"], vocab["<|endoftext|>"]) = (vocab["<|endoftext|>"]!, vocab["<|startoftext|>"]!)
    })
    #expect(swapped.endId == 49406 && swapped.startId == 49407)
    var renumbered = model
    let d = config.textWidth
    for k in 0..<d { renumbered.tokenEmbedding.storage.swapAt(49406 * d + k, 49407 * d + k) }
    let texts = ["a dog", "a photo of a cat on a mat"]
    let expected = try OpenAICLIPEmbedder(model: model, tokenizer: bundled).embedTexts(texts)
    let actual = try OpenAICLIPEmbedder(model: renumbered, tokenizer: swapped).embedTexts(texts)
    expectClose(actual, expected, atol: 1e-6, rtol: 0, "embedding with the end token renumbered")
  }

  @Test("a logit scale whose exp is below 1/100 (OpenAI) or 1e-30 (a trained checkpoint) is refused at load")
  func logitScaleLowerBound() throws {
    var config = OpenAICLIPConfig()
    config.imageSize = 32; config.patchSize = 16; config.visionWidth = 16; config.visionLayers = 1; config.visionHeads = 2
    config.textWidth = 16; config.textLayers = 1; config.textHeads = 2; config.embedDim = 8
    var model = OpenAICLIP(config: config, seed: 1)
    for scale: Float in [-1e30, -5] {
      model.logitScale.storage[0] = scale
      expectError({ _ = try OpenAICLIPEmbedder(model: model, tokenizer: try CLIPTokenizer.bundled(), checkpoint: "x") },
                  contains: ["logit_scale \(scale) is out of range", "[−4.61, 80)"])
    }
    model.logitScale.storage[0] = -4
    _ = try OpenAICLIPEmbedder(model: model, tokenizer: try CLIPTokenizer.bundled())
    let path = try hostileCheckpoint(temporaryDirectory()) { _ in } tensors: { $0["model.logit_scale"]!.storage[0] = -1e30 }
    expectError({ _ = try Embedder(checkpoint: path) }, contains: ["logit_scale -1e+30 is out of range"])
  }

  @Test("--resume with other data is refused (the split and best.safetensors would change meaning) unless --allow-other-data")
  func resumeOnOtherData() throws {
    let dir = temporaryDirectory()
    let out = dir + "/run"
    let first = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", out, "--epochs", "1", "--batch-size", "4"])
    #expect(first.status == 0, "\(first.stderr)")
    // The same images and captions elsewhere are the same data; one caption edited is not.
    try FileManager.default.copyItem(atPath: microDataset.directory, toPath: dir + "/moved")
    let moved = try runProduct("clip", ["train", "--data", dir + "/moved", "--out", out, "--resume", out + "/last.safetensors", "--epochs", "2"])
    #expect(moved.status == 0, "a moved copy of the same data resumes: \(moved.stderr)")
    var csv = try String(contentsOfFile: dir + "/moved/captions.csv", encoding: .utf8)
    csv = csv.replacingOccurrences(of: "circle", with: "disc")
    try csv.write(toFile: dir + "/moved/captions.csv", atomically: true, encoding: .utf8)
    let other = try runProduct("clip", ["train", "--data", dir + "/moved", "--out", out, "--resume", out + "/last.safetensors", "--epochs", "3"])
    #expect(other.status == 1 && other.stderr.contains("was trained on other data (40 images") && other.stderr.contains("--allow-other-data"), "\(other)")
    let allowed = try runProduct("clip", ["train", "--data", dir + "/moved", "--out", out, "--resume", out + "/last.safetensors", "--epochs", "3",
                                          "--allow-other-data"])
    #expect(allowed.status == 0 && allowed.stderr.contains("continuing on 40 images"), "\(allowed)")
    let misuse = try runProduct("clip", ["train", "--data", dir + "/moved", "--out", dir + "/x", "--allow-other-data"])
    #expect(misuse.status == 64 && misuse.stderr.contains("--allow-other-data is for --resume"), "\(misuse)")
  }

  @Test("tour --list from PATH, started in another folder, lists the chapters beside the tour binary")
  func tourFromPath() throws {
    let elsewhere = temporaryDirectory()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["tour", "--list"]
    process.environment = ["PATH": productsDirectory + ":/usr/bin:/bin"]
    process.currentDirectoryURL = URL(fileURLWithPath: elsewhere)
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    let products = URL(fileURLWithPath: productsDirectory).resolvingSymlinksInPath().path
    #expect(process.terminationStatus == 0 && text.contains("01  \(products)/ch01-patches"), "\(text)")
    #expect(!text.contains(elsewhere), "\(text)")
  }

  // MARK: - Messages that say what a file is and what to do

  @Test("a JPEG, a config.json or a PyTorch file given as a checkpoint or an index is called what it is")
  func notSafetensorsFiles() throws {
    let dir = temporaryDirectory()
    let jpeg = overfitRun.directory + "/images/red.jpg"
    try Data("{\"hidden_size\": 32}".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
    try Data([0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 0]).write(to: URL(fileURLWithPath: dir + "/model.bin"))
    for (path, kind) in [(jpeg, "it is a JPEG image"), (dir + "/config.json", "it is JSON text"), (dir + "/model.bin", "it is a ZIP archive")] {
      let zeroShot = try runProduct("clip", ["zero-shot", "--model", path, "--labels", "a,b", jpeg])
      #expect(zeroShot.status == 1 && zeroShot.stderr.contains("not a safetensors file (\(kind)"), "\(zeroShot)")
      let search = try runProduct("clip", ["search", path, "a dog"])
      #expect(search.status == 1 && search.stderr.contains("not a safetensors file (\(kind)"), "\(search)")
    }
    #expect(!(try runProduct("clip", ["search", jpeg, "a dog"])).stderr.contains("header length"))
  }

  @Test("a model given to the wrong flag is named, with the flag that takes it")
  func modelGivenToTheWrongFlag() throws {
    let dir = temporaryDirectory()
    let clipFolder = Fixtures.path("ch11-clip-small-hf")
    let image = overfitRun.directory + "/images/red.jpg"
    let zeroShot = try runProduct("clip", ["zero-shot", "--model", clipFolder, "--labels", "a,b", image])
    #expect(zeroShot.status == 1 && zeroShot.stderr.contains("it is a Hugging Face CLIP folder: give it with --clip"), "\(zeroShot)")
    let text = try runProduct("clip", ["embed-text", "--model", clipFolder, "a dog"])
    #expect(text.status == 1 && text.stderr.contains("give it with --clip") && text.stderr.split(separator: "\n").count == 1, "\(text)")
    let index = dir + "/x.index"
    _ = try runProduct("clip", ["index", overfitRun.directory + "/images", "--model", overfitRun.checkpoint, "--out", index])
    let asModel = try runProduct("clip", ["zero-shot", "--model", index, "--labels", "a,b", image])
    #expect(asModel.status == 1 && asModel.stderr.contains("it is a clip index"), "\(asModel)")
    let trained = try runProduct("clip", ["embed-image", "--clip", overfitRun.checkpoint, image])
    #expect(trained.status == 1 && trained.stderr.contains("it is a training checkpoint of clip train / chapter 08, which clip zero-shot, index, search and retrieve-eval read (with --model)"), "\(trained)")
    // A bare Hugging Face model.safetensors whose shapes are no preset: give the folder.
    let bare = try runProduct("clip", ["embed-text", "--clip", clipFolder + "/model.safetensors", "a dog"])
    #expect(bare.status == 1 && bare.stderr.contains("give the folder (with its config.json) to --clip"), "\(bare)")
    #expect(!bare.stderr.contains("pass the folder's config.json"), "\(bare)")
  }

  @Test("an index whose OpenAI CLIP changed asks for --clip, not --model")
  func staleCLIPIndexNamesItsFlag() throws {
    let dir = temporaryDirectory()
    let index = ImageIndex(files: [IndexedFile(path: dir + "/a.jpg", size: 1, modified: 0)], embeddings: Tensor(shape: [1, 2], storage: [1, 0]),
                           model: dir + "/gone-clip", modelStamp: "1:2", modelKind: ImageIndex.openAICLIPKind)
    try index.write(to: dir + "/c.index")
    let search = try runProduct("clip", ["search", dir + "/c.index", "a dog"])
    #expect(search.status == 1 && search.stderr.contains("pass --clip to search with another model"), "\(search)")
  }

  @Test("--out that is a file, a device or under /proc: a plain message naming it, never a Foundation error dump")
  func outputPathsThatAreNotFolders() throws {
    let dir = temporaryDirectory()
    try "notes".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
    for (out, message) in [(dir + "/notes.txt", "it is a file, not a folder"), ("/dev/null", "it is a file, not a folder"),
                           ("/proc/x", "cannot create the folder /proc/x"), (dir + "/notes.txt/sub", "notes.txt is a file, not a folder")] {
      let run = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", out, "--epochs", "1"])
      #expect(run.status == 1 && run.stderr.contains(message) && !run.stderr.contains("NSCocoaErrorDomain"), "\(out): \(run)")
    }
    #expect(try String(contentsOfFile: dir + "/notes.txt", encoding: .utf8) == "notes")
    for (out, message) in [("/dev/null", "is a device or special file"), (dir, "it is a folder; give a file name"),
                           ("/nonexistent/dir/x.index", "/nonexistent/dir is not an existing folder")] {
      let run = try runProduct("clip", ["index", overfitRun.directory + "/images", "--model", overfitRun.checkpoint, "--out", out])
      #expect(run.status == 1 && run.stderr.contains(message), "\(out): \(run)")
      #expect(!run.stdout.contains("photos under"), "the output is checked before the photos are embedded: \(run.stdout)")
    }
    // A one-character file name (NSString.deletingLastPathComponent traps on it).
    let single = try runProduct("clip", ["preprocess", overfitRun.directory + "/images/red.jpg", "--out", "x"], currentDirectory: dir)
    #expect(single.status == 0 && FileManager.default.fileExists(atPath: dir + "/x"), "\(single)")
    #expect(parentPath("a") == "" && parentPath("a/b") == "a" && parentPath("/a") == "/" && parentPath("a//b/") == "a" && parentPath("/") == "/")
  }

  @Test("config.json and vocab.json with wrong JSON types, or not UTF-8, say which field holds what")
  func jsonTypesInConfigs() throws {
    let dir = temporaryDirectory()
    let clipConfig = try String(contentsOfFile: Fixtures.path("ch11-clip-small-hf/config.json"), encoding: .utf8)
    let object = try JSONSerialization.jsonObject(with: Data(clipConfig.utf8)) as! [String: Any]
    for (section, key, value, message) in [("text_config", "intermediate_size", "128" as Any, "intermediate_size is the text \"128\", not a whole number"),
                                           ("vision_config", "num_hidden_layers", "2" as Any, "num_hidden_layers is the text \"2\", not a whole number"),
                                           ("vision_config", "hidden_size", true as Any, "hidden_size is true, not a whole number")] {
      var edited = object
      var inner = edited[section] as! [String: Any]
      inner[key] = value
      edited[section] = inner
      try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: dir + "/config.json"))
      expectError({ _ = try OpenAICLIPConfig(huggingFaceConfig: dir + "/config.json") }, contains: [message])
    }
    try Data([0x7B, 0x22, 0xE9, 0x22, 0x3A, 0x31, 0x7D]).write(to: URL(fileURLWithPath: dir + "/config.json"))  // {"é":1} in Latin-1
    expectError({ _ = try OpenAICLIPConfig(huggingFaceConfig: dir + "/config.json") }, contains: ["is not UTF-8 text"])
    expectError({ _ = try BERTConfig(huggingFaceConfig: dir + "/config.json") }, contains: ["is not UTF-8 text"])
    let bert = try String(contentsOfFile: Fixtures.path("ch05-bert-small-config.json"), encoding: .utf8)
    try bert.replacingOccurrences(of: "\"num_hidden_layers\": 2", with: "\"num_hidden_layers\": \"2\"")
      .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
    expectError({ _ = try BERTConfig(huggingFaceConfig: dir + "/config.json") }, contains: ["'num_hidden_layers'", "it is the text \"2\""])
    let vocab = try clipVocabularyFolder("vocab-types") { $0["dog"] = nil }
    var text = try String(contentsOfFile: vocab + "/vocab.json", encoding: .utf8)
    text.removeLast()
    try (text + ",\"dog\":\"7\"}").write(toFile: vocab + "/vocab.json", atomically: true, encoding: .utf8)
    expectError({ _ = try CLIPTokenizer(huggingFaceDirectory: vocab) }, contains: ["token \"dog\" has id the text \"7\""])
  }

  @Test("a photo over 100 MP is decoded in full up to Pillow's own limit, and reduced by DCT scaling beyond it, with a note")
  func largePhotos() throws {
    let dir = temporaryDirectory()
    // A 108 MP phone photo: decoded whole (Pillow opens it, with a warning).
    try JPEG.write(RGBImage(width: 12000, height: 9000, fill: (200, 120, 40)), to: dir + "/phone.jpg", quality: 50)
    let phone = try JPEG.decode(path: dir + "/phone.jpg", reducedToShortSide: 128)
    #expect(phone.reduction == nil && phone.image.width == 12000 && phone.image.height == 9000)
    // Past the limit (here a limit of 100k pixels stands in for Pillow's 179 M): the most reduced scale
    // that keeps the shorter side, said so; refused when even 1/2 cannot keep it.
    try JPEG.write(RGBImage(width: 640, height: 400, fill: (10, 200, 30)), to: dir + "/big.jpg", quality: 90)
    let reduced = try JPEG.decode(path: dir + "/big.jpg", maxPixels: 100_000, reducedToShortSide: 100)
    #expect(reduced.reduction?.scale == 4 && reduced.image.width == 160 && reduced.image.height == 100)
    #expect("\(reduced.reduction!)".contains("decoded at 1/4 (160×100) by libjpeg's DCT scaling"))
    #expect(throws: ImageDecodeError.self) { try JPEG.decode(path: dir + "/big.jpg", maxPixels: 100_000, reducedToShortSide: 300) }
    #expect(throws: ImageDecodeError.self) { try JPEG.decode(path: dir + "/big.jpg", maxPixels: 100_000) }
    #expect(maxJPEGPixels == 178_956_970)
  }

  @Test("a file name that is not UTF-8 is skipped with the way to rename it; the rest of the folder is indexed")
  func latin1FileNames() throws {
    let photos = try photoFolder(2)
    let name = photos + "/caf"
    let latin1 = Array(name.utf8) + [0xE9] + Array(".jpg".utf8) + [0]
    let source = try Data(contentsOf: URL(fileURLWithPath: photos + "/000.jpg"))
    let fd = latin1.map { CChar(bitPattern: $0) }.withUnsafeBufferPointer { open($0.baseAddress! , O_WRONLY | O_CREAT, 0o644) }
    #expect(fd >= 0)
    _ = source.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    let run = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", photos + "/p.index"])
    #expect(run.status == 3 && run.stdout.contains("indexed 2 images"), "\(run)")
    #expect(run.stderr.contains("caf\\xe9.jpg: its name is not UTF-8") && run.stderr.contains("convmv -f latin1 -t utf8"), "\(run.stderr)")
  }

  @Test("a missing or empty templates file, a skipped image in embed-image, retrieve-eval's captions: messages a user can act on")
  func toolMessages() throws {
    let image = overfitRun.directory + "/images/red.jpg"
    let dir = temporaryDirectory()
    let missing = try runProduct("clip", ["zero-shot", "--model", overfitRun.checkpoint, "--labels", "a,b", "--templates", dir + "/t.txt", image])
    #expect(missing.status == 1 && missing.stderr.contains("t.txt: no such file; --templates takes a text file"), "\(missing)")
    try "\n\n".write(toFile: dir + "/t.txt", atomically: true, encoding: .utf8)
    let empty = try runProduct("clip", ["zero-shot", "--model", overfitRun.checkpoint, "--labels", "a,b", "--templates", dir + "/t.txt", image])
    #expect(empty.status == 1 && empty.stderr.contains("holds no templates (it is empty)"), "\(empty)")
    let embed = try runProduct("clip", ["embed-image", "--config", "small", image, dir + "/t.txt"])
    #expect(embed.status == 3 && embed.stderr.contains("warning: skipped \(dir)/t.txt") && !embed.stderr.contains("error:"), "\(embed)")
    let eval = try runProduct("clip", ["retrieve-eval", "--model", overfitRun.checkpoint, "--data", overfitRun.directory, "--all"])
    #expect(eval.status == 0 && eval.stdout.contains("embedding captions [") && eval.stdout.contains("8/8"), "\(eval.stdout)")
  }

  // MARK: - Found by trying what changed (a second hostile pass, 173 cases)

  @Test("a lock file planted as a link to another file is refused, and that file is never truncated; an atomic write never writes through one")
  func lockFilesNeverFollowLinks() throws {
    let dir = temporaryDirectory()
    try "precious".write(toFile: dir + "/victim.txt", atomically: true, encoding: .utf8)
    symlink(dir + "/victim.txt", dir + "/.v.index.lock")
    let photos = try photoFolder(2)
    let run = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", dir + "/v.index"])
    #expect(run.status == 1 && run.stderr.contains("it is a symbolic link, not a lock file"), "\(run)")
    link(dir + "/victim.txt", dir + "/hard.lock")
    expectError({ _ = try FileLock(path: dir + "/hard.lock", what: "x") }, contains: ["not a plain file of its own"])
    // The temporary name of an atomic write, planted as a link: replaced, not written through.
    symlink(dir + "/victim.txt", temporaryName(for: dir + "/out.bin"))
    try writeFileAtomically(Array("new".utf8), to: dir + "/out.bin")
    #expect(try String(contentsOfFile: dir + "/victim.txt", encoding: .utf8) == "precious")
    #expect(try String(contentsOfFile: dir + "/out.bin", encoding: .utf8) == "new")
  }

  @Test("an index reached through a symbolic link is locked and written as the file it names; a dangling --out link gets its target made")
  func indexBehindALink() throws {
    let dir = temporaryDirectory()
    let photos = try photoFolder(2)
    symlink(dir + "/shared.index", dir + "/alias.index")
    let held = try FileLock(path: dir + "/.shared.index.lock", what: dir + "/shared.index")
    let refused = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", dir + "/alias.index"])
    #expect(refused.status == 1 && refused.stderr.contains("shared.index is in use by another run"), "\(refused)")
    held.release()
    let done = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", dir + "/alias.index"])
    #expect(done.status == 0, "\(done)")
    var info = stat()
    #expect(lstat(dir + "/alias.index", &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK, "the link stays a link")
    #expect(try ImageIndex.load(dir + "/shared.index").files.count == 2)
  }

  @Test("a save part-way keeps the earlier rows of photos not yet embedded again, and says it is unfinished; search warns")
  func partialSaveNeverShrinks() throws {
    let photos = try photoFolder(10)
    let paths = try findPhotos(in: photos).paths
    let embedder = try Embedder(checkpoint: overfitRun.checkpoint)
    let first = try ImageIndex.build(paths: paths, embedder: embedder, previous: nil)
    for path in paths { try touchLater(path) }
    var saved: [ImageIndex] = []
    var options = ImageIndex.BuildOptions()
    options.chunk = 4
    options.saveEvery = 0
    options.save = { saved.append($0) }
    _ = try ImageIndex.build(paths: paths, embedder: embedder, previous: first.index, options: options)
    #expect(saved.map(\.files.count) == [10, 10] && saved.map(\.pending) == [6, 2])
    let resumed = try ImageIndex.build(paths: paths, embedder: embedder, previous: saved[0])
    #expect(resumed.report.reused == 4 && resumed.report.embedded == 6 && resumed.index.pending == 0)
    try saved[0].write(to: photos + "/p.index")
    let search = try runProduct("clip", ["search", photos + "/p.index", "a red picture"])
    #expect(search.status == 0 && search.stderr.contains("stopped with 6 photos still to embed"), "\(search)")
  }

  @Test("symbolic links: a linked photo is stamped by the photo, a linked model by the model, a folder by its real path (one row per photo)")
  func linksResolved() throws {
    let dir = temporaryDirectory()
    try ensureDirectory(dir + "/real")
    try ensureDirectory(dir + "/S")
    try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/red.jpg", toPath: dir + "/real/p.jpg")
    symlink(dir + "/real/p.jpg", dir + "/S/p.jpg")
    _ = try runProduct("clip", ["index", dir + "/S", "--model", overfitRun.checkpoint, "--out", dir + "/s.index"])
    try FileManager.default.removeItem(atPath: dir + "/real/p.jpg")
    try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/blue.jpg", toPath: dir + "/real/p.jpg")
    try touchLater(dir + "/real/p.jpg")
    let edited = try runProduct("clip", ["index", dir + "/S", "--model", overfitRun.checkpoint, "--out", dir + "/s.index"])
    #expect(edited.stdout.contains("(1 embedded, 0 unchanged)"), "the edited photo behind the link is embedded again: \(edited)")
    // One folder by two names: one row per photo.
    let photos = try photoFolder(3)
    symlink(photos, dir + "/alias")
    _ = try runProduct("clip", ["index", dir + "/alias", "--model", overfitRun.checkpoint, "--out", dir + "/d.index"])
    let again = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", dir + "/d.index"])
    #expect(again.stdout.contains("indexed 3 images (0 embedded, 3 unchanged)") && !again.stdout.contains("other folders"), "\(again)")
    // lnk/../X is where the system finds it.
    try ensureDirectory(dir + "/deep/dir")
    try FileManager.default.copyItem(atPath: overfitRun.checkpoint, toPath: dir + "/deep/m.safetensors")
    symlink(dir + "/deep/dir", dir + "/lnk")
    #expect(resolvedPath(dir + "/lnk/../m.safetensors") == resolvedPath(dir + "/deep/m.safetensors"))
    #expect(try Embedder(checkpoint: dir + "/lnk/../m.safetensors").checkpoint == resolvedPath(dir + "/deep/m.safetensors"))
    // A linked model retrained in place is another model.
    symlink(dir + "/deep/m.safetensors", dir + "/current.safetensors")
    _ = try runProduct("clip", ["index", photos, "--model", dir + "/current.safetensors", "--out", dir + "/c.index"])
    try touchLater(dir + "/deep/m.safetensors")
    let stale = try runProduct("clip", ["search", dir + "/c.index", "a red picture"])
    #expect(stale.status == 1 && stale.stderr.contains("has changed since"), "\(stale)")
  }

  @Test("a folder whose name is not UTF-8, a dangling photo link: named and counted as skipped (exit 3)")
  func unreadableFolderEntries() throws {
    let photos = try photoFolder(1)
    let latin1 = Array((photos + "/caf").utf8) + [0xE9, 0]
    #expect(latin1.map { CChar(bitPattern: $0) }.withUnsafeBufferPointer { mkdir($0.baseAddress!, 0o755) } == 0)
    symlink(photos + "/nowhere.jpg", photos + "/dangling.jpg")
    let run = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", photos + "/p.index"])
    #expect(run.status == 3 && run.stdout.contains("indexed 1 images") && run.stdout.contains("2 skipped"), "\(run)")
    #expect(run.stderr.contains("caf\\xe9/: its name is not UTF-8 (Latin-1?), so the photos in this folder"), "\(run.stderr)")
    #expect(run.stderr.contains("dangling.jpg: a symbolic link to a file that does not exist"), "\(run.stderr)")
    // A path argument that is not UTF-8 is refused as such, not reported missing.
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "\"$0\" search \"$(printf 'x\\351.index')\" dog", productsDirectory + "/clip"]
    let err = Pipe()
    process.standardError = err
    try process.run()
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 64 && text.contains("argument 2 (x\\xe9.index) is not UTF-8"), "\(text)")
  }

  @Test("vocab.json without merges.txt (or the reverse) is an error naming the missing file, not a silent switch to the bundled vocabulary")
  func halfATokenizer() throws {
    let folder = try clipVocabularyFolder("half")
    try FileManager.default.removeItem(atPath: folder + "/merges.txt")
    expectError({ _ = try CLIPTokenizer.forCheckpoint(folder) }, contains: [folder + "/merges.txt", "no such file, though vocab.json is there"])
    let tokenize = try runProduct("clip", ["tokenize", "--clip", folder, "a dog"])
    #expect(tokenize.status == 1 && tokenize.stderr.contains("merges.txt: no such file, though vocab.json"), "\(tokenize)")
    try FileManager.default.removeItem(atPath: folder + "/vocab.json")
    #expect(try CLIPTokenizer.forCheckpoint(folder).vocabularySize == 49408, "neither file: the bundled vocabulary")
    // Old-Mac CR line endings and blanks at a line's end read as Python's universal newlines and split() do.
    let cr = try clipVocabularyFolder("cr", lineEnding: "\r")
    let text = try String(contentsOfFile: cr + "/merges.txt", encoding: .utf8).replacingOccurrences(of: "\r", with: " \t\r")
    try text.write(toFile: cr + "/merges.txt", atomically: true, encoding: .utf8)
    #expect(try CLIPTokenizer(huggingFaceDirectory: cr).encode("a photo of a dog") == CLIPTokenizer.bundled().encode("a photo of a dog"))
  }

  @Test("--out that cannot take the index (ends in /, a name too long for the files beside it) is found before any photo is embedded; stale temporaries go")
  func indexOutputChecks() throws {
    let photos = try photoFolder(2)
    let long = photos + "/" + String(repeating: "x", count: 240) + ".index"
    for (out, message) in [(photos + "/new.index/", "it names a folder (ends in /)"), (long, "the temporary and lock files beside it need")] {
      let run = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", out])
      #expect(run.status == 1 && run.stderr.contains(message) && !run.stdout.contains("photos under"), "\(run)")
    }
    let empty = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", ""])
    #expect(empty.status == 64 && empty.stderr.contains("--out is an empty string"), "\(empty)")
    // A half-written index of a killed run (its process long gone) is removed by the next run.
    let stale = photos + "/.p.index.tmp-999999"
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: stale))
    try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: stale)
    _ = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", photos + "/p.index"])
    #expect(!FileManager.default.fileExists(atPath: stale))
    // An index named .jpg inside the folder it indexes is not taken for a photo.
    let inside = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", photos + "/index.jpg"])
    let again = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", photos + "/index.jpg"])
    #expect(inside.status == 0 && again.status == 0 && again.stdout.contains("indexed 2 images (0 embedded, 2 unchanged), 0 skipped"), "\(again)")
  }

  @Test("photos deleted: search with nothing left exits 1; re-indexing an emptied or deleted folder drops its rows and keeps the others")
  func deletedFolders() throws {
    let a = try photoFolder(2, "keepA"), b = try photoFolder(2, "goneB")
    let index = temporaryDirectory() + "/s.index"
    _ = try runProduct("clip", ["index", a, "--model", overfitRun.checkpoint, "--out", index])
    _ = try runProduct("clip", ["index", b, "--model", overfitRun.checkpoint, "--out", index])
    try FileManager.default.removeItem(atPath: b)
    let dropped = try runProduct("clip", ["index", b, "--model", overfitRun.checkpoint, "--out", index])
    #expect(dropped.status == 0 && dropped.stdout.contains("dropped the 2 photos of \(b)"), "\(dropped)")
    #expect(try ImageIndex.load(index).files.count == 2)
    for name in ["000.jpg", "001.jpg"] { try FileManager.default.removeItem(atPath: a + "/" + name) }
    let nothing = try runProduct("clip", ["search", index, "a red picture"])
    #expect(nothing.status == 1 && nothing.stderr.contains("none of the 2 photos"), "\(nothing)")
  }

  @Test("a progressive JPEG declaring 30000×30000 is refused in a moment (libjpeg's memory is capped), not decoded into 1.8 GB")
  func progressiveBomb() throws {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("images/portrait_200x300_progressive.jpg"))))
    let sof = (0..<bytes.count - 1).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC2 }!
    bytes[sof + 5] = 0x75; bytes[sof + 6] = 0x30; bytes[sof + 7] = 0x75; bytes[sof + 8] = 0x30  // 30000 × 30000
    let started = Date()
    do {
      _ = try JPEG.decode(bytes: bytes, source: "bomb.jpg", reducedToShortSide: 128)
      Issue.record("decoded")
    } catch let error as ImageDecodeError {
      #expect(error.kind == .tooLarge && "\(error)".contains("30000×30000, a progressive JPEG holds every coefficient"), "\(error)")
    }
    #expect(Date().timeIntervalSince(started) < 30)
  }

  @Test("chapter 08: --set and --shapes mistakes are command-line errors (64); --resume without --out continues in the checkpoint's folder; a run that never saved points at --overwrite")
  func trainingFlagsAndFolders() throws {
    for arguments in [["--set", "epochs"], ["--set", "=3"], ["--shapes", "images=0"], ["--shapes", "colours=[\"red\"]"], ["--lr", "nan"]] {
      let dir = temporaryDirectory()
      let run = try runProduct("ch08-training", arguments, currentDirectory: dir)
      #expect(run.status == 64 && !FileManager.default.fileExists(atPath: dir + "/output"), "\(arguments): \(run)")
      if arguments[1].hasPrefix("colours") {
        #expect(run.stderr.components(separatedBy: "heldOut names").count == 2 && !run.stderr.contains("must leave") && run.stderr.contains("set heldOut too"), "\(run.stderr)")
      }
    }
    #expect(try runProduct("ch11-openai-clip", ["--classes", "-1"]).stderr.contains("--classes must be between 1 and 1000 (ImageNet has 1,000 classes), got -1"))
    let dir = temporaryDirectory()
    let first = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", dir + "/R", "--epochs", "1", "--batch-size", "4"])
    #expect(first.status == 0, "\(first.stderr)")
    let resumed = try runProduct("clip", ["train", "--data", microDataset.directory, "--resume", dir + "/R/last.safetensors", "--epochs", "2"],
                                 currentDirectory: dir)
    #expect(resumed.status == 0 && !FileManager.default.fileExists(atPath: dir + "/output"), "\(resumed)")
    #expect(try TrainingCheckpoint.load(dir + "/R/last.safetensors").state.epoch == 2)
    try ensureDirectory(dir + "/K")
    try Data("{}\n".utf8).write(to: URL(fileURLWithPath: dir + "/K/log.jsonl"))
    let never = try runProduct("clip", ["train", "--data", microDataset.directory, "--out", dir + "/K", "--epochs", "1"])
    #expect(never.status == 1 && never.stderr.contains("before its first checkpoint") && never.stderr.contains("pass --overwrite"), "\(never)")
  }

  @Test("a FIFO or a device given as a model or an index is called that; a training run's folder points at its checkpoint; names with control characters print on one line")
  func specialPathsAndNames() throws {
    let dir = temporaryDirectory()
    mkfifo(dir + "/fifo.index", 0o644)
    let fifo = try runProduct("clip", ["search", dir + "/fifo.index", "a dog"])
    #expect(fifo.status == 1 && fifo.stderr.contains("is a FIFO (named pipe), not a file"), "\(fifo)")
    let device = try runProduct("clip", ["zero-shot", "--model", "/dev/zero", "--labels", "a,b", overfitRun.directory + "/images/red.jpg"])
    #expect(device.status == 1 && device.stderr.contains("/dev/zero: is a device, not a file"), "\(device)")
    let runFolder = parentPath(overfitRun.checkpoint)
    let folder = try runProduct("clip", ["zero-shot", "--model", runFolder, "--labels", "a,b", overfitRun.directory + "/images/red.jpg"])
    #expect(folder.status == 1 && folder.stderr.contains("give the checkpoint in it, \(runFolder)/best.safetensors"), "\(folder)")
    let photos = try photoFolder(1)
    try FileManager.default.moveItem(atPath: photos + "/000.jpg", toPath: photos + "/a\nb\u{1B}[31m.jpg")
    _ = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", photos + "/p.index"])
    let search = try runProduct("clip", ["search", photos + "/p.index", "a red picture"])
    #expect(search.stdout.split(separator: "\n").count == 1 && search.stdout.contains("a\\nb\\u{1B}[31m.jpg"), "\(search.stdout)")
  }
}
