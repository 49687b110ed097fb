import ArgumentParser
import Foundation
import ScriptCore

/// Checks of flag values for the commands' `validate()`: a failure names the flag, the value
/// and what it must be, and the parser prints it with the subcommand's usage (exit status 2).
enum FlagValue {
    /// Most threads a command starts for its compute.
    static let maxThreads = 1024

    /// A whole number in `low...high`.
    static func count(_ value: Int?, _ flag: String, from low: Int = 1, to high: Int = .max) throws {
        guard let value, value < low || value > high else { return }
        let range = high == .max ? ">= \(low)" : "from \(low) to \(high)"
        throw InputError(flag, "\(value)", "must be a whole number \(range)").validation
    }

    /// A number `accepted` describes (`in [0, 1)`).
    static func number<T: BinaryFloatingPoint>(_ value: T?, _ flag: String, _ accepted: String, _ ok: (T) -> Bool) throws {
        guard let value, !value.isFinite || !ok(value) else { return }
        throw InputError(flag, "\(value)", "must be a number \(accepted)").validation
    }

    /// One of `choices`.
    static func choice(_ value: String, _ flag: String, _ choices: [String]) throws {
        guard !choices.contains(value) else { return }
        throw InputError(flag, value, "must be \(alternatives(choices))").validation
    }

    /// A comma-separated list, each item one of `choices`.
    static func list(_ value: String, _ flag: String, _ choices: [String]) throws -> [String] {
        let items = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for item in items where !choices.contains(item) {
            throw InputError(flag, value, "'\(item)' is not one of \(choices.joined(separator: ", ")) (comma-separated)").validation
        }
        return items
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

    /// `a, b or c`.
    static func alternatives(_ choices: [String]) -> String {
        choices.count <= 1 ? choices.joined() : choices.dropLast().joined(separator: ", ") + " or " + choices.last!
    }
}
