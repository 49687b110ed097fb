import ArgumentParser
import Foundation
import ScriptService

/// Every option of every command from the environment (`SCRIPT_CLUSTER_<COMMAND>_<OPTION>`),
/// and `--help` listing those variables: the command line is extended before it is parsed.
enum CommandEnvironment {
    /// The arguments to parse: `arguments` (without the executable) plus the chosen command's
    /// options from `environment`. Prints the help (with its variables) and exits on a help
    /// request; prints a warning for each variable that names no option; exits 2 on a bad one.
    static func resolve(_ arguments: [String], root: ParsableCommand.Type,
                        environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        let (command, helpRequested) = chosen(arguments, root: root)
        guard let command else {
            if helpRequested {
                say(root.helpMessage() + "\n\n" + rootNote)
                root.exit()
            }
            return arguments
        }
        let name = command.configuration.commandName ?? ""
        // The options come from ArgumentParser's help dump: 4 ms of a one-shot `prune`'s 37.
        let scoped = EnvironmentArguments.prefix(command: name)
        guard helpRequested || environment.keys.contains(where: { $0.hasPrefix(scoped) }) else { return arguments }
        let options = self.options(of: command)
        if helpRequested {
            say(root.helpMessage(for: command) + "\n" + EnvironmentArguments.helpSection(command: name, options: options))
            root.exit()
        }
        guard let at = arguments.firstIndex(of: name) else { return arguments }
        do {
            let merged = try EnvironmentArguments.merge(Array(arguments[(at + 1)...]), command: name, options: options,
                                                        environment: environment)
            for warning in merged.unknown { StandardStream.error.write("warning: \(warning)\n") }
            return Array(arguments[...at]) + merged.arguments
        } catch {
            StandardStream.error.write("Error: \(error)\n")
            root.exit(withError: ExitCode(2))
        }
    }

    static let rootNote = """
        ENVIRONMENT:
          Every option of a command can also be set by SCRIPT_CLUSTER_<COMMAND>_<OPTION>
          (SCRIPT_CLUSTER_WORKER_CONNECT for `worker --connect`); each command's --help lists them.

        """

    /// The subcommand named first on the command line, and whether help was asked for
    /// (`-h`, `--help`, or `help COMMAND`).
    static func chosen(_ arguments: [String], root: ParsableCommand.Type) -> (ParsableCommand.Type?, help: Bool) {
        let head = arguments.prefix { $0 != "--" }
        var help = head.contains { $0 == "-h" || $0 == "--help" || $0 == "-help" }
        var words = head.filter { !$0.hasPrefix("-") }
        if words.first == "help" {
            help = true
            words.removeFirst()
        }
        let command = words.first.flatMap { w in root.configuration.subcommands.first { $0.configuration.commandName == w } }
        return (command, help)
    }

    /// The options and flags `command` accepts, read from argument-parser's description of it.
    static func options(of command: ParsableCommand.Type) -> [EnvironmentArguments.Option] {
        guard let info = try? JSONDecoder().decode(ToolInfo.self, from: Data(command._dumpHelp().utf8)) else { return [] }
        let builtIn: Set<String> = ["help", "version", "experimental-dump-help", "generate-completion-script"]
        return (info.command.arguments ?? []).compactMap { a in
            guard a.kind != "positional", let names = a.names,
                  let long = names.first(where: { $0.kind == "long" })?.name, !builtIn.contains(long) else { return nil }
            let others = names.filter { $0.name != long || $0.kind != "long" }
                .map { ($0.kind == "short" ? "-" : "--") + $0.name }
            return EnvironmentArguments.Option(long: long, otherNames: others, takesValue: a.kind == "option")
        }
    }

    /// The part of argument-parser's JSON description (`--experimental-dump-help`) read here.
    struct ToolInfo: Decodable {
        struct Name: Decodable { var kind: String; var name: String }
        struct Argument: Decodable { var kind: String; var names: [Name]? }
        struct Command: Decodable { var arguments: [Argument]? }
        var command: Command
    }
}
