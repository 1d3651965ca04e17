// `bench` — the package's benchmark executable (release mode). Not a test: it prints timings.
//
//   swift run -c release bench gemm [--threads 1,2] [--json]
//
// Scripts/bench/compare.py runs it beside numpy/PyTorch in the same run and prints the ratios.

import Foundation
import Shared

let args = ChapterArguments(options: ["threads", "repeat"], switches: ["json"],
                            usage: "gemm [--threads 1,2] [--repeat N] [--json]",
                            arguments: [CommandLine.arguments[0]] + CommandLine.arguments.dropFirst(2))
let workload = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "gemm"
guard workload == "gemm" else { fail("unknown workload '\(workload)' (available: gemm)") }
let threadCounts = (args["threads"] ?? "1,2").split(separator: ",").compactMap { Int($0) }
let repeats = Int(args["repeat"] ?? "") ?? 0

/// (M, N, K, label): C(M×N) = A(M×K)·Bᵀ with B stored (N, K), the Linear layout.
let shapes: [(Int, Int, Int, String)] = [
  (197, 2304, 768, "vit qkv 197x768x2304"),
  (197, 3072, 768, "vit fc1 197x768x3072"),
  (197, 768, 3072, "vit fc2 197x3072x768"),
  (6304, 768, 768, "proj 6304x768x768"),
  (2048, 2048, 2048, "square 2048^3"),
]

/// Median seconds of `body` over enough runs to take ~0.5 s (at least 3).
func timeMedian(_ body: () -> Void) -> Double {
  body()  // warm up
  var times: [Double] = []
  let t0 = now()
  while times.count < max(3, repeats) || (repeats == 0 && now() - t0 < 0.5 && times.count < 200) {
    let s = now()
    body()
    times.append(now() - s)
  }
  return times.sorted()[times.count / 2]
}

for threads in threadCounts {
  for (m, n, k, label) in shapes {
    let a = Tensor.deterministic([m, k], name: "a", scale: 1)
    let b = Tensor.deterministic([n, k], name: "b", scale: 1)
    var c = Tensor.zeros([m, n])
    let seconds = a.withUnsafePointer { ap in
      b.withUnsafePointer { bp in
        c.withUnsafeMutablePointer { cp in
          timeMedian {
            gemm(transA: false, transB: true, m: m, n: n, k: k, a: ap, lda: k, b: bp, ldb: k, c: cp, ldc: n,
                 threads: threads)
          }
        }
      }
    }
    let gflops = 2.0 * Double(m) * Double(n) * Double(k) / seconds / 1e9
    if args.has("json") {
      print("{\"workload\":\"gemm \(label)\",\"threads\":\(threads),\"seconds\":\(seconds),\"gflops\":\(gflops)}")
    } else {
      print(String(format: "%-26@ threads %d  %8.3f ms  %7.1f GFLOP/s", label as NSString, threads, seconds * 1e3, gflops))
    }
  }
}
