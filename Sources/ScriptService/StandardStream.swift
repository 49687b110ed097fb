import Foundation
import ScriptFormats
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Standard output or standard error, written at once (no buffering), a whole text per `write`
/// under a lock (lines from different threads never interleave), and never crashing on a write
/// that fails (a closed descriptor, a full disk: Foundation's `FileHandle.write` traps on both).
/// The first failure is remembered and handed to `onFailure`: a one-shot command exits saying
/// so (its output is its result), a server warns once and serves on. After a failure the stream
/// drops what it is given. A reader that closed its pipe ends a one-shot command by SIGPIPE, as
/// it ends `cat`; a server ignores SIGPIPE, and the write fails.
public final class StandardStream: Sendable {
    /// File descriptor 1.
    public static let output = StandardStream(descriptor: STDOUT_FILENO, name: "standard output")
    /// File descriptor 2.
    public static let error = StandardStream(descriptor: STDERR_FILENO, name: "standard error")

    private let descriptor: Int32
    private let name: String
    private let state = Mutex(State())

    private struct State {
        /// Found closed at start: every write fails as one to a closed descriptor would.
        var closed = false
        var failure: StandardStreamError?
        var onFailure: (@Sendable (StandardStreamError) -> Void)?
    }

    init(descriptor: Int32, name: String) {
        self.descriptor = descriptor
        self.name = name
    }

    /// Opens `/dev/null` on each of descriptors 0, 1 and 2 that the process was started without,
    /// before anything else opens a file: otherwise the next socket or file opened takes that
    /// number, and what the process prints to standard output goes into it. A standard output or
    /// error found closed fails its first write (`Bad file descriptor`), as it would have.
    public static func reserveClosedDescriptors() {
        for (fd, stream) in [(STDIN_FILENO, nil), (STDOUT_FILENO, output), (STDERR_FILENO, error)] as [(Int32, StandardStream?)] {
            guard fcntl(fd, F_GETFD) < 0 && errno == EBADF else { continue }
            let opened = open("/dev/null", O_RDWR)
            if opened >= 0 && opened != fd { close(opened) }  // someone else took it: leave it
            stream?.state.withLock { $0.closed = true }
        }
    }

    /// The first write that failed, if one did.
    public var failure: StandardStreamError? { state.withLock { $0.failure } }

    /// What to do on the first failure (called once, outside the stream's lock).
    public func onFailure(_ body: @escaping @Sendable (StandardStreamError) -> Void) {
        state.withLock { $0.onFailure = body }
    }

    /// Writes all of `text`.
    public func write(_ text: String) {
        write(Array(text.utf8))
    }

    /// Writes all of `data`.
    public func write(_ data: Data) {
        write([UInt8](data))
    }

    /// Writes all of `bytes`; on a failure, remembers it and calls the failure handler once.
    public func write(_ bytes: [UInt8]) {
        let failed = state.withLock { s -> (StandardStreamError, (@Sendable (StandardStreamError) -> Void)?)? in
            guard s.failure == nil else { return nil }
            guard let code = s.closed ? EBADF : FileOutput.writeAll(bytes, to: descriptor) else { return nil }
            let e = StandardStreamError(stream: name, code: code)
            s.failure = e
            return (e, s.onFailure)
        }
        if let (e, handler) = failed { handler?(e) }
    }
}

/// A write to standard output or standard error failed: the stream and the system's reason.
public struct StandardStreamError: Error, Equatable, CustomStringConvertible {
    public let stream: String
    /// The `errno` of the failed write.
    public let code: Int32

    public var description: String {
        "\(stream) cannot be written: \(String(cString: strerror(code)))"
    }
}

/// Writes a line to standard output at once (no buffering), for lines other processes wait for.
public func say(_ line: String) {
    StandardStream.output.write(line + "\n")
}
