// Zero-shot classification and retrieval metrics against PyTorch (Scripts/reference/ch09_zero_shot.py),
// a hand-checked retrieval example, and the search tools end to end on a freshly trained model.

import Foundation
import Shared
import Testing

@Suite("Zero-shot and retrieval")
struct ZeroShotTests {
  @Test("prompt-ensembled class embeddings, logits and probabilities equal PyTorch's")
  func zeroShotMatchesTorch() throws {
    let f = try Fixtures.load("ch09-zero-shot")
    let text = try f.tensor("zs.text"), image = try f.tensor("zs.image")
    let k = try f.tensor("zs.classes").shape[0], t = text.shape[0] / k
    var calls = 0
    let classifier = ZeroShotClassifier(classes: (0..<k).map { "class \($0)" }, templates: (0..<t).map { "template \($0) {}" },
                                        logitScale: try f.tensor("zs.logit_scale").storage[0]) { texts in
      calls += 1
      // The fixture's rows are class-major: row k·T + t is class k in template t.
      #expect(texts.count == k * t && texts[1] == "template 1 class 0" && texts[t] == "template 0 class 1")
      return text
    }
    #expect(calls == 1)  // text embeddings computed once, then cached in the classifier
    expectClose(classifier.classEmbeddings, try f.tensor("zs.classes"), atol: 1e-6, rtol: 1e-5, "class embeddings")
    let (logits, probabilities) = classifier.classify(image)
    expectClose(logits, try f.tensor("zs.logits"), atol: 1e-5, rtol: 1e-5, "logits")
    expectClose(probabilities, try f.tensor("zs.probs"), atol: 1e-6, rtol: 1e-5, "probabilities")
    let expected = try f.tensor("zs.probs")
    let truth = (0..<image.shape[0]).map { i in (0..<k).max { expected[i, $0] < expected[i, $1] }! }
    let evaluation = classifier.evaluate(image, truth: truth)
    #expect(evaluation.predicted == truth && evaluation.accuracy == 1)
  }

  @Test("ranks, recall and mean/median rank equal PyTorch's on a matrix with ties and five captions per image")
  func retrievalMatchesTorch() throws {
    let f = try Fixtures.load("ch09-zero-shot")
    let similarity = try f.tensor("rt.similarity")
    let imageOfText = try f.integers("rt.image_of_text").values
    let ranks = retrievalRanks(similarity: similarity, imageOfText: imageOfText)
    #expect(ranks.imageToText == (try f.integers("rt.i2t_ranks").values))
    #expect(ranks.textToImage == (try f.integers("rt.t2i_ranks").values))
    for (name, r) in [("i2t", ranks.imageToText), ("t2i", ranks.textToImage)] {
      let m = retrievalMetrics(ranks: r)
      let recall = try f.tensor("rt.\(name)_recall").storage
      #expect([m.recall[1]!, m.recall[5]!, m.recall[10]!] == recall, "\(name) recall")
      #expect(abs(m.meanRank - (try f.tensor("rt.\(name)_mean_rank").storage[0])) < 1e-5, "\(name) mean rank")
      #expect(m.medianRank == (try f.tensor("rt.\(name)_median_rank").storage[0]), "\(name) median rank")
    }
  }

  @Test("a hand-checked example: grouping by image, pessimistic ties")
  func handChecked() {
    // 3 images, captions 0,1 → image 0; 2 → image 1; 3 → image 2.
    let similarity = Tensor(shape: [3, 4], storage: [
      0.9, 0.1, 0.5, 0.2,  // image 0: its best caption (0) ranks 1
      0.3, 0.8, 0.8, 0.0,  // image 1: its caption 2 ties with caption 1 → rank 2
      0.1, 0.1, 0.1, 0.1,  // image 2: all tie → its caption 3 ranks 4
    ])
    let ranks = retrievalRanks(similarity: similarity, imageOfText: [0, 0, 1, 2])
    #expect(ranks.imageToText == [1, 2, 4])
    // caption 0: image 0 (0.9) first → 1; caption 1: its image 0 (0.1) is beaten by image 1 (0.8) and
    // tied by image 2 (0.1) → 3; caption 2: image 1 (0.8) first → 1; caption 3: its image 2 (0.1) is
    // beaten by image 0 (0.2) → 2.
    #expect(ranks.textToImage == [1, 3, 1, 2])
    let m = retrievalMetrics(ranks: ranks.textToImage)
    #expect(m.recall[1] == 0.5 && m.recall[5] == 1 && m.meanRank == 1.75 && m.medianRank == 1.5)
  }

