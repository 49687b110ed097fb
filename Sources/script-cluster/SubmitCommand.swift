import ArgumentParser
import Foundation
import ScriptClient
import ScriptCoordinator
import ScriptLauncher
import ScriptProtocol
import ScriptService
import ScriptWorker
import ScriptCore

/// `submit`: send a request made of files to a running coordinator.
struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit", 
        abstract: "Send a request (same flags as prune) to a running coordinator and write the same outputs.")

    @OptionGroup var request: RequestArguments

    @Option(help: "The coordinator's client endpoint.") var connect = "tcp://127.0.0.1:5555"
    @Option(help: "Kept indices: .json or .npy. Default: print JSON.") var out: String?
    @Option(name: .customLong("kept-features"), help: "Also write the kept features (.npy).") var keptFeatures: String?
    @Flag(help: "With --kept-features: merge pruned tokens into their nearest kept token.") var merge = false
    @Option(name: .customLong("deadline-ms"), help: "How long the cluster may take.") var deadlineMs: Int?
    @Option(help: "Request id (default: a fresh UUID); reuse one to retry safely.") var id: String?
    @Flag(name: .customLong("half"), help: "Send tensors as f16 (half the bytes).") var half = false

    func run() throws {
        do {
            let req = try request.loadRequest()
            let mode: ReturnMode = keptFeatures == nil ? .indices : (merge ? .merged : .features)
            let submission = PruneSubmission(id: id ?? UUID().uuidString, request: req, budget: try request.parsedBudget(),
                                             options: try request.options(), returnMode: mode, deadlineMs: deadlineMs)
            let client = try ClusterClient(endpoint: connect)
            defer { client.close() }
            switch try client.prune(submission, halfPrecision: half) {
            case .result(let r):
                let units = try request.layout.map { try LayoutFile.read($0).file.units.map { $0[0]..<$0[1] } }
                var doc = ResultOutput.document(indices: r.indices, budget: r.budget, n: r.tokenCount, method: "script",
                                                sharded: true, shards: req.shards ?? [0..<req.tokenCount], units: units,
                                                timings: Dictionary(uniqueKeysWithValues: r.timings))
                doc.workers = r.workers
                if let out { try ResultOutput.write(doc, to: out) } else { try ResultOutput.printJSON(doc) }
                if let keptFeatures, let f = r.features { try TensorFiles.writeMatrix(f, to: keptFeatures) }
            case .error(_, let e):
                FileHandle.standardError.write(Data("error: \(e.code.rawValue): \(e.message)\n".utf8))
                throw ExitCode(3)
            case .status:
                throw ExitCode(3)
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
