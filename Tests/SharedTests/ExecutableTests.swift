// The chapter executables and the clip tool, run as a reader runs them.

import Foundation
import Shared
import Testing

@Suite("Executables", .serialized)
struct ExecutableTests {
  @Test("ch01-patches prints every step and writes its pictures")
  func chapter01() throws {
    let out = temporaryDirectory()
    let result = try runProduct("ch01-patches", ["--out", out], currentDirectory: Fixtures.repositoryRoot)
    #expect(result.status == 0, "\(result.stderr)")
    let text = result.stdout
    for line in ["[1/7] decode JPEG  (grace_hopper.jpg)", "512×600 → 248×290", "offset x 12, y 33",
                 "pixel values  (3, 224, 224)  min -1  max 1", "14×14 = 196 patches, each 3×16×16 = 768 numbers",
                 "tokens        (1, 196, 768)", "[7/7] check: direct Conv2d", "next: ch02-attention"] {
      #expect(text.contains(line), "missing line: \(line)")
    }
    // The direct convolution and im2col + GEMM agree to float rounding.
    let diffLine = text.split(separator: "\n").first { $0.contains("max |conv − im2col·GEMM| = ") }!
    let value = Float(diffLine.split(separator: "=")[1].split(separator: " ")[0])!
    #expect(value < 1e-4)
    for picture in ["cropped.png", "patch-grid.png"] {
      let bytes = readBytes(out + "/" + picture)
      #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(picture) is not a PNG")
    }
  }

  @Test("ch01-patches --image with a bad file fails with a one-line error")
  func chapter01BadImage() throws {
    let result = try runProduct("ch01-patches", ["--image", "/nonexistent.jpg", "--out", temporaryDirectory()])
    #expect(result.status != 0)
    #expect(result.stderr.contains("/nonexistent.jpg: no such file"))
    let unknown = try runProduct("ch01-patches", ["--bogus"])
    #expect(unknown.status == 64 && unknown.stderr.contains("Unknown option '--bogus'") && unknown.stderr.contains("Usage:"), "\(unknown)")
  }

  @Test("clip preprocess equals timm's eval transform")
  func clipPreprocess() throws {
    let out = temporaryDirectory() + "/hopper.safetensors"
    let result = try runProduct("clip", ["preprocess", Fixtures.repositoryRoot + "/Assets/grace_hopper.jpg", "--out", out])
    #expect(result.status == 0, "\(result.stderr)")
    let written = try SafetensorsFile(path: out).tensor("pixel_values")
    let expected = try Fixtures.load("ch01-patches").tensor("pixel_values.grace_hopper")
    expectClose(written, expected, atol: 0, rtol: 0, "clip preprocess")
  }

  @Test("clip preprocess: missing, corrupt and non-JPEG inputs give one-line errors and exit non-zero")
  func clipPreprocessErrors() throws {
    let dir = temporaryDirectory()
    let bad = dir + "/bad.jpg"
    _ = FileManager.default.createFile(atPath: bad, contents: Data("not a jpeg".utf8))
    let truncated = dir + "/truncated.jpg"
    _ = FileManager.default.createFile(atPath: truncated, contents: Data(readBytes(fixtureImagePath("landscape_320x240")).prefix(2000)))
    for (input, expected) in [(dir + "/missing.jpg", "no such file"), (bad, "not a JPEG, PNG or WebP file"), (truncated, "corrupt JPEG")] {
      let result = try runProduct("clip", ["preprocess", input, "--out", dir + "/x.safetensors"])
      #expect(result.status == 1)
      let lines = result.stderr.split(separator: "\n")
      #expect(lines.count == 1 && lines[0].hasPrefix("error: \(input)") && lines[0].contains(expected), "\(result.stderr)")
    }
    #expect(!FileManager.default.fileExists(atPath: dir + "/x.safetensors"))
    let usage = try runProduct("clip", ["preprocess"])
    #expect(usage.status != 0 && usage.stderr.contains("Usage: clip preprocess"))
  }
}