  @Test("repeated captions: a perfect model scores R@1 = 100% both ways, and R@1 does not depend on the repeats")
  func repeatedCaptions() {
    // 12 images of 4 classes, 3 each, captioned as the shapes data is: every caption names the class, so
    // each text describes all three images of its class ("a red circle" twice, "a picture of a red circle").
    // A perfect model: image and text embeddings are the class's one-hot vector.
    let classes = ["red circle", "blue square", "green star", "pink cross"]
    var texts: [String] = [], imageOfText: [Int] = [], imageClass: [Int] = []
    for i in 0..<12 {
      imageClass.append(i % 4)
      for text in ["a \(classes[i % 4])", "a \(classes[i % 4])", "a picture of a \(classes[i % 4])"] {
        texts.append(text)
        imageOfText.append(i)
      }
    }
    let textClass = imageOfText.map { imageClass[$0] }
    var similarity = Tensor.zeros([12, texts.count])
    for i in 0..<12 { for t in 0..<texts.count where imageClass[i] == textClass[t] { similarity[i, t] = 1 } }
    let ranks = retrievalRanks(similarity: similarity, imageOfText: imageOfText, texts: texts)
    #expect(retrievalMetrics(ranks: ranks.imageToText).recall[1] == 1 && retrievalMetrics(ranks: ranks.textToImage).recall[1] == 1, "\(ranks)")
    #expect(ranks.imageToText.count == 12 && ranks.textToImage.count == 36)
    // Counted caption by caption (no texts), the same perfect model read 0%: each right caption ties with
    // the 6 identical captions of the two class mates, and ties count against the query.
    let old = retrievalRanks(similarity: similarity, imageOfText: imageOfText)
    #expect(retrievalMetrics(ranks: old.imageToText).recall[1] == 0 && retrievalMetrics(ranks: old.textToImage).recall[1] == 0)
    // A model right about colour only: ranks do depend on the texts, and repeating every caption once
    // more changes no R@1.
    for i in 0..<12 {
      for t in 0..<texts.count where imageClass[i] / 2 == textClass[t] / 2 { similarity[i, t] = 1 }
    }
    let once = retrievalRanks(similarity: similarity, imageOfText: imageOfText, texts: texts)
    let n = texts.count
    var doubled: [Float] = []
    for i in 0..<12 {
      let row = Array(similarity.storage[(i * n)..<((i + 1) * n)])
      doubled += row + row
    }
    let twice = retrievalRanks(similarity: Tensor(shape: [12, 2 * n], storage: doubled), imageOfText: imageOfText + imageOfText,
                               texts: texts + texts)
    #expect(retrievalMetrics(ranks: twice.imageToText).recall[1] == retrievalMetrics(ranks: once.imageToText).recall[1])
    #expect(retrievalMetrics(ranks: twice.textToImage).recall[1] == retrievalMetrics(ranks: once.textToImage).recall[1])
    #expect(once.imageToText.allSatisfy { $0 == 3 }, "the other class of the same pair of colours ties above: \(once.imageToText)")
  }

  @Test("the index survives a round trip and searches by cosine")
  func indexRoundTrip() throws {
    let dir = temporaryDirectory("index")
    let files = (0..<3).map { IndexedFile(path: "/photos/\($0).jpg", size: 10 + $0, modified: 1.5) }
    let index = ImageIndex(files: files, embeddings: Tensor(shape: [3, 2], storage: [1, 0, 0, 1, 0.6, 0.8]), model: "m.safetensors")
    try index.write(to: dir + "/i.safetensors")
    let loaded = try ImageIndex.load(dir + "/i.safetensors")
    #expect(loaded.files == files && loaded.model == "m.safetensors" && loaded.embeddings.storage == index.embeddings.storage)
    let hits = loaded.search(Tensor(shape: [2], storage: [0, 1]), k: 2)
    #expect(hits.map(\.index) == [1, 2])
    _ = FileManager.default.createFile(atPath: dir + "/bad.safetensors", contents: Data([1, 2, 3]))
    #expect(throws: (any Error).self) { try ImageIndex.load(dir + "/bad.safetensors") }
  }
}

