// swift-tools-version:6.0
import Foundation
import PackageDescription

let package = Package(
    name: "InterpretabilityWorkbench",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Model", targets: ["Model"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Corpus", targets: ["Corpus"]),
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Lens", targets: ["Lens"]),
        .library(name: "Influence", targets: ["Influence"]),
        .library(name: "Steering", targets: ["Steering"]),
        .library(name: "Report", targets: ["Report"]),
        .executable(name: "workbench", targets: ["workbench"]),
        .executable(name: "lens", targets: ["lens"]),
        .executable(name: "influence", targets: ["influence"]),
        .executable(name: "steer", targets: ["steer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // The few MPI calls, wrapped in C (Open MPI's handles are macros Swift cannot import).
        .target(name: "CMPIShim", dependencies: ["CMPI"]),
        // Reads an HDF5 file's strings in a child process first: libhdf5 1.10 crashes on corrupt ones.
        .target(name: "CHDF5Probe", dependencies: ["CHDF5"]),
        // Hand-written kernel for few-row matrix products (decoding), which BLAS does poorly.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // The runtime: weights, forward/backward, hooks and interventions, sampling,
        // trainable parameters, AdamW and the one optimisation loop, LAPACK wrappers.
        .target(name: "Model", dependencies: ["CBLAS", "CKernels"]),
        // tokenizer.json pipeline and the BPE trainer.
        .target(name: "Tokenizers", dependencies: ["Model"]),
        // The synthetic corpus, the corpus reader, query/problem types, the answer checker.
        .target(name: "Corpus", dependencies: ["Model", "Tokenizers"]),
        // HDF5, provenance, vector files (.bin, .npy, .safetensors, HDF5 datasets, GGUF).
        .target(name: "Formats", dependencies: ["Model", "Tokenizers", "CKernels", "CHDF5", "CHDF5Probe"]),
        // The ranks of an MPI job (one process without mpirun) and the collectives the long commands use.
        .target(name: "Cluster", dependencies: ["Model", "CMPIShim"]),
        // The analyses: each depends on the modules above, never on another analysis.
        .target(name: "Lens", dependencies: ["Model", "Tokenizers", "Formats"]),
        .target(name: "Influence", dependencies: ["Model", "Tokenizers", "Corpus", "Formats", "Cluster"]),
        .target(name: "Steering", dependencies: ["Model", "Tokenizers", "Corpus", "Formats", "Cluster"]),
        // `workbench report`: one self-contained HTML page of runs, lens, score and analysis files.
        .target(name: "Report", dependencies: ["Model", "Tokenizers", "Corpus", "Formats", "Lens"]),
        // Input reading, tables and the error-reporting entry point shared by the executables.
        .target(name: "CLICommon", dependencies: [
            "Model", "Tokenizers", "Formats", "Cluster", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "workbench", dependencies: [
            "Model", "Tokenizers", "Corpus", "Formats", "Lens", "Influence", "Steering", "Report", "CLICommon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "lens", dependencies: [
            "Lens", "Steering", "Model", "Tokenizers", "Corpus", "Formats", "CLICommon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "influence", dependencies: [
            "Cluster", "Influence", "Model", "Tokenizers", "Corpus", "Formats", "CLICommon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "steer", dependencies: [
            "Cluster", "Steering", "Model", "Tokenizers", "Corpus", "Formats", "CLICommon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Tokenizers", "Formats", "CKernels"], exclude: ["Fixtures"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "Model"], exclude: ["Fixtures"]),
        .testTarget(name: "CorpusTests", dependencies: ["Corpus", "Model", "Tokenizers"]),
        .testTarget(name: "LensTests", dependencies: ["Lens", "Model", "Tokenizers", "Corpus", "Formats"], exclude: ["Fixtures"]),
        .testTarget(name: "InfluenceTests", dependencies: ["Influence", "Model", "Tokenizers", "Corpus", "Formats"]),
        .testTarget(name: "SteeringTests", dependencies: ["Steering", "Model", "Tokenizers", "Corpus", "Formats"], exclude: ["Fixtures"]),
        // What each fuzz target does with an input (Fuzz/), replayed on the committed
        // regression inputs by FuzzTests; the libFuzzer executables are declared below.
        .target(name: "FuzzReaders", dependencies: ["Model", "Tokenizers", "Corpus", "Formats", "Steering", "Influence", "Lens"],
                path: "Fuzz/FuzzReaders"),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzReaders", "Formats", "Model"]),
        // Runs the built `workbench` binary as a user would; depending on it builds it first.
        .testTarget(name: "WorkbenchCLITests", dependencies: ["workbench", "lens", "influence", "steer", "Model", "Tokenizers", "Corpus", "Formats"]),
    ],
    swiftLanguageModes: [.v5]
)

// libFuzzer targets for the file readers (docs/testing.md, "Fuzzing"): declared only when
// WORKBENCH_FUZZ is set, so that ordinary builds never meet -sanitize=fuzzer; scripts/fuzz.sh
// sets it and builds them into .build-fuzz.
if ProcessInfo.processInfo.environment["WORKBENCH_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"))
    for name in ["FuzzSafeTensors", "FuzzModelFiles", "FuzzTokenizerJSON", "FuzzJSONL", "FuzzVectorFiles", "FuzzAdapterFiles", "FuzzResultFiles"] {
        package.targets.append(.executableTarget(name: name, dependencies: ["FuzzSupport", "FuzzReaders"], path: "Fuzz/\(name)"))
    }
}
