import ArgumentParser
import Foundation
import ScriptCore

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

    @Option(name: .long, help: "Threads for the pruning core (default: the CPUs this process may use, or $SCRIPT_CLUSTER_THREADS).")
    var threads: Int?

    func run() throws {
        do {
            let req = try request.loadRequest()
            let pool = ComputePool(width: try ThreadCount.resolve(flag: threads))
            let result = try Pruner(pool: pool).prune(req, budget: try request.parsedBudget(), options: try request.options())
            let units = try request.layout.map { try LayoutFile.read($0).file.units.map { $0[0]..<$0[1] } }
            let doc = ResultOutput.document(result, shards: req.shards, units: units)
            if let out { try ResultOutput.write(doc, to: out) } else { try ResultOutput.printJSON(doc) }
            if let keptFeatures {
                let m = merge
                    ? TokenMerger.merge(features: req.features, kept: result.indices, shards: req.effectiveShards, pool: pool)
                    : req.features.gatherRows(result.indices)
                try TensorFiles.writeMatrix(m, to: keptFeatures)
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

extension ResultOutput {
    static func printJSON(_ doc: ResultDocument) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        FileHandle.standardOutput.write(try enc.encode(doc) + Data("\n".utf8))
    }
}
