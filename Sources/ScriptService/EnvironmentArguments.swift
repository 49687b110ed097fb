/// Options of a command read from environment variables, for containers and orchestrators:
/// `--heartbeat-ms` of `worker` is `SCRIPT_CLUSTER_WORKER_HEARTBEAT_MS`. An option given on the
/// command line wins over its variable. Each variable holds one value (a flag: `1`, `true`,
/// `yes`, `on` to set it; `0`, `false`, `no`, `off` or empty to leave it unset).
public enum EnvironmentArguments {
    /// What a command accepts, as far as its variables go.
    public struct Option: Sendable, Equatable {
        /// The long name, without dashes (`heartbeat-ms`).
        public let long: String
        /// Other names that also set it on the command line (`-h`, `--alias`), with dashes.
        public let otherNames: [String]
        /// False for a flag (takes no value).
        public let takesValue: Bool

        public init(long: String, otherNames: [String] = [], takesValue: Bool) {
            self.long = long
            self.otherNames = otherNames
            self.takesValue = takesValue
        }
    }

    /// Every variable starts with this.
    public static let prefix = "SCRIPT_CLUSTER_"

    /// The variables of `command` start with this (`SCRIPT_CLUSTER_WORKER_`).
    public static func prefix(command: String) -> String { prefix + upper(command) + "_" }

    /// The variable for `option` of `command`.
    public static func variable(command: String, option: String) -> String { prefix(command: command) + upper(option) }

    /// What `merge` made of the environment.
    public struct Merged: Sendable, Equatable {
        /// The command's arguments with those from the environment.
        public var arguments: [String]
        /// Variables with the command's prefix that name none of its options (a typo, or a
        /// Kubernetes service link such as `SCRIPT_CLUSTER_COORDINATOR_PORT`): worth a warning.
        public var unknown: [EnvironmentError]
    }

    /// `arguments` (those after the command's name) with every option they lack appended from
    /// `environment` as `--name=value`. A flag's variable with another value than those above is
    /// an error.
    public static func merge(_ arguments: [String], command: String, options: [Option],
                             environment: [String: String]) throws(EnvironmentError) -> Merged {
        let byVariable = Dictionary(options.map { (variable(command: command, option: $0.long), $0) }) { a, _ in a }
        let scoped = prefix(command: command)
        var added: [String] = []
        var unknown: [EnvironmentError] = []
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(scoped) {
            guard let option = byVariable[name] else {
                unknown.append(.unknownVariable(name, known: byVariable.keys.sorted()))
                continue
            }
            // An empty value is unset (compose passes an unset variable on as an empty one); as a
            // value it read "Missing value for '--query <query>'", naming no variable.
            guard !isGiven(option, in: arguments), !value.isEmpty else { continue }
            if option.takesValue {
                added.append("--\(option.long)=\(value)")
            } else if try flagValue(name, value) {
                added.append("--\(option.long)")
            }
        }
        // Before a `--` terminator, if any, so the options still parse as options.
        let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
        return Merged(arguments: Array(arguments[..<end]) + added + Array(arguments[end...]), unknown: unknown)
    }

    /// The lines `--help` shows under ENVIRONMENT: each variable beside the option it sets.
    public static func helpSection(command: String, options: [Option]) -> String {
        let rows = options.map { (variable(command: command, option: $0.long), "--" + $0.long) }
        let width = (rows.map(\.0.count).max() ?? 0) + 2
        var text = "ENVIRONMENT:\n"
        text += "  Each option can also be set by a variable (a flag by 1 or 0); the command line wins.\n"
        for (v, o) in rows { text += "  " + v + String(repeating: " ", count: width - v.count) + o + "\n" }
        return text
    }

    static func upper(_ name: String) -> String {
        String(name.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Whether `option` appears in `arguments` (before any `--`), alone or as `--name=value`.
    static func isGiven(_ option: Option, in arguments: [String]) -> Bool {
        let names = ["--" + option.long] + option.otherNames
        for a in arguments {
            if a == "--" { return false }
            if names.contains(where: { a == $0 || a.hasPrefix($0 + "=") }) { return true }
        }
        return false
    }

    static func flagValue(_ name: String, _ value: String) throws(EnvironmentError) -> Bool {
        switch value.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw .badFlag(name, value: value)
        }
    }
}

/// An environment variable that cannot be used.
public enum EnvironmentError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A variable with a command's prefix that names none of its options.
    case unknownVariable(String, known: [String])
    /// A flag's variable with a value that is neither on nor off.
    case badFlag(String, value: String)

    public var description: String {
        switch self {
        case .unknownVariable(let name, let known):
            return "environment variable \(name) sets no option of this command, ignored (known: \(known.joined(separator: ", ")))"
        case .badFlag(let name, let value):
            return "environment variable \(name)='\(value)': a flag takes 1, true, yes, on, or 0, false, no, off"
        }
    }
}
