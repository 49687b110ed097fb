#if canImport(Glibc)
import Glibc
#endif

/// Shared memory that could not be made, or that a worker could not read in place: what it
/// tried, on what, and why.
public struct SharedMemoryError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was tried: "create", "seal", "open", "read the seals of", "map", ...
    public let operation: String
    /// The memory's reference where a worker read one (nil for this process's own).
    public let reference: SharedReference?
    /// Why, in words (errno's where a call failed).
    public let reason: String

    public init(_ operation: String, _ reference: SharedReference?, reason: String) {
        self.operation = operation
        self.reference = reference
        self.reason = reason
    }

    /// A failed call, described by errno.
    static func call(_ operation: String, _ reference: SharedReference?, errno e: Int32 = errno) -> SharedMemoryError {
        SharedMemoryError(operation, reference, reason: "\(String(cString: strerror(e))) (errno \(e))")
    }

    public var description: String {
        guard let r = reference else { return "cannot \(operation) shared memory: \(reason)" }
        return "cannot \(operation) the shared memory of process \(r.pid), descriptor \(r.fd), at byte \(r.offset): \(reason)"
    }
}
