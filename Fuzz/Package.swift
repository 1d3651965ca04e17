// swift-tools-version:6.0
// libFuzzer targets for the parsers that read untrusted bytes: the JPEG decoder wrapper, the
// safetensors reader and the tokenizer. A separate package (it depends on the root one by path) so
// that the main build and `swift test` never see -sanitize=fuzzer. Run: bash Scripts/fuzz/run.sh
import PackageDescription

let package = Package(
  name: "CLIPFuzz",
  dependencies: [.package(name: "CLIPFromScratch", path: "..")],
  targets: [
    .executableTarget(name: "fuzz-jpeg", dependencies: [.product(name: "Shared", package: "CLIPFromScratch")], path: "Sources/fuzz-jpeg"),
    .executableTarget(name: "fuzz-safetensors", dependencies: [.product(name: "Shared", package: "CLIPFromScratch")],
                      path: "Sources/fuzz-safetensors"),
    .executableTarget(name: "fuzz-tokenizer", dependencies: [.product(name: "Shared", package: "CLIPFromScratch")],
                      path: "Sources/fuzz-tokenizer"),
  ]
)