@Suite("Executables 02–03", .serialized)
struct AttentionAndViTExecutableTests {
  @Test("ch02-attention walks through the toy example and matches the library layer")
  func chapter02() throws {
    let out = temporaryDirectory()
    let result = try runProduct("ch02-attention", ["--out", out], currentDirectory: Fixtures.repositoryRoot)
    #expect(result.status == 0, "\(result.stderr)")
    let text = result.stdout
    for line in ["[1/9] four toy tokens", "P = softmax(S) per row", "[4/9] backward to Q, K, V", "dK: backward", "MultiHeadAttention(heads: 1) gives the same O: max difference",
                 "head 1 attention P", "its column is exactly 0", "probabilities  (1, 12, 197, 197)",
                 "query patch (2, 12) on the sky: top keys (2, 12)", "next: ch03-vit"] {
      #expect(text.contains(line), "missing line: \(line)")
    }
    // The hand computation and the layer agree to float rounding.
    let line = text.split(separator: "\n").first { $0.contains("gives the same O: max difference") }!
    #expect(Float(line.split(separator: " ").last!)! < 1e-6)
    // dQ, dK, dV by the five backward lines agree with finite differences, and the library's qkv gradient with them.
    for marker in ["largest |backward − finite difference| over the 48 entries: ", "[dQᵀ·x; dKᵀ·x; dVᵀ·x] from these: max difference "] {
      let found = text.split(separator: "\n").first { $0.contains(marker) }!
      #expect(Float(found.split(separator: " ").last!)! < 1e-4, "\(found)")
    }
    // Masked column is printed as zeros.
    #expect(text.contains("0.000 ]"))
    #expect(readBytes(out + "/content-attention.png").starts(with: [0x89, 0x50, 0x4E, 0x47]))
    expectChart(out + "/head0-matrix.svg")
  }

  @Test("ch03-vit loads a timm checkpoint, logs every block and draws the rollout")
  func chapter03() throws {
    let out = temporaryDirectory()
    let result = try runProduct("ch03-vit", ["--config", "small", "--weights", Fixtures.path("ch03-vit-small-weights.safetensors"),
                                             "--out", out], currentDirectory: Fixtures.repositoryRoot)
    #expect(result.status == 0, "\(result.stderr)")
    let text = result.stdout
    for line in ["[1/7] build the model  (2 blocks, width 64, 4 heads, MLP 256)", "timm checkpoint, every key and shape validated",
                 "block  0  [1, 17, 64]", "block  1  [1, 17, 64]", "pooled (B, D)  (1, 64)", "logits (B, C)  (1, 10)",
                 "batch 1:", "batch 8:", "next: ch04-tokenizer"] {
      #expect(text.contains(line), "missing line: \(line)")
    }
    #expect(readBytes(out + "/attention-rollout.png").starts(with: [0x89, 0x50, 0x4E, 0x47]))
    // A checkpoint for another configuration is refused with the list of problems.
    let wrong = try runProduct("ch03-vit", ["--weights", Fixtures.path("ch03-vit-small-weights.safetensors"), "--out", out])
    #expect(wrong.status == 1 && wrong.stderr.contains("mis-shaped keys"), "\(wrong.stderr)")
  }

  @Test("clip embed-image prints the pooled feature the library computes")
  func embedImage() throws {
    let weights = Fixtures.path("ch03-vit-small-weights.safetensors")
    let image = fixtureImagePath("landscape_320x240")
    let result = try runProduct("clip", ["embed-image", "--config", "small", "--vit", weights, "--json", image])
    #expect(result.status == 0, "\(result.stderr)")
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
    let printed = (object["embedding"] as! [NSNumber]).map { $0.floatValue }
    let model = try ViT(config: .small, checkpointPath: weights)
    let cropped = EvalTransform().cropped(try JPEG.decode(path: image)).resized(width: 32, height: 32)
    let expected = model.forward(cropped.normalizedTensor(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]).reshaped([1, 3, 32, 32])).pooled
    expectClose(Tensor(shape: [1, 64], storage: printed), expected, atol: 0, rtol: 0, "embed-image")
    let bad = try runProduct("clip", ["embed-image", "--config", "small", "--vit", weights, "/nonexistent.jpg"])
    #expect(bad.status == 1 && bad.stderr.contains("/nonexistent.jpg: no such file"))
    let badConfig = try runProduct("clip", ["embed-image", "--config", "huge", image])
    #expect(badConfig.status != 0 && badConfig.stderr.contains("unknown --config"))
    // Eleven files, more than one batch of eight, one missing in the first batch: the other ten are
    // printed in the order given, the first seven as the library computes them in one batch of seven,
    // the last three in one of three, and the exit status says one was skipped. (Alone, an image's
    // 17 token rows take the GEMM's unpacked path and in a batch the packed one: the same feature up to
    // float summation order, 2e-5 relative here — so the batched rows are checked against batches.)
    let many = (0..<11).map { $0 == 3 ? "/nonexistent-\($0).jpg" : image }
    let batched = try runProduct("clip", ["embed-image", "--config", "small", "--vit", weights, "--json"] + many)
    #expect(batched.status == 3 && batched.stderr.contains("/nonexistent-3.jpg"), "\(batched.stderr)")
    let lines = batched.stdout.split(separator: "\n")
    #expect(lines.count == 10)
    let pixels = cropped.normalizedTensor(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]).storage
    func pooled(batch: Int) -> Tensor {
      model.forward(Tensor(shape: [batch, 3, 32, 32], storage: Array([[Float]](repeating: pixels, count: batch).joined()))).pooled
    }
    let seven = pooled(batch: 7), three = pooled(batch: 3)
    for (i, line) in lines.enumerated() {
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
      #expect(object["image"] as? String == image)
      let vector = (object["embedding"] as! [NSNumber]).map { $0.floatValue }
      let expectedRow = i < 7 ? seven.row(i) : three.row(i - 7)
      expectClose(Tensor(shape: [1, 64], storage: vector), expectedRow.reshaped([1, 64]), atol: 0, rtol: 0, "embed-image row \(i) in its batch")
      expectClose(Tensor(shape: [1, 64], storage: vector), expected, atol: 1e-5, rtol: 1e-4, "embed-image row \(i) against the image alone")
    }
  }
}

