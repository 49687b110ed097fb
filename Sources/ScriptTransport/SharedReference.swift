/// Where a tensor's bytes lie in a client's shared memory, as a `data` message names them
/// instead of sending them: descriptor `fd` of process `pid` in PID namespace `namespace` (a
/// sealed memfd), from byte `offset` on. Only a worker whose data socket is a Unix socket (`ipc://`, so its clients run
/// on its host) reads them, in place (`Frame.mapping`).
public struct SharedReference: Sendable, Equatable {
    public let pid: Int32
    public let fd: Int32
    public let offset: Int
    /// The inode of the PID namespace `pid` is numbered in (`SharedMemoryScope.pidNamespace`):
    /// a reader in another reads nothing (there the number names another process, or none).
    public let namespace: Int

    public init(pid: Int32, fd: Int32, offset: Int, namespace: Int) {
        self.pid = pid
        self.fd = fd
        self.offset = offset
        self.namespace = namespace
    }
}
