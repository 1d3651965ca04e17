// Chapter 10 — data-parallel CLIP training with MPI. Every rank holds a replica of the model and takes
// its shard of each global batch; the image and text embeddings are all-gathered so that the loss
// sees the whole global batch (the other ranks' pairs are the negatives), each rank backpropagates its
// own rows, the gradients are summed, and every replica takes the same AdamW step.
//
//   mpirun -np 2 .build/release/ch10-distributed          (as root add --allow-run-as-root)
//
// Library: Sources/Shared/Training/TrainStep.swift (trainStep with a GradientExchange),
// Distributed/Sources/MPI/Communicator.swift. Walkthrough: Walkthroughs/10-Distributed.md.

import ArgumentParser
import Foundation
import MPI
import Kernels
import ProgramSupport
import Shared

struct Options: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ch10-distributed",
                                                  abstract: "Chapter 10: data-parallel CLIP training over MPI (run under mpirun -np 2).")
  @Option(parsing: .unconditional, help: "Optimiser steps.") var steps = 30
  @Option(parsing: .unconditional, help: "Global batch size (split over the ranks).") var batchSize = 32
  @Option(help: "Folder with captions.csv and the images (default: OUT/data, generated).") var data: String?
  @Option(help: "Output folder.") var out = "output/ch10-distributed"
  @Option(parsing: .unconditional, help: "Write a checkpoint every N steps.") var checkpointEvery = 10
  @Option(parsing: .unconditional, help: "Images to generate when there is no --data.") var images = 800
  @Option(parsing: .unconditional, help: "(test) this rank exits at this step.") var dieAt: Int?
  @Option(parsing: .unconditional, help: "(test) the rank that dies.") var dieRank = 1
  @Flag(help: "Train each rank alone, without exchanging anything (to compare).") var noExchange = false
  @Flag(help: "(test) every rank writes its final weights.") var saveRanks = false
  @Flag(help: "Sum the gradients with MPI_Allreduce instead of reduce + broadcast (the exercise: do the replicas stay bit-identical?).") var allreduce = false

  func validate() throws {
    if allreduce && noExchange { throw ValidationError("--allreduce chooses how gradients are exchanged; --no-exchange exchanges none: pick one") }
    for (value, name, minimum) in [(steps, "--steps", 1), (batchSize, "--batch-size", 2), (checkpointEvery, "--checkpoint-every", 1),
                                   (images, "--images", 4), (dieRank, "--die-rank", 0)] where value < minimum {
      throw ValidationError("\(name) must be at least \(minimum), got \(value)")
    }
    if let dieAt, dieAt < 0 { throw ValidationError("--die-at must be at least 0, got \(dieAt)") }
  }
}
let args = Options.parseOrExit()
let communicator: Communicator
do { communicator = try Communicator() } catch { fail("\(error)") }
let rank = communicator.rank, ranks = communicator.ranks
// The ranks on this machine share its cores: each one's kernels get cores / local ranks threads
// (Open MPI says how many ranks run here; without it, assume all of them).
// CLIP_THREADS overrides it (Scripts/two-hosts.sh pins each "host" to one core, which Foundation's core
// count does not see).
let localRanks = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? ranks
kernelThreads = max(1, ProcessInfo.processInfo.activeProcessorCount / max(localRanks, 1))
if let text = ProcessInfo.processInfo.environment["CLIP_THREADS"] {
  guard let threads = Int(text), threads >= 1, threads <= 1024 else { fail("CLIP_THREADS must be a number of threads from 1 to 1024, got \(text)") }
  kernelThreads = threads
}
let lead = rank == 0  // rank 0 alone prints, draws and writes checkpoints
let outDir = args.out
let steps = args.steps
let globalBatch = args.batchSize
let checkpointEvery = args.checkpointEvery
communicator.nativeAllreduce = args.allreduce
let exchange: GradientExchange? = args.noExchange ? nil : communicator
guard globalBatch % ranks == 0 else { fail("the global batch (\(globalBatch)) must divide evenly over \(ranks) ranks") }
let local = globalBatch / ranks
let notebook = Notebook(title: "Chapter 10 · data-parallel training with MPI", steps: 5, quiet: !lead)

