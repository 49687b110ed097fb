import ArgumentParser
import ScriptService

@main
struct ScriptClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "script-cluster",
        abstract: "Prune the visual tokens of multimodal LLMs (Script: graph-structured and query-conditioned pruning), in-process or across a cluster.",
        version: BuildInfo.version,
        subcommands: [PruneCommand.self, SampleCommand.self, CoordinatorCommand.self, WorkerCommand.self, SubmitCommand.self, UpCommand.self, BenchCommand.self, EvalCommand.self, StatusCommand.self, KeygenCommand.self]
    )

    static func main() {
        MemoryTuning.apply()
        main(CommandEnvironment.resolve(Array(CommandLine.arguments.dropFirst()), root: Self.self))
    }
}