/// Eight solid-colour JPEGs, each with its own caption, and a model trained on them until every
/// caption finds its own image.
let overfitRun: (directory: String, checkpoint: String, colours: [String]) = {
  let dir = temporaryDirectory("overfit")
  try! ensureDirectory(dir + "/images")
  let colours: [(String, (UInt8, UInt8, UInt8))] = [("red", (220, 30, 30)), ("green", (30, 180, 40)), ("blue", (30, 60, 220)),
    ("yellow", (240, 220, 30)), ("purple", (140, 40, 180)), ("orange", (245, 130, 20)), ("white", (250, 250, 250)), ("black", (10, 10, 10))]
  var csv = "image,caption_number,caption,id\n"
  for (i, (name, rgb)) in colours.enumerated() {
    try! JPEG.write(RGBImage(width: 16, height: 16, fill: rgb), to: dir + "/images/\(name).jpg", quality: 95)
    csv += "\(name).jpg,0,a \(name) picture,\(i)\n"
  }
  try! writeFileAtomically(Array(csv.utf8), to: dir + "/captions.csv")
  var config = microTrainingConfig()
  config.validationFraction = 0  // train on all eight
  config.epochs = 300
  // Warm-up then cosine from 3e-3: a constant 1e-2 sometimes stalled with two or three colours confused
  // (loss ≈ 0.4), depending on the last bits of the kernels' summation order; this settles (loss ≈ 0.02).
  config.schedule = .cosine
  config.warmupSteps = 20
  config.optimizer.imageLearningRate = 3e-3
  config.optimizer.textLearningRate = 3e-3
  config.optimizer.headLearningRate = 3e-3
  let trainer = try! Trainer(config: config, dataset: try! CaptionDataset(csvPath: dir + "/captions.csv"), tokenizer: try! .bundledUncased(),
                             outputDirectory: dir + "/run", observer: CollectingObserver())
  try! trainer.run()
  print("overfit run: loss \(trainer.state.stepLosses.prefix(3)) … \(trainer.state.stepLosses.suffix(3))")
  return (dir, dir + "/run/last.safetensors", colours.map(\.0))
}()

@Suite("clip index / search / zero-shot / retrieve-eval", .serialized)
struct SearchToolTests {
  @Test("a trained model finds each caption's own image")
  func embedderRanksOwnImageFirst() throws {
    let embedder = try Embedder(checkpoint: overfitRun.checkpoint)
    let paths = overfitRun.colours.map { overfitRun.directory + "/images/\($0).jpg" }
    let images = embedder.embedImageFiles(paths)
    #expect(images.skipped.isEmpty && images.embedded == Array(0..<8))
    let texts = embedder.embedTexts(overfitRun.colours.map { "a \($0) picture" })
    let ranks = retrievalRanks(similarity: images.embeddings.matmul(texts, transposeOther: true), imageOfText: Array(0..<8))
    #expect(ranks.textToImage == Array(repeating: 1, count: 8), "\(ranks)")
  }

