import ArgumentParser

@main
struct ScriptClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "script-cluster",
        abstract: "Prune the visual tokens of multimodal LLMs (Script: graph-structured and query-conditioned pruning), in-process or across a cluster.",
        subcommands: [PruneCommand.self, SampleCommand.self, CoordinatorCommand.self, WorkerCommand.self, SubmitCommand.self, UpCommand.self, LoadCommand.self, BenchCommand.self, EvalCommand.self]
    )

    static func main() {
        MemoryTuning.apply()
        main(nil)
    }
}
