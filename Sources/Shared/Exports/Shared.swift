// `import Shared` — the library a chapter imports: every module of the house, re-exported, so a
// chapter reads like a notebook. The layers beneath (arrows point one way; the compiler enforces them):
//
//   Kernels ← TensorCore ← Layers ← Models ← Runs ← Training, Evaluation ← chapters and tools
//                        ← IO, Text (beneath Models), Image (beneath Runs and Report), Report (beneath Training and Evaluation)
//                        ← Datasets (on Text, Image, IO; beneath Training and Evaluation)
//
// Kernels (GEMM, row kernels, SIMD maths) is not re-exported: code that calls a kernel imports it.

@_exported import Evaluation
@_exported import IO
@_exported import Image
@_exported import Layers
@_exported import Models
@_exported import Report
@_exported import Datasets
@_exported import Runs
@_exported import TensorCore
@_exported import Text
@_exported import Training
