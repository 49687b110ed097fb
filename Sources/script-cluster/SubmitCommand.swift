import ArgumentParser
import Foundation
import ScriptClient
import ScriptCore
import ScriptProtocol
import ScriptService
import ScriptTransport

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
    @Option(name: .customLong("deadline-ms"), parsing: .unconditional, help: "How long the cluster may take, in ms (default: the coordinator's).")
    var deadlineMs: Int?
    @Option(help: "Request id (default: a fresh UUID); reuse one to retry the same request safely (another request under it is refused).") var id: String?
    @Option(help: "Dtype of the tensors on the wire: f32, f16 or bf16 (f16 and bf16 halve the bytes).") var dtype = "f32"
    @Flag(name: .customLong("half"), help: "Same as --dtype f16.") var half = false
    @Flag(help: "Send the tensor bytes straight to the workers (the client must reach them) instead of through the coordinator.")
    var direct = false
    @Flag(name: .customLong("shared-memory"), help: "With --direct: the tensors in shared memory (a sealed memfd), which workers on this host behind Unix sockets (ipc://), in this PID namespace and of this user, read in place instead of receiving them; the others are sent them.")
    var sharedMemory = false
    @Option(parsing: .unconditional, help: "Tries of the request (same id) before giving up.") var attempts = 5
    @OptionGroup var curve: CurveClientOptions
    @OptionGroup var progress: ProgressOptions

    private var endpoints: [String] {
        connect.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func validate() throws {
        try FlagValue.endpoints(connect, "--connect", binds: false)
        try FlagValue.choice(dtype, "--dtype", ["f32", "f16", "bf16"])
        if half && dtype != "f32" { throw InputError("--half", nil, "is --dtype f16; it contradicts --dtype \(dtype)").validation }
        try FlagValue.count(deadlineMs, "--deadline-ms")
        try FlagValue.count(attempts, "--attempts", to: 100)
        try FlagValue.output(out, "--out")
        try FlagValue.output(keptFeatures, "--kept-features")
        guard direct || !sharedMemory else { throw ValidationError("--shared-memory goes with --direct (inline bytes go through the coordinator)") }
        if merge && keptFeatures == nil { throw InputError("--merge", nil, "needs --kept-features (the file the merged tokens go to)").validation }
    }

    func run() throws {
        let line = progress.line("submit")
        defer { line.finish() }
        let req = try request.loadRequest(progress: line)
        // Refused here, naming the file, rather than after the bytes crossed the network.
        do { try req.validate() } catch let e as PruneError { throw request.attribute(e) }
        let wire = TensorCodec.WireDType(rawValue: half ? "f16" : dtype) ?? .f32
        let mode: ReturnMode = keptFeatures == nil ? .indices : (merge ? .merged : .features)
        let submission = PruneSubmission(id: id ?? UUID().uuidString, request: req, budget: try request.parsedBudget(),
                                         options: try request.options(), returnMode: mode, deadlineMs: deadlineMs,
                                         dtype: wire, transfer: direct ? .direct : .inline)
        var options = ClusterClient.Options()
        options.attempts = attempts
        options.curve = try curve.settings()
        options.notice = { [line] in
            line.hide()
            StandardStream.error.write("warning: \($0)\n")
        }
        let client = try ClusterClient(endpoints: endpoints, options: options)
        defer { client.close() }
        line.stage("submit \(Units.bytes(Self.bytes(req, wire))) to \(endpoints.joined(separator: ","))")
        let reply: ClusterReply
        do { reply = try client.prune(submission, sharedMemory: sharedMemory) } catch let e as SharedMemoryError {
            throw StartupError("--shared-memory: \(e)")
        }
        switch reply {
        case .result(let r):
            line.finish()
            let units = try request.layout.map { try LayoutFile.read($0).file.units.map { $0[0]..<$0[1] } }
            var doc = ResultOutput.document(indices: r.indices, budget: r.budget, n: r.tokenCount, method: submission.options.method.rawValue,
                                            sharded: true, shards: req.shards ?? [0..<req.tokenCount], units: units,
                                            timings: Dictionary(uniqueKeysWithValues: r.timings))
            doc.workers = r.workers
            if let keptFeatures, let f = r.featureMatrix { try TensorFiles.writeMatrix(f, to: keptFeatures) }
            if let out { try ResultOutput.write(doc, to: out) } else { try ResultOutput.printJSON(doc) }
            if let note = client.unreachableDataNote { StandardStream.error.write("warning: \(note)\n") }
        case .error(_, let e):
            throw e
        case .status, .placement:
            throw ProtocolError(.badMessage, "the coordinator answered the request with a message that is not a result")
        }
    }

    /// The request's tensor bytes on the wire.
    private static func bytes(_ r: PruneRequest, _ wire: TensorCodec.WireDType) -> Int {
        (r.features.values.count + (r.embeddings?.values.count ?? 0) + (r.query?.values.count ?? 0)) * wire.size
    }
}