@Suite("Executables 04–05", .serialized)
struct TextExecutableTests {
  @Test("ch04-tokenizer shows every stage")
  func chapter04() throws {
    let result = try runProduct("ch04-tokenizer", [], currentDirectory: Fixtures.repositoryRoot)
    #expect(result.status == 0, "\(result.stderr)")
    for line in ["30522 tokens", "→ \"two children play near the cafe's fountain!\"", "zero\\u{200B}width\"", "un ##box ##ing", "café                   → cafe  [7668]",
                 "😀                     → [UNK]  [100]", "[101, 1037, 3899, 3216, 2083, 1996, 5568, 1012, 102]", "input_ids (4 × 21):",
                 "next: ch05-bert"] {
      #expect(result.stdout.contains(line), "missing line: \(line)")
    }
    let own = try runProduct("ch04-tokenizer", ["--text", "Hello, WORLD"], currentDirectory: Fixtures.repositoryRoot)
    #expect(own.stdout.contains("[101, 7592, 1010, 2088, 102]"))
  }

  @Test("ch05-bert: layer by layer, pooled, normalised, similarity picture")
  func chapter05() throws {
    let out = temporaryDirectory()
    // Untrained weights keep the test independent of the MiniLM download.
    let result = try runProduct("ch05-bert", ["--untrained", "--out", out], currentDirectory: Fixtures.repositoryRoot)
    #expect(result.status == 0, "\(result.stderr)")
    for line in ["UNTRAINED", "layer 5  [7, 11, 384]", "embedding     (7, 384)", "cos(0, 1) =", "next: ch06-projection"] {
      #expect(result.stdout.contains(line), "missing line: \(line)")
    }
    expectChart(out + "/similarity.svg")
  }

  @Test("ch05-bert with the real MiniLM: paraphrases are far closer than unrelated sentences", miniLMAvailable)
  func chapter05Real() throws {
    let real = try runProduct("ch05-bert", ["--out", temporaryDirectory()], currentDirectory: Fixtures.repositoryRoot)
    #expect(real.stdout.contains("real, pretrained"))
    let value = { (label: String) -> Float in
      let line = real.stdout.split(separator: "\n").first { $0.contains(label) }!
      return Float(line.split(separator: "=")[1].split(separator: " ")[0])!
    }
    #expect(value("paraphrases") > value("unrelated") + 0.3)
  }

