import ArgumentParser
import Foundation
import ScriptCore

/// Checks of flag values for the commands' `validate()`: a failure names the flag, the value
/// and what it must be, and the parser prints it with the subcommand's usage (exit status 2).
enum FlagValue {
    /// Most threads a command starts for its compute.
    static let maxThreads = ThreadCount.maximum
    /// `--memory-limit` of `coordinator` and `worker`.
    static let memoryLimitHelp: ArgumentHelp = "The memory this process may hold, in bytes (default: its cgroup's limit, or the machine's memory); `up` gives each of its processes an equal share of its own where this option's variable does not set it."

    /// A whole number in `low...high`.
    static func count(_ value: Int?, _ flag: String, from low: Int = 1, to high: Int = .max) throws {
        guard let value, value < low || value > high else { return }
        let range = high == .max ? ">= \(low)" : "from \(low) to \(high)"
        throw InputError(flag, "\(value)", "must be a whole number \(range)").validation
    }

    /// Whole numbers >= 1, each with its flag: the first that is not refused as `count` would.
    static func counts(_ values: [(Int, String)]) throws {
        for (value, flag) in values { try count(value, flag) }
    }

    /// A number `accepted` describes (`in [0, 1)`).
    static func number<T: BinaryFloatingPoint>(_ value: T?, _ flag: String, _ accepted: String, _ ok: (T) -> Bool) throws {
        guard let value, !value.isFinite || !ok(value) else { return }
        throw InputError(flag, "\(value)", "must be a number \(accepted)").validation
    }

    /// `--similarity` as a precision, f32 or bf16, wherever its products are computed (a
    /// cluster's workers, for `submit` and `load`).
    @discardableResult
    static func precision(_ value: String) throws -> SimilarityPrecision {
        try choice(value, "--similarity", SimilarityPrecision.allCases.map(\.rawValue))
        return SimilarityPrecision(rawValue: value) ?? .f32
    }

    /// `--similarity` computed in this process: f32, or bf16 where its products can run here
    /// (refused, saying why, where oneDNN or the CPU's bfloat16 instructions are missing).
    @discardableResult
    static func similarity(_ value: String) throws -> SimilarityPrecision {
        let precision = try self.precision(value)
        if precision == .bf16, let reason = BFloat16Products.unavailableReason {
            throw InputError("--similarity", value, reason).validation
        }
        return precision
    }

    /// One of `choices`.
    static func choice(_ value: String, _ flag: String, _ choices: [String]) throws {
        guard !choices.contains(value) else { return }
        throw InputError(flag, value, "must be \(alternatives(choices))").validation
    }

    /// A comma-separated list, each item one of `choices`.
    static func list(_ value: String, _ flag: String, _ choices: [String]) throws -> [String] {
        let items = commaSeparated(value)
        for item in items where !choices.contains(item) {
            throw InputError(flag, value, "'\(item)' is not one of \(choices.joined(separator: ", ")) (comma-separated)").validation
        }
        try refuseRepeats(items, flag, value)
        return items
    }

