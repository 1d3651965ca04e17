// A Swift face on the few MPI collectives data-parallel training needs, on MPI_COMM_WORLD, with the
// bytes moved and the seconds spent counted (chapter 10 prints communication against computation).

import Foundation
import MPIShim
import Shared

public struct MPIError: Error, CustomStringConvertible {
  public var call: String
  public var code: Int32
  public var description: String {
    var text = [CChar](repeating: 0, count: 512)
    clip_mpi_error_string(code, &text)
    let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return "\(call) failed on rank \(clip_mpi_rank()): \(message) (MPI error \(code))"
  }
}

public final class Communicator: GradientExchange, @unchecked Sendable {
  public let rank: Int
  public let ranks: Int
  /// Bytes this rank sent into collectives, and the seconds it spent inside them.
  public private(set) var bytesSent = 0
  public private(set) var seconds = 0.0
  /// Sum gradients with MPI_Allreduce instead of reduce + broadcast (chapter 10's --allreduce experiment).
  public var nativeAllreduce = false

  /// Initialises MPI (once per process). Outside mpirun this is a world of one.
  public init() throws {
    let rc = clip_mpi_init()
    guard rc == 0 else { throw MPIError(call: "MPI_Init", code: rc) }
    rank = Int(clip_mpi_rank())
    ranks = Int(clip_mpi_size())
  }

  public func finalize() { _ = clip_mpi_finalize() }
  public func abort(_ code: Int32) -> Never {
    clip_mpi_abort(code)
    exit(code)
  }

  func timed(_ call: String, bytes: Int, _ body: () -> Int32) throws {
    let start = clip_mpi_wtime()
    let rc = body()
    seconds += clip_mpi_wtime() - start
    bytesSent += bytes
    guard rc == 0 else { throw MPIError(call: call, code: rc) }
  }

  public func barrier() throws { try timed("MPI_Barrier", bytes: 0) { clip_mpi_barrier() } }

  /// (n, …) on every rank → (ranks · n, …), rank order.
  public func allGather(_ local: Tensor) throws -> Tensor {
    if ranks == 1 { return local }
    var out = [Float](repeating: 0, count: local.count * ranks)
    try timed("MPI_Allgather", bytes: local.count * 4) {
      local.storage.withUnsafeBufferPointer { send in
        out.withUnsafeMutableBufferPointer { clip_mpi_allgather_floats(send.baseAddress, Int32(local.count), $0.baseAddress) }
      }
    }
    return Tensor(shape: [local.shape[0] * ranks] + local.shape.dropFirst(), storage: out)
  }

  /// Element-wise sum over ranks, the same bits on every rank (reduce to rank 0, then broadcast).
  public func allReduceSum(_ buffer: inout [Float]) throws {
    if ranks == 1 { return }
    let count = buffer.count
    if nativeAllreduce {
      try timed("MPI_Allreduce", bytes: count * 4) {
        buffer.withUnsafeMutableBufferPointer { clip_mpi_allreduce_sum_floats_native($0.baseAddress, Int32(count)) }
      }
      return
    }
    try timed("MPI_Reduce+MPI_Bcast", bytes: count * 4) {
      buffer.withUnsafeMutableBufferPointer { clip_mpi_allreduce_sum_floats($0.baseAddress, Int32(count)) }
    }
  }

  /// Rank `root`'s bytes on every rank (used to agree on a checkpoint path).
  public func broadcast(_ bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
    var length = [Int32(bytes.count)]
    try timed("MPI_Bcast", bytes: 4) { length.withUnsafeMutableBytes { clip_mpi_broadcast_bytes($0.baseAddress, 4, Int32(root)) } }
    var buffer = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0]))
    try timed("MPI_Bcast", bytes: buffer.count) { buffer.withUnsafeMutableBytes { clip_mpi_broadcast_bytes($0.baseAddress, Int32($0.count), Int32(root)) } }
    return buffer
  }
}
