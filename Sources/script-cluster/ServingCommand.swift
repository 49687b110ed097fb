import ScriptService
#if canImport(Glibc)
import Glibc
#endif

/// A command that serves until it is stopped (coordinator, worker, up). Its standard output
/// carries only the lines that say where it serves, so one it cannot write is warned about once
/// on standard error, and it serves on; a one-shot command's output is its result, and it fails.
protocol ServingCommand {}

/// A serving command serves on when its standard output fails: a reader that closed its pipe
/// (`| head -1`, a `tee` or a log collector gone) fails a write instead of ending the process by
/// SIGPIPE, and the first failure is warned about once on standard error.
func serveOnWithoutOutput() {
    signal(SIGPIPE, SIG_IGN)
    StandardStream.output.onFailure { e in
        StandardStream.error.write("warning: \(e): the lines this process prints there (where it serves) are lost; serving on\n")
    }
}

extension CoordinatorCommand: ServingCommand {}
extension WorkerCommand: ServingCommand {}
extension UpCommand: ServingCommand {}
