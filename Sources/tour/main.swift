// `tour` — the whole package in one command: chapters 01 → 09 and 11 in order on the embedded defaults (and
// chapter 10 when its MPI package is built), each with a banner, its own output, and where its
// pictures went; then one summary table.
//
//   swift run -c release tour            # ≈ 7 minutes on 2 cores (chapter 08 trains for 5 of them)
//   swift run -c release tour --training-seconds 60   # ≈ 3 minutes
//   swift run -c release tour --list     # what it would run

import ArgumentParser
import Foundation
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tour",
    abstract: "Run chapters 01 → 11 in order (10 under mpirun when built), then print a summary table.",
    discussion: """
      Each chapter writes its pictures under output/ in the checkout (chapter 08 replaces its own earlier run \
      in output/ch08-training). About 7 minutes on 2 cores, 5 of them chapter 08's training.
      """)
  @Flag(help: "Only list what would run.") var list = false
  @Option(help: "Seconds of training for chapter 08 (its default is 300).") var trainingSeconds: Double?

  func validate() throws {
    if let trainingSeconds, !(trainingSeconds >= 1 && trainingSeconds <= 1e6) {
      throw ValidationError("--training-seconds must be between 1 and 1000000, got \(trainingSeconds)")
    }
  }
}
let options = Options.parseOrExit()

struct Chapter {
  var number: String
  var executable: String
  var built: String
  var verifiedBy: String
  var output: String
  var arguments: [String] = []
}

let chapters = [
  Chapter(number: "01", executable: "ch01-patches", built: "JPEG → Pillow-exact resize → patches → patch embedding",
          verifiedBy: "PatchEmbeddingTests, TransformTests, JPEGTests", output: "output/ch01-patches"),
  Chapter(number: "02", executable: "ch02-attention", built: "scaled dot-product and multi-head attention",
          verifiedBy: "LayerTests (vs torch)", output: "output/ch02-attention"),
  Chapter(number: "03", executable: "ch03-vit", built: "ViT-B/16 block by block, attention rollout",
          verifiedBy: "ViTTests (vs timm)", output: "output/ch03-vit"),
  Chapter(number: "04", executable: "ch04-tokenizer", built: "BERT basic tokenizer + WordPiece",
          verifiedBy: "TokenizerTests (== BertTokenizerFast)", output: "—"),
  Chapter(number: "05", executable: "ch05-bert", built: "BERT encoder, mean pooling, sentence similarity",
          verifiedBy: "BERTTests (vs transformers, sentence-transformers)", output: "output/ch05-bert"),
  Chapter(number: "06", executable: "ch06-projection", built: "projection heads into the shared space",
          verifiedBy: "BackwardTests (vs autograd)", output: "output/ch06-projection"),
  Chapter(number: "07", executable: "ch07-contrastive-loss", built: "contrastive loss, backward for every layer",
          verifiedBy: "BackwardTests, CLIPTests (82 gradients vs autograd)", output: "output/ch07-contrastive-loss"),
  Chapter(number: "08", executable: "ch08-training", built: "CLIP trained from scratch on the shapes dataset",
          verifiedBy: "TrainingTests (AdamW vs torch), TrainerTests (resume)", output: "output/ch08-training",
          arguments: ["--overwrite"]),
  Chapter(number: "09", executable: "ch09-zero-shot", built: "zero-shot classification, retrieval, search",
          verifiedBy: "ZeroShotTests (vs torch), SearchToolTests", output: "output/ch09-zero-shot"),
]
/// After chapter 10 (which needs MPI): OpenAI's CLIP, on deterministic weights unless given real ones.
let afterMPI = [
  Chapter(number: "11", executable: "ch11-openai-clip", built: "OpenAI's CLIP: BPE, causal text tower, checkpoints",
          verifiedBy: "CLIPTokenizerTests (== open_clip), OpenAICLIPTests (vs CLIPModel, open_clip)", output: "—"),
]

let here = executableDirectory()  // the chapters are built beside the tour
let root = repositoryRoot() ?? FileManager.default.currentDirectoryPath
let mpiChapter = root + "/Distributed/.build/release/ch10-distributed"

