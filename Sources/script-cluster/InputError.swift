import ArgumentParser
import ScriptService

/// A bad flag value or input file, said in the project's words: the flag or file, the value,
/// and what would be accepted (`--budget -5: must be a count >= 1 ...`). Exit status 2.
struct InputError: Error, CustomStringConvertible {
    /// The flag (`--budget`) or the file the problem is in.
    let subject: String
    /// The offending value, when there is one to quote.
    let value: String?
    /// What is wrong, or what would be accepted.
    let problem: String

    init(_ subject: String, _ value: String? = nil, _ problem: String) {
        self.subject = subject
        self.value = value
        self.problem = problem
    }

    var description: String {
        guard let value else { return "\(subject): \(problem)" }
        let printable = PrintableText.escaped(value)
        let shown = value.isEmpty || value.contains(where: \.isWhitespace) ? "'\(printable)'" : printable
        return "\(subject) \(shown): \(problem)"
    }

    /// The same text as a validation error, which the parser prints with the subcommand's usage.
    var validation: ValidationError { ValidationError(description) }
}