  @Test("clip embed-image and embed-text --model CKPT print the trained model's joint-space unit vectors, each photo nearest its caption")
  func embedWithTrainedModel() throws {
    let embedder = try Embedder(checkpoint: overfitRun.checkpoint)
    let paths = overfitRun.colours.map { overfitRun.directory + "/images/\($0).jpg" }
    let captions = overfitRun.colours.map { "a \($0) picture" }
    func vectors(_ stdout: String, key: String) throws -> [[Float]] {
      try stdout.split(separator: "\n").map { line in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(object[key] != nil, "\(line)")
        return (object["embedding"] as! [NSNumber]).map(\.floatValue)
      }
    }
    let images = try runProduct("clip", ["embed-image", "--model", overfitRun.checkpoint, "--json"] + paths)
    #expect(images.status == 0, "\(images.stderr)")
    let texts = try runProduct("clip", ["embed-text", "--model", overfitRun.checkpoint, "--json"] + captions)
    #expect(texts.status == 0, "\(texts.stderr)")
    let imageRows = try vectors(images.stdout, key: "image"), textRows = try vectors(texts.stdout, key: "text")
    #expect(imageRows.count == 8 && textRows.count == 8)
    // The same numbers the library gives (the JSON prints 9 significant digits), unit length, each photo nearest its own caption.
    expectClose(Tensor(shape: [8, embedder.dimension], storage: imageRows.flatMap { $0 }), embedder.embedImageFiles(paths).embeddings,
                atol: 1e-6, rtol: 1e-5, "embed-image --model")
    expectClose(Tensor(shape: [8, embedder.dimension], storage: textRows.flatMap { $0 }), embedder.embedTexts(captions),
                atol: 1e-6, rtol: 1e-5, "embed-text --model")
    for (i, image) in imageRows.enumerated() {
      #expect(abs(image.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
      let scores = textRows.map { text in zip(image, text).reduce(0) { $0 + $1.0 * $1.1 } }
      #expect(scores.indices.max { scores[$0] < scores[$1] } == i, "\(overfitRun.colours[i]): \(scores)")
    }
    let both = try runProduct("clip", ["embed-image", "--model", overfitRun.checkpoint, "--vit", "x.safetensors", paths[0]])
    #expect(both.status != 0 && both.stderr.contains("--model is a whole trained model"), "\(both.stderr)")
  }

