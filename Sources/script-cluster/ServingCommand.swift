import ScriptService

/// A command that serves until it is stopped (coordinator, worker, up). Its standard output
/// carries only the lines that say where it serves, so one it cannot write is warned about once
/// on standard error, and it serves on; a one-shot command's output is its result, and it fails.
protocol ServingCommand {}

/// What a serving command says when its standard output fails.
func warnOutputLost(_ e: StandardStreamError) {
    StandardStream.error.write("warning: \(e): the lines this process prints there (where it serves) are lost; serving on\n")
}

extension CoordinatorCommand: ServingCommand {}
extension WorkerCommand: ServingCommand {}
extension UpCommand: ServingCommand {}
