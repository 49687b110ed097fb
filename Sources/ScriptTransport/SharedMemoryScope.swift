#if canImport(Glibc)
import Glibc
#endif

/// Which processes can read each other's shared memory in place (`Frame.mapping`): a
/// `SharedReference` names its process by PID, which means that process only inside its PID
/// namespace, and a worker reads only memory of its own user (`Frame.mapping` checks the file's
/// owner: a worker running as root must not read another user's memory for whoever names it).
/// A worker says its scope to its coordinators, and a client shares its tensors with a worker
/// only where the worker `reads(from:)` it; others are sent the bytes.
public struct SharedMemoryScope: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The inode of the process's PID namespace (`/proc/self/ns/pid`).
    public let pidNamespace: Int
    /// The process's effective user.
    public let uid: Int

    public init(pidNamespace: Int, uid: Int) {
        self.pidNamespace = pidNamespace
        self.uid = uid
    }

    /// This process's scope; nil where its PID namespace cannot be read (no `/proc`).
    public static let current: SharedMemoryScope? = {
        var st = stat()
        guard stat("/proc/self/ns/pid", &st) == 0 else { return nil }
        return SharedMemoryScope(pidNamespace: Int(st.st_ino), uid: Int(geteuid()))
    }()

    /// Whether a process of this scope can read the shared memory of one of `writer`'s.
    public func reads(from writer: SharedMemoryScope) -> Bool {
        pidNamespace == writer.pidNamespace && uid == writer.uid
    }

    public var description: String { "PID namespace \(pidNamespace), user \(uid)" }

    enum CodingKeys: String, CodingKey {
        case pidNamespace = "pid_namespace", uid
    }
}