    /// The items of a comma-separated value, trimmed (empty ones kept, for the caller to refuse).
    private static func commaSeparated(_ value: String) -> [String] {
        value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// `up`'s endpoints: one per coordinator, or one for all where the system picks each a port
    /// (`:*`); one fixed endpoint for several was bound twice, an extra one went unused.
    static func endpoints(_ value: String, _ flag: String, binds: Bool, onePer coordinators: Int) throws -> [String] {
        let items = try endpoints(value, flag, binds: binds)
        let plural = coordinators == 1 ? "" : "s"
        if items.count != 1 && items.count != coordinators {
            throw InputError(flag, value, "lists \(items.count) endpoints for \(coordinators) coordinator\(plural) (--coordinators): give one per coordinator, or one tcp://HOST:* for a free port each").validation
        }
        if items.count == 1, coordinators > 1, !items[0].hasSuffix(":*") {
            throw InputError(flag, value, "is one endpoint for \(coordinators) coordinators, which cannot all bind it: give one per coordinator, or a port the system picks for each (tcp://HOST:*)").validation
        }
        return items
    }

    /// Refuses a `--backend` that names an endpoint of the `--frontend` (a port the system picks,
    /// `:*`, is two ports): the second bind failed with "Address already in use".
    static func refuseShared(frontend: [String], backend: [String], _ value: String) throws {
        if let shared = backend.first(where: { frontend.contains($0) && !$0.hasSuffix(":*") }) {
            throw InputError("--backend", value, "'\(shared)' is the --frontend's too: clients and workers each need an endpoint of their own").validation
        }
    }

    /// Refuses a list that names an item twice.
    private static func refuseRepeats(_ items: [String], _ flag: String, _ value: String) throws {
        if let twice = items.enumerated().first(where: { items[..<$0.offset].contains($0.element) })?.element {
            throw InputError(flag, value, "'\(twice)' is listed twice").validation
        }
    }

    /// A budget: a count >= 1 or a ratio in (0, 1].
    static func budget(_ text: String, _ flag: String = "--budget") throws -> Budget {
        let accepted = "must be a count >= 1 (such as 64) or a ratio in (0, 1] (such as 0.1)"
        guard let b = try? Budget(parsing: text), (try? b.resolve(tokens: 1)) != nil else {
            throw InputError(flag, text, accepted).validation
        }
        return b
    }

    /// Comma-separated budgets.
    static func budgets(_ text: String, _ flag: String) throws -> [Budget] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
            do { return try budget(String(item), flag) } catch {
                throw InputError(flag, text, "'\(item)' is not a budget: each must be a count >= 1 or a ratio in (0, 1]").validation
            }
        }
    }

    /// A file to write: its directory must exist (checked before long work, not after it).
    static func output(_ path: String?, _ flag: String) throws {
        guard let path else { return }
        if let problem = OutputFile.problem(path) { throw InputError(flag, path, problem).validation }
    }

    /// Comma-separated ZeroMQ endpoints this project's processes can use: `tcp://HOST:PORT` or
    /// `ipc://PATH`, and where the process binds, `tcp://HOST:*` (a free port). Returns them.
    @discardableResult
    static func endpoints(_ value: String, _ flag: String, binds: Bool) throws -> [String] {
        let items = commaSeparated(value)
        for item in items where !isEndpoint(item, binds: binds) {
            let what = item.isEmpty ? "an empty item" : "'\(item)'"
            throw InputError(flag, value, "\(what) is not an endpoint: each must be \(endpointForms(binds: binds))").validation
        }
        for item in items where !binds && host(item) == "*" {
            throw InputError(flag, value, "'\(item)' \(Self.everyInterface)").validation
        }
        try refuseRepeats(items, flag, value)
        return items
    }

    /// One endpoint, as `endpoints` checks each.
    static func endpoint(_ value: String, _ flag: String, binds: Bool) throws {
        guard !isEndpoint(value, binds: binds) else {
            if !binds && host(value) == "*" { throw InputError(flag, value, Self.everyInterface).validation }
            return
        }
        throw InputError(flag, value, "must be an endpoint, \(endpointForms(binds: binds))").validation
    }

    /// An address to tell clients (`--data-advertise`): an endpoint they can connect to, so
    /// not this machine's every interface (`0.0.0.0`, `[::]`), which is an address to bind.
    static func advertised(_ value: String, _ flag: String) throws {
        try endpoint(value, flag, binds: false)
        guard let h = host(value), ["0.0.0.0", "[::]", "::"].contains(h) else { return }
        throw InputError(flag, value, "names every interface of this machine, which clients cannot connect to: give the address they reach (or leave the flag out: a wildcard --data-bind is advertised under this host's name)").validation
    }

    private static let everyInterface = "names every interface (*), which is for binding: give a host name or address to connect to"

    /// The host of a `tcp://HOST:PORT` endpoint.
    private static func host(_ text: String) -> String? {
        guard text.hasPrefix("tcp://") else { return nil }
        let address = text.dropFirst("tcp://".count)
        return address.lastIndex(of: ":").map { String(address[..<$0]) }
    }

    private static func endpointForms(binds: Bool) -> String {
        (binds ? "tcp://HOST:PORT, tcp://HOST:* (a free port) or ipc://PATH" : "tcp://HOST:PORT or ipc://PATH") + " (such as tcp://10.0.0.5:5556)"
    }

    private static func isEndpoint(_ text: String, binds: Bool) -> Bool {
        if text.hasPrefix("ipc://") { return text.count > "ipc://".count }
        guard text.hasPrefix("tcp://") else { return false }
        let address = text.dropFirst("tcp://".count)
        guard let colon = address.lastIndex(of: ":") else { return false }
        let host = address[..<colon], port = address[address.index(after: colon)...]
        guard !host.isEmpty, !host.contains("/") else { return false }
        if binds && port == "*" { return true }
        return Int(port).map { (1...65_535).contains($0) } ?? false
    }

    /// `a, b or c`.
    static func alternatives(_ choices: [String]) -> String {
        choices.count <= 1 ? choices.joined() : choices.dropLast().joined(separator: ", ") + " or " + choices.last!
    }
}
