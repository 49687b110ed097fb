import ArgumentParser
import ScriptClient
import ScriptCore
import ScriptFormats
import ScriptProtocol
import ScriptService
import ScriptTransport

/// The exit codes the README documents, and which errors lead to which.
enum ExitStatus: Int32 {
    /// Done.
    case ok = 0
    /// Something failed that no input explains: a bug.
    case failure = 1
    /// A flag, a value, an input file or an output path is wrong (the message names it), or the
    /// cluster refused the request as invalid.
    case badInput = 2
    /// The cluster: unreachable, too slow, busy, failing, or a process that cannot serve.
    case cluster = 3

    var exitCode: ExitCode { ExitCode(rawValue) }

    /// The status an error leads to.
    static func of(_ error: Error) -> ExitStatus {
        switch error {
        case is InputError, is ValidationError, is PruneError, is FormatError, is CurveKeyError, is ThreadCountError: return .badInput
        case let e as ProtocolError: return Self.of(e.code)
        case is ZMQError, is StartupError, is ConnectionRefused, is DataSocketUnreachable: return .cluster
        default: return .failure
        }
    }

    /// Codes the cluster answers for requests that are wrong in themselves are input errors
    /// (the same request fails the same way in `prune`); the rest are the cluster's.
    static func of(_ code: ErrorCode) -> ExitStatus {
        switch code {
        case .badRequest, .badTensor, .badShape, .nonFinite, .badBudget, .badShards, .badOption, .tooLarge: return .badInput
        case .badMessage, .unsupportedVersion, .unknownType, .busy, .timeout, .shuttingDown, .shardFailed, .unreadableSharedMemory, .internal:
            return .cluster
        }
    }

    /// One line for the user: the error in our words, or, for one nothing here expected, what
    /// Swift says with a note that it is a bug.
    static func message(for error: Error) -> String {
        switch error {
        case let e as ValidationError: return e.message
        case let e as CustomStringConvertible where Self.of(error) != .failure: return e.description
        default: return "internal error (please report it): \(String(describing: error))"
        }
    }
}
