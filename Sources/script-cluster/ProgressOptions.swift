import ArgumentParser
import ScriptService

/// `--quiet` for commands that draw a progress line (which only ever shows on a terminal).
struct ProgressOptions: ParsableArguments {
    @Flag(name: [.short, .long], help: "No progress line (it is drawn on a terminal only, never into a pipe or a file).")
    var quiet = false

    /// A progress line, silent when quiet or when standard error is not a terminal.
    func line(_ title: String, total: Int? = nil, unit: ProgressLine.Unit = .none) -> ProgressLine {
        ProgressLine(title, total: total, unit: unit, quiet: quiet)
    }
}