if options.list {
  for c in chapters + afterMPI { print("\(c.number)  \(here)/\(c.executable)  — \(c.built)") }
  print("10  \(mpiChapter) under mpirun -np 2 — \(FileManager.default.isExecutableFile(atPath: mpiChapter) ? "built" : "not built (optional)")")
  exit(0)
}

func banner(_ text: String) {
  let rule = String(repeating: "━", count: 78)
  print("\n" + rule + "\n  " + text + "\n" + rule)
}

/// Runs a program with this terminal as its output; returns its exit status and seconds.
func runChapter(_ path: String, _ arguments: [String], environment: [String: String] = [:]) -> (Int32, Double) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: path)
  process.arguments = arguments
  process.currentDirectoryURL = URL(fileURLWithPath: root)
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let start = now()
  fflush(nil)  // the chapter writes to the same terminal (or file): ours first, so the order holds
  do { try process.run() } catch { return (127, 0) }
  process.waitUntilExit()
  return (process.terminationStatus, now() - start)
}

// `swift run tour` builds only the tour: build the chapters too when any is missing.
if (chapters + afterMPI).contains(where: { !FileManager.default.isExecutableFile(atPath: here + "/" + $0.executable) }) {
  banner("Building the chapters (swift build -c release) — once")
  let (status, _) = runChapter("/usr/bin/env", ["swift", "build", "-c", "release"])
  if status != 0 { fail("swift build -c release failed (exit \(status))") }
}

var rows: [(String, String, String, String, String)] = []
let tourStart = now()
@MainActor func run(_ c: Chapter) {
  banner("Chapter \(c.number) · \(c.built)    (\(c.executable))")
  let path = here + "/" + c.executable
  guard FileManager.default.isExecutableFile(atPath: path) else {
    fail("\(path) is missing: build everything first with `swift build -c release`")
  }
  let extra = c.number == "08" ? options.trainingSeconds.map { ["--seconds", String($0)] } ?? [] : []
  let (status, seconds) = runChapter(path, c.arguments + extra)
  if status != 0 { fail("chapter \(c.number) failed (exit \(status)); the tour stops here") }
  if c.output != "—" { print("→ pictures and files: \(c.output)/") }
  rows.append((c.number, c.built, formatDuration(seconds), c.verifiedBy, status == 0 ? "ok" : "failed"))
}
for c in chapters { run(c) }

// Chapter 10 needs Open MPI and its own package; run it when both are there.
banner("Chapter 10 · data-parallel training with MPI    (Distributed/ch10-distributed)")
let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
if let mpirun, FileManager.default.isExecutableFile(atPath: mpiChapter) {
  let (status, seconds) = runChapter(mpirun, ["--oversubscribe", "-np", "2", mpiChapter],
                                     environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
  rows.append(("10", "data-parallel training over MPI (2 ranks)", formatDuration(seconds), "DistributedTests (mpirun -np 2 vs one process)",
               status == 0 ? "ok" : "failed"))
} else {
  print("""
    skipped: needs Open MPI and the Distributed package —
      sudo apt-get install libopenmpi-dev openmpi-bin
      swift build -c release --package-path Distributed
    then run the tour again (or: mpirun -np 2 Distributed/.build/release/ch10-distributed).
    """)
  rows.append(("10", "data-parallel training over MPI", "—", "DistributedTests", "skipped (no MPI)"))
}

for c in afterMPI { run(c) }

banner("The tour: \(rows.count) chapters in \(formatDuration(now() - tourStart))")
print("ch  what it built                                           time        status   verified by")
for r in rows {
  print("\(r.0)  \(r.1.padding(toLength: 55, withPad: " ", startingAt: 0)) \(r.2.padding(toLength: 11, withPad: " ", startingAt: 0)) \(r.4.padding(toLength: 8, withPad: " ", startingAt: 0)) \(r.3)")
}
print("\nWalkthroughs: Walkthroughs/README.md · verify every number: swift test")