  @Test("clip index skips a corrupt JPEG and a non-image, re-indexes only what changed; clip search ranks the match first")
  func indexAndSearch() throws {
    let photos = temporaryDirectory("photos")
    try FileManager.default.createDirectory(atPath: photos + "/nested", withIntermediateDirectories: true)
    for (i, c) in overfitRun.colours.enumerated() {
      try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/\(c).jpg", toPath: photos + (i % 2 == 0 ? "/" : "/nested/") + "\(c).JPG")
    }
    try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 1, 2, 3]).write(to: URL(fileURLWithPath: photos + "/corrupt.jpg"))
    try Data("just text".utf8).write(to: URL(fileURLWithPath: photos + "/notes.txt"))
    let index = photos + "/photos.index"
    let first = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    #expect(first.status == 3, "\(first.stderr)")  // done, with a skipped input
    #expect(first.stdout.contains("indexed 8 images (8 embedded, 0 unchanged), 1 skipped"), "\(first.stdout)")
    #expect(first.stderr.contains("warning: skipped \(photos)/corrupt.jpg"), "\(first.stderr)")
    let again = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    #expect(again.stdout.contains("indexed 8 images (0 embedded, 8 unchanged)"), "\(again.stdout)")

    for colour in ["blue", "orange", "white"] {
      let search = try runProduct("clip", ["search", index, "a \(colour) picture", "-k", "3", "--json"])
      #expect(search.status == 0, "\(search.stderr)")
      let first = search.stdout.split(separator: "\n").first.map(String.init) ?? ""
      #expect(first.contains("\"rank\":1") && first.contains("/\(colour).JPG\""), "\(colour): \(search.stdout)")
    }
  }

  @Test("clip index over an unchanged library does not load the model; a new photo loads it (and a broken one stops the run, losing nothing)")
  func unchangedLibraryLoadsNoModel() throws {
    let photos = temporaryDirectory("unchanged")
    for c in overfitRun.colours.prefix(4) { try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/\(c).jpg", toPath: photos + "/\(c).jpg") }
    let checkpoint = photos + "/../unchanged-model.safetensors"
    try? FileManager.default.removeItem(atPath: checkpoint)
    try FileManager.default.copyItem(atPath: overfitRun.checkpoint, toPath: checkpoint)
    let index = photos + "/../unchanged.index"
    let first = try runProduct("clip", ["index", photos, "--model", checkpoint, "--out", index])
    #expect(first.stdout.contains("indexed 4 images (4 embedded, 0 unchanged)"), "\(first)")
    // The checkpoint's bytes become zeros with its size and date kept: its stamp is unchanged, so only a
    // run that really reads it can tell.
    var info = stat()
    #expect(stat(checkpoint, &info) == 0)
    try Data(count: Int(info.st_size)).write(to: URL(fileURLWithPath: checkpoint))
    var times = [info.st_atim, info.st_mtim]
    #expect(utimensat(AT_FDCWD, checkpoint, &times, 0) == 0)
    let again = try runProduct("clip", ["index", photos, "--model", checkpoint, "--out", index])
    #expect(again.status == 0 && again.stdout.contains("indexed 4 images (0 embedded, 4 unchanged)"), "the model was read: \(again)")
    try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/\(overfitRun.colours[4]).jpg", toPath: photos + "/new.jpg")
    let added = try runProduct("clip", ["index", photos, "--model", checkpoint, "--out", index])
    #expect(added.status != 0 && added.stderr.contains(checkpoint.split(separator: "/").last!), "a new photo must load the model: \(added)")
    #expect(try ImageIndex.load(index).files.count == 4, "the index is as it was")
  }

  @Test("clip search: an image as the query, sentences and images added and subtracted, --threshold, --paths; bad queries are refused")
  func combinedQueries() throws {
    let photos = temporaryDirectory("combined")
    for c in overfitRun.colours { try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/\(c).jpg", toPath: photos + "/\(c).jpg") }
    let index = photos + "/p.index"
    let made = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    #expect(made.status == 0, "\(made.stderr)")
    func paths(_ arguments: [String]) throws -> [String] {
      let r = try runProduct("clip", ["search", index] + arguments)
      #expect(r.status == 0, "\(arguments): \(r.stderr)")
      return r.stdout.split(separator: "\n").map(String.init)
    }
    // An image query, from outside the indexed folder: the same picture ranks first, with cosine 1.
    let outside = overfitRun.directory + "/images/blue.jpg"
    let like = try runProduct("clip", ["search", index, outside, "-k", "1", "--json"])
    let likeScore = like.stdout.split(separator: ":").last.flatMap { Float($0.trimmingCharacters(in: .whitespacesAndNewlines).dropLast()) } ?? 0
    #expect(like.stdout.contains("\"file\":\"\(photos)/blue.jpg\"") && likeScore > 0.999, "\(like.stdout)")
    // --paths: nothing but paths, one per line.
    let only = try paths(["a orange picture", "-k", "3", "--paths"])
    #expect(only.count == 3 && only[0] == photos + "/orange.jpg" && only.allSatisfy { $0.hasPrefix(photos + "/") }, "\(only)")
    // Subtracting the best match's own sentence pushes it down; adding two colours puts both on top.
    let plain = try paths(["a orange picture", "-k", "8", "--paths"])
    let minus = try paths(["a orange picture", "-", "a blue picture", "-k", "8", "--paths"])
    #expect(plain.firstIndex(of: photos + "/blue.jpg")! < minus.firstIndex(of: photos + "/blue.jpg")!, "\(plain) vs \(minus)")
    #expect(minus == (try paths(["a orange picture", "--minus", "a blue picture", "-k", "8", "--paths"])))
    let both = try paths(["a orange picture", "+", "a white picture", "-k", "2", "--paths"])
    #expect(Set(both) == [photos + "/orange.jpg", photos + "/white.jpg"], "\(both)")
    // The combined query is the normalised sum: "x - x + y" is y.
    #expect(try paths(["a blue picture", "-", "a blue picture", "+", "a white picture", "-k", "8", "--paths"]) == (try paths(["a white picture", "-k", "8", "--paths"])))
    // --threshold: only what scores at least that; above everything, nothing and a warning.
    let all = try runProduct("clip", ["search", index, "a orange picture", "-k", "8", "--json"])
    let scores = all.stdout.split(separator: "\n").compactMap { line in line.split(separator: ":").last.flatMap { Float($0.dropLast()) } }
    #expect(scores.count == 8, "\(all.stdout)")
    let cut = (scores[1] + scores[2]) / 2
    #expect(try paths(["a orange picture", "-k", "8", "--paths", "--threshold", "\(cut)"]).count == 2)
    let none = try runProduct("clip", ["search", index, "a orange picture", "--threshold", "1"])
    #expect(none.status == 0 && none.stdout.isEmpty && none.stderr.contains("no photo scores 1.0 or more"), "\(none)")
    // Refused, with the reason: a missing image, terms that cancel, all terms subtracted, a dangling sign.
    for (arguments, message) in [(["missing.jpg"], "missing.jpg: no such image file"),
                                 (["a blue picture", "-", "a blue picture"], "cancel out"),
                                 (["-", "a blue picture"], "every term is subtracted"),
                                 (["a blue picture", "+"], "ends with a sign"),
                                 (["a blue picture", "--threshold", "2"], "--threshold is a cosine between -1 and 1"),
                                 ([photos + "/p.index"], "cannot be read as an image query"),
                                 ([photos], "is a folder: a query is a sentence or one image file")] {
      let r = try runProduct("clip", ["search", index] + arguments)
      #expect(r.status != 0 && r.stderr.contains(message), "\(arguments): \(r.stderr)")
    }
  }

  @Test("clip index reads PNG and WebP beside JPEG and names the formats it skips; a PNG works as a search query")
  func pngPhotos() throws {
    let photos = temporaryDirectory("png-photos")
    for name in ["rgba8", "palette-transparent", "grey16"] {
      try FileManager.default.copyItem(atPath: Fixtures.path("images/png/\(name).png"), toPath: photos + "/\(name).PNG")
    }
    try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/blue.jpg", toPath: photos + "/blue.jpg")
    try FileManager.default.copyItem(atPath: Fixtures.path("images/png/alpha.webp"), toPath: photos + "/alpha.webp")
    try Data("not really a heic".utf8).write(to: URL(fileURLWithPath: photos + "/IMG_0001.HEIC"))
    try Data("raw".utf8).write(to: URL(fileURLWithPath: photos + "/DSC_0001.NEF"))
    let index = photos + "/p.index"
    let made = try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index])
    #expect(made.stdout.contains("indexed 5 images (5 embedded, 0 unchanged), 2 skipped"), "\(made.stdout)\n\(made.stderr)")
    #expect(made.stderr.contains("IMG_0001.HEIC: HEIC is not read here") && made.stderr.contains("camera RAW (Nikon NEF)"), "\(made.stderr)")
    let like = try runProduct("clip", ["search", index, photos + "/rgba8.PNG", "-k", "1", "--paths"])
    #expect(like.status == 0 && like.stdout == photos + "/rgba8.PNG\n", "\(like.stdout)\n\(like.stderr)")
  }

  @Test("clip search --sheet writes one self-contained page: every result's thumbnail embedded, rank, score, the path escaped; a browser renders it when there is one")
  func contactSheet() throws {
    let photos = temporaryDirectory("sheet")
    let odd = photos + "/a <b> & \"c\".jpg"  // a name HTML must escape
    try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/blue.jpg", toPath: odd)
    for c in ["orange", "white"] { try FileManager.default.copyItem(atPath: overfitRun.directory + "/images/\(c).jpg", toPath: photos + "/\(c).jpg") }
    try FileManager.default.copyItem(atPath: Fixtures.path("images/png/rgba8.png"), toPath: photos + "/rgba.png")
    let index = photos + "/p.index"
    #expect(try runProduct("clip", ["index", photos, "--model", overfitRun.checkpoint, "--out", index]).status == 0)
    let sheet = photos + "/results.html"
    let r = try runProduct("clip", ["search", index, "a blue picture", "-k", "4", "--sheet", sheet])
    #expect(r.status == 0 && r.stderr.contains("contact sheet: \(sheet)"), "\(r.stderr)")
    let html = try String(contentsOfFile: sheet, encoding: .utf8)
    #expect(html.components(separatedBy: "<img src=\"data:image/jpeg;base64,").count - 1 == 4, "four embedded thumbnails")
    #expect(html.contains("a &lt;b&gt; &amp; &quot;c&quot;.jpg") && !html.contains("<b> & \"c\""), "the odd name is escaped")
    #expect(html.contains("<b>1</b> · ") && html.contains("<b>4</b> · ") && html.contains("<title>a blue picture</title>"))
    #expect(!html.contains("src=\"file:") && !html.contains("src=\"/"), "no image is loaded from outside the page")
    // The first result is the blue picture (the odd name), as the plain search says.
    let plain = try runProduct("clip", ["search", index, "a blue picture", "-k", "1", "--paths"])
    #expect(plain.stdout == odd + "\n")
    // It replaces its own earlier sheet, never a file it did not write.
    #expect(try runProduct("clip", ["search", index, "a white picture", "--sheet", sheet]).status == 0)
    let mine = photos + "/notes.html"
    try "my notes".write(toFile: mine, atomically: true, encoding: .utf8)
    let refused = try runProduct("clip", ["search", index, "a white picture", "--sheet", mine])
    let kept = try String(contentsOfFile: mine, encoding: .utf8)
    #expect(refused.status != 0 && refused.stderr.contains("is not a contact sheet") && kept == "my notes", "\(refused.stderr)")
    // A real browser, when this machine has one: headless Chromium renders the page with its four figures.
    if let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
      _ = try runProduct("clip", ["search", index, "a blue picture", "-k", "4", "--sheet", sheet])
      let process = Process()
      process.executableURL = URL(fileURLWithPath: browser)
      process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", URL(fileURLWithPath: sheet).absoluteString]
      let pipe = Pipe()
      process.standardOutput = pipe
      process.standardError = FileHandle.nullDevice
      try process.run()
      let dom = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      #expect(dom.components(separatedBy: "<figure>").count - 1 == 4, "Chromium's DOM: \(dom.prefix(300))")
    }
  }

  @Test("clip zero-shot names the colour; clip retrieve-eval prints the metrics")
  func zeroShotAndRetrieveEval() throws {
    let images = ["green", "purple"].map { overfitRun.directory + "/images/\($0).jpg" }
    let labels = overfitRun.colours.map { "\($0) picture" }.joined(separator: ",")
    let templatesFile = temporaryDirectory("templates") + "/t.txt"
    try "a {}\n".write(toFile: templatesFile, atomically: true, encoding: .utf8)
    let result = try runProduct("clip", ["zero-shot", "--model", overfitRun.checkpoint, "--labels", labels, "--templates", templatesFile, "--json"] + images)
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n")
    #expect(lines.count == 2 && lines[0].contains("\"top\":[{\"label\":\"green picture\"") && lines[1].contains("\"top\":[{\"label\":\"purple picture\""),
            "\(result.stdout)")
    let eval = try runProduct("clip", ["retrieve-eval", "--model", overfitRun.checkpoint, "--data", overfitRun.directory, "--all", "--json"])
    #expect(eval.status == 0, "\(eval.stderr)")
    #expect(eval.stdout.contains("\"images\":8,\"captions\":8,\"image_to_text\":{\"r1\":1.0"), "\(eval.stdout)")
    let bad = try runProduct("clip", ["search"])
    #expect(bad.status != 0 && bad.stderr.contains("Usage"))
  }
}