// MARK: 1. the world
notebook.step("the world", "\(ranks) rank\(ranks == 1 ? "" : "s") on MPI_COMM_WORLD, \(kernelThreads) kernel thread\(kernelThreads == 1 ? "" : "s") each")
notebook.note("global batch \(globalBatch) = \(ranks) ranks × \(local) pairs; the loss is \(globalBatch)×\(globalBatch) logits on every rank")
if exchange == nil { notebook.note("--no-exchange: every rank trains alone on the whole batch (the single-process reference)") }
if args.allreduce { notebook.note("--allreduce: gradients summed by MPI_Allreduce (the library's algorithm) instead of reduce to rank 0 + broadcast") }

// MARK: 2. data (every rank reads the same files; rank 0 generates them if needed)
if lead {  // the checkpoints go here, whether or not the data does
  do { try ensureDirectory(outDir) } catch { fail("cannot create the output folder \(outDir): \(error)") }
}
let dataDir = args.data ?? outDir + "/data"
if lead && args.data == nil {
  var shapes = ShapesDatasetConfig()
  shapes.images = args.images
  shapes.unseenImages = 0
  shapes.testImages = 0
  do {
    if try ShapesDataset.needsGenerating(shapes, in: dataDir, customised: false) { try ShapesDataset.generate(shapes, into: dataDir) }
  } catch { fail("cannot generate the dataset: \(error)") }
}
do { try communicator.barrier() } catch { fail("\(error)") }
let dataset: CaptionDataset
do { dataset = try CaptionDataset(csvPath: dataDir + "/captions.csv") } catch { fail("\(error)") }
var config = TrainingConfig.tiny
config.batchSize = globalBatch
let tokenizer: BertTokenizer
do { tokenizer = try .bundledUncased() } catch { fail("\(error)") }
let (trainImages, _) = splitByImage(dataset.images, validationFraction: config.validationFraction, seed: config.seed)
notebook.step("data", "\(trainImages.count) training images in \(dataDir)")

// MARK: 3. train
var model = CLIP(config: config.model, seed: config.seed)
var optimizer = AdamW(model: model, config: config.optimizer)
let parameterBytes = model.parameterCount * 4
// Chapter 08's schedule: a linear warm-up (here over a tenth of the run), then cosine to 0. AdamW's first
// step moves every weight by about the learning rate at once (m/√v = ±1 on step 1), and the loss jumps
// on step 2; the warm-up shrinks that step (chapter 08 warms up over 100 steps and shows no jump).
let warmup = min(config.warmupSteps, max(1, steps / 10))
notebook.step("train", "\(steps) steps, warm-up \(warmup) then cosine")
notebook.note(String(format: "messages per step: all-gather 2 × %d×%d floats (%.1f KB out of each rank), gradient sum %d floats (%.1f MB)",
                     local, config.model.projectionDim, Double(2 * local * config.model.projectionDim * 4) / 1024, model.parameterCount,
                     Double(parameterBytes) / 1_048_576))
let dieAt = args.dieAt, dieRank = args.dieRank
var losses: [Float] = []
var computeSeconds = 0.0
let startComm = communicator.seconds
var epoch = 0, batchIndex = 0
// This rank's rows of every global batch: it decodes only its own images (with --no-exchange, all of them).
let rows = exchange == nil ? 0..<globalBatch : (rank * local)..<((rank + 1) * local)
var loader = BatchLoader(dataset: dataset, images: trainImages, batchSize: globalBatch, tokenizer: tokenizer, pipeline: config.imagePipeline,
                         side: config.model.vit.imageSize, maxLength: config.model.maxTextLength, train: true, seed: config.seed, epoch: 0,
                         shard: rows)
