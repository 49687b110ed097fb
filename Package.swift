// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ScriptCluster",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "script-cluster", targets: ["script-cluster"]),
        .library(name: "ScriptCore", targets: ["ScriptCore"]),
    ],
    // Pinned exactly (Package.resolved stays out of git): a build from a clean checkout, a
    // container image and CI all compile the same dependency code.
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        // The metrics and probe port's sockets: FlyingSocks (of FlyingFox's package; its HTTP
        // layer pulls libcurl's 30 libraries into every process) builds in seconds where
        // swift-nio's HTTP1 handler takes 38 s and Hummingbird 74 s (Docs/DEPLOY.md).
        .package(url: "https://github.com/swhitty/FlyingFox", exact: "0.27.1"),
    ],
    targets: [
        // Thin system-library shims: one C library each.
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        .systemLibrary(name: "CMsgPack", path: "Sources/CMsgPack"),
        // Half to float with the CPU's conversion instructions, chosen at run time.
        .target(name: "CHalf"),
        // BLAS loaded at run time, its kernels chosen for the CPU before it initialises.
        .target(name: "CBLAS", linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("m")]),
        // oneDNN's bfloat16 products (Debian's libdnnl2), loaded at run time by the optional bf16 similarity.
        .target(name: "CBF16", linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("m")]),
        // The CPU's spin-wait hint and the process's CPU affinity.
        .target(name: "CPlatform"),
        // The core's vector loops built for the CPU's wider vectors too, chosen at run time.
        .target(name: "CVector"),

        // Pure pruning core: contiguous Float buffers, no I/O.
        .target(name: "ScriptCore", dependencies: ["CBF16", "CBLAS", "CPlatform", "CVector"]),
        // Deterministic synthetic requests with ground truth (sample data, evaluation).
        .target(name: "ScriptSynth"),
        // .npy / .safetensors in, .npy / .json out.
        .target(name: "ScriptFormats", dependencies: ["CHalf", "CPlatform"]),
        // MessagePack envelopes and tensor frames.
        .target(name: "ScriptWire", dependencies: ["CMsgPack"]),
        // ZeroMQ sockets.
        .target(name: "ScriptTransport", dependencies: ["CPlatform", "CZeroMQ"]),
        // The wire protocol: messages and their codecs (MessagePack envelopes, tensor frames).
        .target(name: "ScriptProtocol", dependencies: ["ScriptCore", "ScriptFormats", "ScriptWire", "ScriptTransport"]),
        // What every process role shares: signals, the loop's completion queue, logging, health,
        // the metrics it records (swift-metrics' API only) and configuration from the environment.
        .target(name: "ScriptService", dependencies: [
            "ScriptFormats", "ScriptTransport", "CPlatform", .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // Operations: Prometheus metrics and health probes over HTTP (kept out of the core, the
        // protocol and the client library).
        .target(name: "ScriptOps", dependencies: [
            "ScriptService",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "FlyingSocks", package: "FlyingFox"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The coordinator: routes and schedules.
        .target(name: "ScriptCoordinator", dependencies: [
            "ScriptCore", "ScriptProtocol", "ScriptService", "ScriptTransport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The worker: computes shards.
        .target(name: "ScriptWorker", dependencies: [
            "ScriptCore", "ScriptProtocol", "ScriptService", "ScriptTransport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The client library.
        .target(name: "ScriptClient", dependencies: ["ScriptCore", "ScriptProtocol", "ScriptService", "ScriptTransport"]),
        // Starting local processes (a local cluster, benchmarks, tests).
        .target(name: "ScriptLauncher", dependencies: ["ScriptClient", "ScriptProtocol", "ScriptService", "ScriptTransport"]),
        // Benchmarks (the core's, the cluster's) and load generation.
        .target(name: "ScriptLoad", dependencies: [
            "ScriptCore", "ScriptFormats", "ScriptSynth", "ScriptProtocol", "ScriptClient", "ScriptLauncher", "ScriptService",
        ]),
        // Quality evaluation of methods and budgets.
        .target(name: "ScriptEval", dependencies: ["ScriptCore", "ScriptSynth"]),
        .executableTarget(name: "script-cluster", dependencies: [
            "ScriptCore", "ScriptFormats", "ScriptSynth", "ScriptProtocol", "ScriptCoordinator", "ScriptWorker",
            "ScriptClient", "ScriptLauncher", "ScriptLoad", "ScriptService", "ScriptEval", "ScriptOps", "ScriptTransport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "ScriptCoreTests", dependencies: ["ScriptCore", "ScriptSynth", "CVector", "ScriptTestSupport"]),
        .testTarget(name: "ScriptFormatsTests", dependencies: ["ScriptFormats", "ScriptTestSupport"]),
        .testTarget(name: "ScriptWireTests", dependencies: ["ScriptWire"]),
        .testTarget(name: "ScriptTransportTests", dependencies: ["ScriptTransport"]),
        .testTarget(name: "ScriptProtocolTests", dependencies: ["ScriptProtocol", "ScriptCore", "ScriptFormats", "ScriptTransport", "ScriptWire"]),
        .testTarget(name: "ScriptWorkerTests", dependencies: [
            "ScriptWorker", "ScriptProtocol", "ScriptCore", "ScriptService", "ScriptTransport", .product(name: "Logging", package: "swift-log"),
        ]),
        // What the hostile-input tests of several targets share (seeded damage to messages).
        .target(name: "ScriptTestSupport", dependencies: ["ScriptCore", "ScriptProtocol", "ScriptWire"], path: "Tests/ScriptTestSupport"),
        .testTarget(name: "ScriptCoordinatorTests", dependencies: [
            "ScriptCoordinator", "ScriptWorker", "ScriptProtocol", "ScriptCore", "ScriptService", "ScriptSynth", "ScriptTransport",
            "ScriptWire", "ScriptTestSupport",
        ]),
        .testTarget(name: "ScriptClusterTests", dependencies: [
            "ScriptClient", "ScriptLauncher", "ScriptLoad", "ScriptOps", "ScriptProtocol", "ScriptCore", "ScriptService", "ScriptSynth", "ScriptTransport", "ScriptWire",
            "ScriptTestSupport",
        ]),
        .testTarget(name: "CLITests", dependencies: ["ScriptFormats", "ScriptService", "ScriptTestSupport"]),
        .testTarget(name: "ScriptServiceTests", dependencies: [
            "ScriptService", "ScriptTransport", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ScriptOpsTests", dependencies: [
            "ScriptOps", "ScriptService", .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        .testTarget(name: "ScriptEvalTests", dependencies: ["ScriptEval", "ScriptCore"]),
    ]
)
