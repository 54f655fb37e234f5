// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "InterpretabilityWorkbench",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Model", targets: ["Model"]),
        .library(name: "Lens", targets: ["Lens"]),
        .library(name: "Influence", targets: ["Influence"]),
        .library(name: "Steering", targets: ["Steering"]),
        .executable(name: "workbench", targets: ["workbench"]),
        .executable(name: "lens", targets: ["lens"]),
        .executable(name: "influence", targets: ["influence"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        // Hand-written kernel for few-row matrix products (decoding), which BLAS does poorly.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Model", dependencies: ["CBLAS", "CHDF5", "CKernels"]),
        .target(name: "Lens", dependencies: ["Model", "CKernels"]),
        .target(name: "Influence", dependencies: ["Model", "CBLAS"]),
        .target(name: "Steering", dependencies: ["Model"]),
        // Input reading, tables and the error-reporting entry point shared by the executables.
        .target(name: "CLICommon", dependencies: [
            "Model", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "workbench", dependencies: [
            "Model", "Lens", "Influence", "CLICommon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "lens", dependencies: [
            "Lens", "Model", "CLICommon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "influence", dependencies: [
            "Influence", "Model", "CLICommon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "CKernels"], exclude: ["Fixtures"]),
        .testTarget(name: "LensTests", dependencies: ["Lens", "Model"], exclude: ["Fixtures"]),
        .testTarget(name: "InfluenceTests", dependencies: ["Influence", "Model"]),
        .testTarget(name: "SteeringTests", dependencies: ["Steering", "Model"]),
        // Runs the built `workbench` binary as a user would; depending on it builds it first.
        .testTarget(name: "WorkbenchCLITests", dependencies: ["workbench", "lens", "influence", "Model"]),
    ],
    swiftLanguageModes: [.v5]
)
