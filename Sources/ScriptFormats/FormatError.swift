/// A tensor file that cannot be read: which file, and what is wrong with it.
public struct FormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What is wrong with the file.
    public enum Problem: Equatable, Sendable {
        /// The system's reason (`No such file or directory`).
        case unreadable(String)
        case badMagic
        case unsupportedVersion(major: Int, minor: Int)
        case headerTooLarge(Int)
        case malformedHeader(String)
        /// An element type the format's reader does not take, and those it takes.
        case unsupportedDType(String, read: String)
        case bigEndian(String)
        case fortranOrder
        case sizeMismatch(expected: Int, actual: Int)
        case truncated
        /// A stream that goes on past the size its header declares (that size).
        case longerThanDeclared(Int)
        case tensorNotFound(String, available: [String])
        case overlappingOffsets(String, String)
        /// The system's reason (`No space left on device`).
        case unwritable(String)
    }

    public let file: String
    public let problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case .unreadable(let reason): what = "cannot be read: \(reason)"
        case .badMagic: what = "is not a .npy file (bad magic bytes)"
        case let .unsupportedVersion(a, b): what = "has unsupported format version \(a).\(b)"
        case .headerTooLarge(let n): what = "declares a header of \(n) bytes, beyond the file or the 1 MiB limit"
        case .malformedHeader(let s): what = "has a malformed header: \(s)"
        case let .unsupportedDType(d, read): what = "has unsupported element type '\(d)' (\(read) are read)"
        case .bigEndian(let d): what = "is big-endian ('\(d)'); only little-endian is read"
        case .fortranOrder: what = "is in Fortran order; only C order is read"
        case let .sizeMismatch(expected, actual): what = "holds \(actual) data bytes where its shape needs \(expected)"
        case .truncated: what = "is truncated"
        case .longerThanDeclared(let n): what = "goes on past the \(n) bytes its header declares"
        case let .tensorNotFound(name, available): what = "has no tensor '\(name)' (it has: \(available.joined(separator: ", ")))"
        case let .overlappingOffsets(a, b): what = "has tensors '\(a)' and '\(b)' whose data overlap or leave gaps"
        case .unwritable(let reason): what = "cannot be written: \(reason)"
        }
        return "\(file) \(what)"
    }
}
