// swift-tools-version:6.0
// Chapter 10: data-parallel CLIP training with Open MPI. A separate package (it depends on the root
// package by path) so that the core builds and tests on machines without MPI. Needs libopenmpi-dev
// and openmpi-bin (Debian); .ci/run installs them and runs `swift test --package-path Distributed`.
import PackageDescription

let releaseFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", "native"], .when(configuration: .release))]

let package = Package(
  name: "CLIPDistributed",
  products: [.executable(name: "ch10-distributed", targets: ["ch10-distributed"])],
  dependencies: [
    .package(name: "CLIPFromScratch", path: ".."),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
  ],
  targets: [
    // Open MPI's headers and library, found with pkg-config (ompi-c).
    .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
    // Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, …) are macros over global structs that Swift cannot
    // import: a few C functions hand them over.
    .target(name: "MPIShim", dependencies: ["CMPI"], path: "Sources/MPIShim"),
    .target(name: "MPI", dependencies: ["MPIShim", .product(name: "Shared", package: "CLIPFromScratch")], path: "Sources/MPI",
            swiftSettings: releaseFlags),
    .executableTarget(name: "ch10-distributed", dependencies: ["MPI", .product(name: "Shared", package: "CLIPFromScratch"),
                                                               .product(name: "ProgramSupport", package: "CLIPFromScratch"),
                                                               .product(name: "Kernels", package: "CLIPFromScratch"),
                                                               .product(name: "ArgumentParser", package: "swift-argument-parser")],
                      path: "Sources/ch10-distributed", swiftSettings: releaseFlags),
    .testTarget(name: "DistributedTests", dependencies: ["ch10-distributed", .product(name: "Shared", package: "CLIPFromScratch")],
                path: "Tests/DistributedTests"),
  ]
)
