import ArgumentParser
import Foundation
import ScriptService

@main
struct ScriptClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "script-cluster",
        abstract: "Prune the visual tokens of multimodal LLMs (Script: graph-structured and query-conditioned pruning), in-process or across a cluster.",
        discussion: """
        Exit status: 0 done; 1 an internal error (a bug); 2 bad input (a flag, a value, an input \
        file, an output path or a standard output that cannot be written, or a request the cluster refused as invalid); 3 the cluster \
        (unreachable, timed out, busy, failing, or a process that cannot serve).
        """,
        version: BuildInfo.version,
        subcommands: [PruneCommand.self, SampleCommand.self, CoordinatorCommand.self, WorkerCommand.self, SubmitCommand.self, UpCommand.self, LoadCommand.self, BenchCommand.self, EvalCommand.self, StatusCommand.self, KeygenCommand.self]
    )

    static func main() {
        StandardStream.reserveClosedDescriptors()
        OpenFileLimit.raise()
        MemoryTuning.apply()
        // What a one-shot command writes is its result: one it cannot write fails it at once.
        StandardStream.output.onFailure { report("Error: \($0)", .badInput) }
        do {
            // Options also come from SCRIPT_CLUSTER_<COMMAND>_<OPTION> (and --help lists them).
            var command = try parseAsRoot(CommandEnvironment.resolve(Array(CommandLine.arguments.dropFirst()), root: Self.self))
            if command is ServingCommand { serveOnWithoutOutput() }
            try command.run()
        } catch {
            fail(error)
        }
        Foundation.exit(ExitStatus.ok.rawValue)
    }

    /// Says what went wrong and exits with the documented status. Help and `--version` (which
    /// the parser raises as errors) go to standard output with status 0; a parse or validation
    /// error names the flag, with the subcommand's usage, and exits 2.
    private static func fail(_ error: Error) -> Never {
        if let code = error as? ExitCode { Foundation.exit(code.rawValue) }  // the command has said why
        let status = ExitStatus.of(error)
        if status != .failure { report("Error: " + ExitStatus.message(for: error), status) }
        // Not one of ours: the parser's own (help, --version, a flag it could not parse), or a bug.
        switch exitCode(for: error) {
        case .success:
            say(fullMessage(for: error))
            Foundation.exit(ExitStatus.ok.rawValue)
        case .validationFailure:
            report(fullMessage(for: error), .badInput)
        default:
            report("Error: " + ExitStatus.message(for: error), .failure)
        }
    }

    static func report(_ text: String, _ status: ExitStatus) -> Never {
        StandardStream.error.write(text + "\n")
        Foundation.exit(status.rawValue)
    }
}