@Suite("Executable 09", .serialized)
struct ZeroShotExecutableTests {
  @Test("ch09-zero-shot classifies, compares prompt sets, retrieves and writes its pictures")
  func chapter09() throws {
    let run = temporaryDirectory("ch09-run"), out = temporaryDirectory("ch09-out")
    let trainer = try Trainer(config: microTrainingConfig(), dataset: microDataset.dataset, tokenizer: .bundledUncased(), outputDirectory: run,
                              observer: CollectingObserver())
    try trainer.run()
    let result = try runProduct("ch09-zero-shot", ["--model", run + "/best.safetensors", "--data", microDataset.directory, "--out", out,
                                                   "--query", "a picture of a red circle"])
    #expect(result.status == 0, "\(result.stderr)")
    for line in ["one-shape test images", "one template \"a {}\"", "ensemble of the dataset's phrasings", "chance: 3.1%",
                 "held-out shapes (colour ignored)", "image → text: R@1", "text → image: R@1", "\"a picture of a red circle\"",
                 "next: clip index"] {
      #expect(result.stdout.contains(line), "missing line: \(line)")
    }
    for picture in ["search.svg", "confusion.svg"] { expectChart(out + "/" + picture) }
    let missing = try runProduct("ch09-zero-shot", ["--model", out + "/none.safetensors", "--out", out])
    #expect(missing.status == 1 && missing.stderr.contains("swift run -c release ch08-training"), "\(missing.stderr)")
  }
}