  @Test("clip tokenize: JSON ids equal the library's; missing vocab is a one-line error")
  func clipTokenize() throws {
    let vocab = Fixtures.repositoryRoot + "/Assets/bert-base-uncased-vocab.txt"
    let result = try runProduct("clip", ["tokenize", "--vocab", vocab, "--max-length", "5", "--json", "A dog runs across the grass.", ""])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == "{\"text\":\"A dog runs across the grass.\",\"input_ids\":[101,1037,3899,3216,102]}\n{\"text\":\"\",\"input_ids\":[101,102]}\n")
    let missing = try runProduct("clip", ["tokenize", "--vocab", "/nonexistent/vocab.txt", "x"])
    #expect(missing.status == 1 && missing.stderr == "error: /nonexistent/vocab.txt: no such file\n")
    let badLength = try runProduct("clip", ["tokenize", "--vocab", vocab, "--max-length", "1", "x"])
    #expect(badLength.status != 0 && badLength.stderr.contains("at least 2"))
  }

  @Test("clip embed-text: a model folder with a malformed config is a one-line error; MiniLM embeds")
  func clipEmbedText() throws {
    let dir = temporaryDirectory()
    try Data("{ not json".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
    let bad = try runProduct("clip", ["embed-text", "--model", dir, "x"])
    #expect(bad.status == 1 && bad.stderr.hasPrefix("error: ") && bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
    let missing = try runProduct("clip", ["embed-text", "--model", "/nonexistent", "x"])
    #expect(missing.status == 1 && missing.stderr.contains("no such file"))
  }

  @Test("clip embed-text with MiniLM: a 384-d unit vector", miniLMAvailable)
  func clipEmbedTextMiniLM() throws {
    let result = try runProduct("clip", ["embed-text", "--model", MiniLM.directory, "--json", "a red circle"])
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
    let v = (object["embedding"] as! [NSNumber]).map(\.floatValue)
    #expect(v.count == 384)
    #expect(abs(v.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
  }
}

@Suite("Executables 06–07", .serialized)
struct LossExecutableTests {
  @Test("ch06-projection maps 768-d and 384-d features into 512-d and normalises them")
  func chapter06() throws {
    let out = temporaryDirectory()
    // From a folder outside the checkout: the photo comes from the resources, its variants are made here.
    let result = try runProduct("ch06-projection", ["--out", out, "--untrained-text"], currentDirectory: temporaryDirectory())
    #expect(result.status == 0, "\(result.stderr)")
    for line in ["1: wide 320×240", "pooled (N, 768)  (4, 768)", "text (N, 384)", "image head: [512, 768] then [512, 512]; text head: [512, 384] then [512, 512]",
                 "image (N, 512)", "22.63  →  1", "mean on the diagonal (true pairs)", "next: ch07-contrastive-loss"] {
      #expect(result.stdout.contains(line), "missing line: \(line)")
    }
    expectChart(out + "/similarity-before-training.svg")
  }

  @Test("ch07-contrastive-loss: hand computation equals the library, the loss falls, the diagonal wins")
  func chapter07() throws {
    let out = temporaryDirectory()
    let result = try runProduct("ch07-contrastive-loss", ["--out", out], currentDirectory: Fixtures.repositoryRoot)
    #expect(result.status == 0, "\(result.stderr)")
    let text = result.stdout
    // "loss = … = A by hand, B from contrastiveLoss"
    let line = text.split(separator: "\n").first { $0.contains("by hand,") }!
    let afterEquals = line.components(separatedBy: "/ 2 = ")[1]
    let numbers = afterEquals.split(separator: " ").compactMap { Float($0.trimmingCharacters(in: .punctuationCharacters)) }
    #expect(numbers.count >= 2 && abs(numbers[0] - numbers[1]) < 1e-4, "\(line)")
    #expect(text.contains("rows where the true caption scores highest: 6/6"))
    // Step 8's numbers are the ones Walkthrough 07 computes by hand (and numpy in float64: loss 0.536757,
    // dI [[-0.052934, 0.039700], [0.077911, 0]], dT [[0, -0.025014], [0.05, 0]], d logit_scale -0.115404).
    for expected in ["loss: images → captions 0.5557, captions → images 0.5178, mean 0.5368", "[  -0.0529    0.0397 ]",
                     "[   0.0779    0.0000 ]", "[   0.0000   -0.0250 ]", "[   0.0500    0.0000 ]", "d logit_scale: -0.1154"] {
      #expect(text.contains(expected), "step 8 no longer prints \(expected)")
    }
    let final = text.split(separator: "\n").first { $0.contains("final loss") }!
    let finalLoss = Float(final.split(separator: " ")[2])!
    #expect(finalLoss < 0.05)
    for picture in ["logits-before.svg", "logits-after.svg"] { expectChart(out + "/" + picture) }
  }
}
