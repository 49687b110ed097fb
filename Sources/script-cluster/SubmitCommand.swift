import ArgumentParser
import Foundation
import ScriptClient
import ScriptCore
import ScriptProtocol

/// `submit`: send a request made of files to a running cluster.
struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit",
        abstract: "Send a request (same flags as prune) to a running coordinator and write the same outputs.")

    @OptionGroup var request: RequestArguments

    @Option(help: "The coordinators' client endpoints, comma-separated (tried in turn when one does not answer).")
    var connect = "tcp://127.0.0.1:5555"
    @Option(help: "Kept indices: .json or .npy. Default: print JSON.") var out: String?
    @Option(name: .customLong("kept-features"), help: "Also write the kept features (.npy).") var keptFeatures: String?
    @Flag(help: "With --kept-features: merge pruned tokens into their nearest kept token.") var merge = false
    @Option(name: .customLong("deadline-ms"), help: "How long the cluster may take, in ms.") var deadlineMs: Int?
    @Option(help: "Request id (default: a fresh UUID); reuse one to retry safely.") var id: String?
    @Option(help: "Dtype of the tensors on the wire: f32, f16 or bf16 (f16 and bf16 halve the bytes).") var dtype = "f32"
    @Flag(name: .customLong("half"), help: "Same as --dtype f16.") var half = false
    @Flag(help: "Send the tensor bytes straight to the workers (the client must reach them) instead of through the coordinator.")
    var direct = false
    @Option(help: "Tries of the request (same id) before giving up.") var attempts = 5

    func run() throws {
        do {
            let req = try request.loadRequest()
            let mode: ReturnMode = keptFeatures == nil ? .indices : (merge ? .merged : .features)
            guard let wireType = TensorCodec.WireDType(rawValue: half ? "f16" : dtype) else {
                throw ValidationError("--dtype must be f32, f16 or bf16, got \(dtype)")
            }
            let submission = PruneSubmission(id: id ?? UUID().uuidString, request: req, budget: try request.parsedBudget(),
                                             options: try request.options(), returnMode: mode, deadlineMs: deadlineMs,
                                             dtype: wireType, transfer: direct ? .direct : .inline)
            var options = ClusterClient.Options()
            options.attempts = max(1, attempts)
            let endpoints = connect.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let client = try ClusterClient(endpoints: endpoints, options: options)
            defer { client.close() }
            let reply: ClusterReply
            do { reply = try client.prune(submission) } catch let e as ProtocolError {
                FileHandle.standardError.write(Data("error: \(e.code.rawValue): \(e.message)\n".utf8))
                throw ExitCode(e.code == .tooLarge ? 2 : 3)
            }
            switch reply {
            case .result(let r):
                let units = try request.layout.map { try LayoutFile.read($0).file.units.map { $0[0]..<$0[1] } }
                var doc = ResultOutput.document(indices: r.indices, budget: r.budget, n: r.tokenCount, method: "script",
                                                sharded: true, shards: req.shards ?? [0..<req.tokenCount], units: units,
                                                timings: Dictionary(uniqueKeysWithValues: r.timings))
                doc.workers = r.workers
                if let out { try ResultOutput.write(doc, to: out) } else { try ResultOutput.printJSON(doc) }
                if let keptFeatures, let f = r.featureMatrix { try TensorFiles.writeMatrix(f, to: keptFeatures) }
            case .error(_, let e):
                FileHandle.standardError.write(Data("error: \(e.code.rawValue): \(e.message)\n".utf8))
                throw ExitCode(3)
            case .status, .placement:
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