let bar = lead ? ProgressBar(total: steps, label: "steps") : nil
let trainStart = now()
for step in 0..<steps {
  if batchIndex == loader.batchCount || loader.order.count - batchIndex * globalBatch < globalBatch {  // whole global batches only
    loader.cancel()
    epoch += 1
    batchIndex = 0
    loader = BatchLoader(dataset: dataset, images: trainImages, batchSize: globalBatch, tokenizer: tokenizer, pipeline: config.imagePipeline,
                         side: config.model.vit.imageSize, maxLength: config.model.maxTextLength, train: true, seed: config.seed, epoch: epoch,
                         shard: rows)
  }
  let batch = loader.batch(batchIndex)
  batchIndex += 1
  if let dieAt, step == dieAt, rank == dieRank {
    FileHandle.standardError.write(Data("rank \(rank): dying at step \(step) (--die-at)\n".utf8))
    exit(3)
  }
  // The loader made this rank's rows; the dropout masks are drawn for the whole batch and sliced.
  let side = config.model.vit.imageSize
  var masksRNG = SeededRNG(seed: config.seed ^ UInt64(step + 1) &* 0xA24B_AED4_963E_E407)
  let shape = [globalBatch, config.model.projectionDim]
  let masks = DropoutMasks(image: dropoutMask(shape: shape, p: config.model.dropout, rng: &masksRNG), text: dropoutMask(shape: shape, p: config.model.dropout, rng: &masksRNG))
  guard batch.pixels.shape[0] == rows.count else { fail("rank \(rank): \(rows.count - batch.pixels.shape[0]) of its images could not be read: \(batch.skipped)") }
  let multiplier = cosineMultiplier(step: step, warmupSteps: warmup, totalSteps: steps)
  for (i, base) in config.optimizer.groups.enumerated() where i < optimizer.groups.count {
    optimizer.groups[i].learningRate = base.learningRate * multiplier
  }
  let before = communicator.seconds, t0 = now()
  do {
    let result = try trainStep(&model, optimizer: &optimizer, config: config.optimizer,
                               pixels: batch.pixels.reshaped([rows.count, 3, side, side]), batch: batch.tokens,
                               dropoutMasks: masks.rows(rows), exchange: exchange)
    losses.append(result.loss)
    bar?.update(step + 1, info: String(format: "loss %.4f", result.loss))
  } catch {
    FileHandle.standardError.write(Data("rank \(rank): step \(step + 1): \(error)\n".utf8))
    communicator.abort(4)
  }
  computeSeconds += (now() - t0) - (communicator.seconds - before)
  if lead && ((step + 1) % checkpointEvery == 0 || step + 1 == steps) {
    var state = TrainingState()
    state.step = step + 1
    state.stepLosses = losses
    state.groups = optimizer.groups
    do { try TrainingCheckpoint.save(model: model, optimizer: optimizer, config: config, state: state, to: outDir + "/last.safetensors") } catch {
      FileHandle.standardError.write(Data("rank 0: cannot write the checkpoint: \(error)\n".utf8))
      communicator.abort(5)
    }
  }
}
loader.cancel()
let total = now() - trainStart
let commSeconds = communicator.seconds - startComm

// MARK: 4. what the time went on
notebook.step("computation and communication", "per step, rank 0")
notebook.note(String(format: "%.1f ms per step: computing %.1f ms, communicating %.1f ms (%.0f%%); %.2f MB sent per rank per step",
                     total / Double(steps) * 1000, computeSeconds / Double(steps) * 1000, commSeconds / Double(steps) * 1000,
                     100 * commSeconds / max(total, 1e-9), Double(communicator.bytesSent) / Double(steps) / 1_048_576))
notebook.note("losses: " + losses.prefix(3).map { String(format: "%.4f", $0) }.joined(separator: ", ") + " … "
  + losses.suffix(3).map { String(format: "%.4f", $0) }.joined(separator: ", "))

// MARK: 5. the replicas
// Every rank hashes its parameters' bits (FNV-1a, 64 bits) and the hashes are gathered: the replicas
// are bit-identical exactly when every rank's hash is rank 0's. (Four 16-bit pieces travel as floats,
// which hold them exactly.)
var hash: UInt64 = 0xcbf2_9ce4_8422_2325
for entry in CLIP.parameterTable(config.model) {
  for value in entry.get(model).storage { hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01b3 }
}
let pieces = Tensor(shape: [4], storage: (0..<4).map { Float((hash >> (16 * UInt64($0))) & 0xffff) })
let hashes: Tensor
do { hashes = try exchange.map { try $0.allGather(pieces) } ?? pieces } catch { fail("\(error)") }
let differing = (0..<(hashes.count / 4)).filter { r in (0..<4).contains { hashes.storage[4 * r + $0] != pieces.storage[$0] } }
if exchange != nil {
  notebook.note(differing.isEmpty ? String(format: "the %d replicas' parameters: bit-identical (hash %016llx)", ranks, hash)
    : "the replicas' parameters differ: ranks \(differing.map(String.init).joined(separator: ", ")) against rank \(rank)")
}
if args.saveRanks {
  // Every rank writes its parameters so a test can check they are bit-identical.
  var writer = SafetensorsWriter(metadata: ["rank": "\(rank)", "losses": losses.map { "\($0.bitPattern)" }.joined(separator: ",")])
  writer.add(model, table: CLIP.parameterTable(config.model))
  do { try writer.write(to: outDir + "/rank\(rank).safetensors") } catch { fail("\(error)") }
}
notebook.step("checkpoint", outDir + "/last.safetensors (rank 0)")
notebook.finish(next: "the tour, and the README")
communicator.finalize()
