import ArgumentParser
import Foundation
import ScriptCore
import ScriptLoad
import ScriptService

/// `bench`: in-process timings of the three reference cases against the machine's sgemm rate and
/// the numpy implementation of the same algorithm.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", 
        abstract: "Benchmark the pruning core: LLaVA-1.5 image, AnyRes and video cases; BLAS bound; numpy reference.")

    @Option(parsing: .unconditional, help: "Timed runs per case (the median is reported).")
    var repeats: Int = 7

    @Option(help: "Comma-separated cases: image, anyres, video (with --cluster: anyres, video).")
    var cases: String = "image,anyres,video"

    @Option(help: "Path of the numpy reference implementation.")
    var reference: String = "Scripts/reference.py"

    @Flag(name: .customLong("no-numpy"), help: "Skip the numpy comparison.")
    var noNumpy = false

    @Option(parsing: .unconditional, help: "Threads for the pruning core (default: the CPUs this process may use, or $SCRIPT_CLUSTER_THREADS).")
    var threads: Int?

    @Flag(help: "Benchmark a local cluster (coordinator and 1 or 2 workers) instead of the core.")
    var cluster = false

    @Flag(name: .customLong("f32"), help: "With --cluster: send tensors as f32 (default f16, as farms hold them).")
    var f32 = false

    @Option(parsing: .unconditional, help: "With --cluster: requests one at a time per measurement.")
    var requests: Int = 20

    @Option(parsing: .unconditional, help: "With --cluster: seconds of closed-loop load per measurement.")
    var seconds: Double = 5

    @Option(help: "Also write the results as JSON here.")
    var json: String?

    @Option(help: "Also draw the results as an SVG chart here.")
    var svg: String?

    @Option(help: "Also time each case with the products behind its cosines in bf16 (AVX512-BF16 or AMX, libdnnl2), against f32; with --cluster, run the cluster and in-process in bf16.")
    var similarity: String = "f32"

    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        let asked = try FlagValue.list(cases, "--cases", ["image", "anyres", "video"])
        if cluster, !asked.contains(where: ClusterBench.kinds.contains) {
            throw InputError("--cases", cases, "with --cluster, the cases are \(ClusterBench.kinds.joined(separator: ", ")) (an image is one shard)").validation
        }
        try FlagValue.similarity(similarity)
        try FlagValue.count(repeats, "--repeats", to: 10_000)
        try FlagValue.count(threads, "--threads", to: FlagValue.maxThreads)
        try FlagValue.count(requests, "--requests", to: 1_000_000)
        try FlagValue.number(seconds, "--seconds", "> 0") { $0 > 0 }
        try FlagValue.output(json, "--json")
        try FlagValue.output(svg, "--svg")
    }

    /// The cluster's requests and their in-process reference: the default options, in the
    /// precision asked.
    private var clusterOptions: PruneOptions {
        var o = PruneOptions()
        o.similarity = SimilarityPrecision(rawValue: similarity) ?? .f32
        return o
    }

    func run() throws {
        if cluster {
            let points = try ClusterBench.run(kinds: cases.split(separator: ",").map(String.init), dtype: f32 ? .f32 : .f16,
                                              requests: requests, seconds: seconds, options: clusterOptions)
            if let json { try OutputFile.write(JSONSerialization.data(withJSONObject: ["cluster": points.map(\.dictionary), "machine": ["cpu": CPUIdentity.json(.current())]], options: [.prettyPrinted, .sortedKeys]), to: json, flag: "--json") }
            if let svg { try OutputFile.write(Data(ClusterBenchChart.svg(points).utf8), to: svg, flag: "--svg") }
            return
        }
        let python = noNumpy ? nil : NumpyReference.locate(script: reference)
        if !noNumpy && python == nil { say("numpy reference: unavailable (python3 with numpy, or \(reference), not found)") }
        var bench = CoreBench(repeats: repeats, pool: ComputePool(width: try ThreadCount.resolve(flag: threads)),
                              numpy: python.map { ($0, reference) })
        bench.compareBFloat16 = similarity == "bf16"
        let line = progress.line("bench")
        defer { line.finish() }
        let report = try bench.run(cases.split(separator: ",").map(String.init), progress: line)
        line.finish()
        if let json {
            let data = try JSONSerialization.data(withJSONObject: report.dictionary, options: [.prettyPrinted, .sortedKeys])
            try OutputFile.write(data + Data("\n".utf8), to: json, flag: "--json")
        }
        if let svg { try OutputFile.write(BenchChart.svg(report), to: svg, flag: "--svg") }
    }
}
