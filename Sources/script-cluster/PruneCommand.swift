import ArgumentParser
import Foundation
import ScriptCore
import ScriptService

/// `prune`: the whole pipeline in this process, on files.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune",
        abstract: "Prune a request given as files, in this process (monolithic, or sharded with a layout).")

    @OptionGroup var request: RequestArguments

    @Option(name: .long, help: "Kept indices: .json (with timings) or .npy (int64). Default: print JSON.")
    var out: String?

    @Option(name: .customLong("kept-features"), help: "Also write the kept features (.npy, K x D).")
    var keptFeatures: String?

    @Flag(name: .long, help: "With --kept-features: average each pruned token into its most similar kept token of the same shard.")
    var merge = false

    @Option(name: .long, parsing: .unconditional, help: "Threads for the pruning core (default: the CPUs this process may use, or $SCRIPT_CLUSTER_THREADS).")
    var threads: Int?

    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        try FlagValue.similarity(request.similarity)
        try FlagValue.count(threads, "--threads", to: FlagValue.maxThreads)
        try FlagValue.output(out, "--out")
        try FlagValue.output(keptFeatures, "--kept-features")
        if merge && keptFeatures == nil { throw InputError("--merge", nil, "needs --kept-features (the file the merged tokens go to)").validation }
    }

    func run() throws {
        let line = progress.line("prune")
        defer { line.finish() }
        let pool = ComputePool(width: try ThreadCount.resolve(flag: threads))
        MemoryTuning.oneHeap()
        // BLAS loading and thread start-up overlap the reading of the request (and are over
        // before the pruning starts, or the process exits on an error).
        let warmUp = PoolWarmUp.start(pool)
        defer { warmUp.wait() }
        let req = try request.loadRequest(progress: line)
        warmUp.wait()
        let budget = try request.parsedBudget()
        line.stage("pruning \(req.tokenCount) tokens (budget \(budget))")
        let options = try request.options()
        try checkMemory(req, options)
        let result: PruneResult
        do { result = try Pruner(pool: pool).prune(req, budget: budget, options: options) } catch let e as PruneError {
            throw request.attribute(e)
        }
        line.stage("writing the result")
        let units = try request.layout.map { try LayoutFile.read($0).file.units.map { $0[0]..<$0[1] } }
        let doc = ResultOutput.document(result, shards: req.shards, units: units)
        if let keptFeatures {
            let m = merge
                ? TokenMerger.merge(features: req.features, kept: result.indices, shards: req.effectiveShards, pool: pool)
                : req.features.gatherRows(result.indices)
            try TensorFiles.writeMatrix(m, to: keptFeatures)
        }
        line.finish()
        if let out { try ResultOutput.write(doc, to: out) } else { try ResultOutput.printJSON(doc) }
    }

    /// Refuses, before pruning, a request whose largest shard cannot fit in this machine's (or
    /// container's) memory: it would be killed for memory part-way, saying nothing.
    private func checkMemory(_ req: PruneRequest, _ options: PruneOptions) throws {
        guard let limit = MemoryLimit.detected, let (tokens, need) = ShardMemory.largestShard(of: req, options: options), need > limit.bytes else { return }
        throw InputError("--features", request.features, "\(options.method.rawValue) over \(tokens) tokens of width \(req.features.cols) in one shard "
                         + "needs \(Units.bytes(need)) at the least (its features and graph), more than this process's memory limit of "
                         + "\(Units.bytes(limit.bytes)) (\(limit.source)): give it shards (--shards, --tiles, --frames with --segment-frames)")
    }
}
