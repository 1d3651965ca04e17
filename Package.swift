// swift-tools-version:6.0
// CLIP from scratch in Swift: the library every chapter imports, one executable per chapter,
// the `clip` command-line tool, and the tests that hold every number to PyTorch.
import PackageDescription

// The numeric kernels are always compiled optimised and for the host CPU's widest FMA
// (AVX-512 `zmm` here, AVX2 `ymm` elsewhere), even in debug builds: a debug-mode GEMM is
// hundreds of times slower and would make `swift test` crawl. The rest of the library keeps
// Swift's checks (bounds, overflow, preconditions) in debug and release builds alike: a failed check
// stops the program (a release build without the precondition's message; a debug build prints it).
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", "native"])]
// The library proper: optimised for the host in release, with its checks kept (-O, not -Ounchecked): a
// wrong shape or an index past the end stops the program instead of reading someone else's memory.
// Only the kernels, whose loops the layers' preconditions guard, run unchecked.
let releaseFlags: [SwiftSetting] = [
  .unsafeFlags(["-O", "-target-cpu", "native", "-cross-module-optimization"], .when(configuration: .release))
]

let package = Package(
  name: "CLIPFromScratch",
  platforms: [.macOS(.v13)],
  products: [
    .library(name: "Shared", targets: ["Shared"]),
    .library(name: "Kernels", targets: ["Kernels"]),  // for code that calls a kernel or sets kernelThreads (chapter 10)
    .library(name: "ProgramSupport", targets: ["ProgramSupport"]),  // fail(): how a program stops (chapter 10 too)
    .executable(name: "clip", targets: ["clip"]),
    .executable(name: "ch01-patches", targets: ["ch01-patches"]),
    .executable(name: "ch02-attention", targets: ["ch02-attention"]),
    .executable(name: "ch03-vit", targets: ["ch03-vit"]),
    .executable(name: "ch04-tokenizer", targets: ["ch04-tokenizer"]),
    .executable(name: "ch05-bert", targets: ["ch05-bert"]),
    .executable(name: "ch06-projection", targets: ["ch06-projection"]),
    .executable(name: "ch07-contrastive-loss", targets: ["ch07-contrastive-loss"]),
    .executable(name: "ch08-training", targets: ["ch08-training"]),
    .executable(name: "ch09-zero-shot", targets: ["ch09-zero-shot"]),
    .executable(name: "ch11-openai-clip", targets: ["ch11-openai-clip"]),
    .executable(name: "tour", targets: ["tour"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
  ],
  targets: [
    // setjmp-safe wrappers around the system libjpeg (libjpeg-dev).
    .target(
      name: "CJPEGShim",
      path: "Sources/CJPEGShim",
      cSettings: [.unsafeFlags(["-O2"])],
      linkerSettings: [.linkedLibrary("jpeg")]
    ),
    // setjmp-safe wrapper around the system libpng (libpng-dev): PNG photos in clip index, embed-image, …
    .target(
      name: "CPNGShim",
      path: "Sources/CPNGShim",
      cSettings: [.unsafeFlags(["-O2"])],
      linkerSettings: [.linkedLibrary("png")]
    ),
    // A thin wrapper around the system libwebp (libwebp-dev): WebP photos.
    .target(
      name: "CWebPShim",
      path: "Sources/CWebPShim",
      cSettings: [.unsafeFlags(["-O2"])],
      linkerSettings: [.linkedLibrary("webp")]
    ),
    // Two C functions: does this CPU have AVX-512? (the GEMM's register tile depends on it), and
    // glibc's malloc told to keep freed activations for reuse (memory.c says why).
    .target(name: "CPUFeatures", path: "Sources/CPUFeatures"),
    // GEMM and friends: naive definitions beside the SIMD versions (Sources/Shared/Kernels).
    .target(
      name: "Kernels",
      dependencies: ["CPUFeatures"],
      path: "Sources/Shared/Kernels",
      swiftSettings: kernelFlags
    ),
    // The shipped files (vocabulary, class names, sample photo) as resources, found from anywhere.
    .target(
      name: "CLIPAssets",
      path: "Assets",
      sources: ["Assets.swift"],
      resources: [.copy("bert-base-uncased-vocab.txt"), .copy("clip-bpe-merges.txt"), .copy("imagenet-classes.txt"), .copy("grace_hopper.jpg")]
    ),
    .target(
      name: "TensorCore",
      dependencies: ["Kernels"],
      path: "Sources/Shared/Tensor",
      swiftSettings: releaseFlags
    ),
    .target(
      name: "IO",
      dependencies: ["TensorCore"],
      path: "Sources/Shared/IO",
      swiftSettings: releaseFlags
    ),
    .target(
      name: "Image",
      dependencies: ["TensorCore", "IO", "CJPEGShim", "CPNGShim", "CWebPShim"],
      path: "Sources/Shared/Image",
      swiftSettings: releaseFlags
    ),
    .target(
      name: "Text",
      dependencies: ["TensorCore", "IO", "CLIPAssets"],
      path: "Sources/Shared/Text",
      swiftSettings: releaseFlags
    ),
    .target(
      name: "Report",
      dependencies: ["TensorCore", "Kernels", "IO", "Image", "CLIPAssets"],
      path: "Sources/Shared/Report",
      swiftSettings: releaseFlags
    ),
    .target(
      name: "Layers",
      dependencies: ["TensorCore", "Kernels"],
      path: "Sources/Shared/Layers",
      swiftSettings: releaseFlags
    ),
    .target(
      name: "Models",
      dependencies: ["TensorCore", "Layers", "Text", "IO"],
      path: "Sources/Shared/Models",
      swiftSettings: releaseFlags
    ),
    // Data: captions CSVs, the generated shapes, the split, the batch loader.
    .target(
      name: "Datasets",
      dependencies: ["TensorCore", "Text", "Image", "IO"],
      path: "Sources/Shared/Datasets",
      swiftSettings: releaseFlags
    ),
    // What a run is: its configuration, a checkpoint read as a model, retrieval metrics.
    .target(
      name: "Runs",
      dependencies: ["TensorCore", "Layers", "Models", "Text", "Image", "IO"],
      path: "Sources/Shared/Runs",
      swiftSettings: releaseFlags
    ),
    .target(
      name: "Training",
      dependencies: ["TensorCore", "Kernels", "Layers", "Models", "Runs", "Datasets", "Text", "Image", "IO", "Report"],
      path: "Sources/Shared/Training",
      swiftSettings: releaseFlags
    ),
    .target(
      name: "Evaluation",
      dependencies: ["TensorCore", "Kernels", "Layers", "Models", "Runs", "Datasets", "Text", "Image", "IO", "Report"],
      path: "Sources/Shared/Evaluation",
      swiftSettings: releaseFlags
    ),
    // How the programs stop (fail(), exit codes): theirs, not the library's.
    .target(name: "ProgramSupport", path: "Sources/ProgramSupport"),
    // The umbrella every chapter imports: all of the above, re-exported (Kernels stays explicit).
    .target(
      name: "Shared",
      dependencies: ["TensorCore", "IO", "Image", "Text", "Report", "Layers", "Models", "Datasets", "Runs", "Training", "Evaluation"],
      path: "Sources/Shared/Exports",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch01-patches",
      dependencies: ["Shared", "ProgramSupport", "Kernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/01-Patches",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch02-attention",
      dependencies: ["Shared", "ProgramSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/02-Attention",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch03-vit",
      dependencies: ["Shared", "ProgramSupport", "Kernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/03-ViT",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch04-tokenizer",
      dependencies: ["Shared", "ProgramSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/04-Tokenizer",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch05-bert",
      dependencies: ["Shared", "ProgramSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/05-BERT",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch06-projection",
      dependencies: ["Shared", "ProgramSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/06-Projection",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch07-contrastive-loss",
      dependencies: ["Shared", "ProgramSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/07-ContrastiveLoss",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch08-training",
      dependencies: ["Shared", "ProgramSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/08-Training",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch09-zero-shot",
      dependencies: ["Shared", "ProgramSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/09-ZeroShot",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "ch11-openai-clip",
      dependencies: ["Shared", "ProgramSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/Chapters/11-OpenAICLIP",
      swiftSettings: releaseFlags
    ),
    // The whole tour: every chapter in order, then a summary table.
    .executableTarget(
      name: "tour",
      dependencies: ["Shared", "ProgramSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/tour",
      swiftSettings: releaseFlags
    ),
    .executableTarget(
      name: "clip",
      dependencies: ["Shared", "ProgramSupport", "Kernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/clip",
      swiftSettings: releaseFlags
    ),
    // Benchmarks (not tests): `swift run -c release bench gemm`; Scripts/bench/compare.py adds PyTorch/numpy.
    .executableTarget(
      name: "bench",
      dependencies: ["Shared", "ProgramSupport", "Kernels", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/bench",
      swiftSettings: releaseFlags
    ),
    .testTarget(
      name: "SharedTests",
      dependencies: ["Shared", "Kernels", "Runs", "Datasets", "ch01-patches", "ch02-attention", "ch03-vit", "ch04-tokenizer", "ch05-bert", "ch06-projection",
                     "ch07-contrastive-loss", "ch08-training", "ch09-zero-shot", "ch11-openai-clip", "tour", "clip"],
      path: "Tests/SharedTests"
    ),
  ]
)
