import CPlatform
#if canImport(Glibc)
import Glibc
#endif

/// Frames in shared memory: a client's (`shared`, a sealed memfd that workers on its host read
/// in place) and a worker's view of one (`mapping`).
extension Frame {
    /// A copy of `bytes` in shared memory (a sealed memfd): a worker on this host behind a Unix
    /// socket reads it in place (`sharedReference`), others are sent its bytes as any frame's.
    public static func shared(copying bytes: UnsafeRawBufferPointer) throws -> Frame {
        guard bytes.count > 0 else { return Frame(owner: nil, offset: 0, count: 0) }
        return Frame(owner: FrameStorage(region: try SharedRegion(copying: bytes)), offset: 0, count: bytes.count)
    }

    /// Where this frame's bytes lie in this process's shared memory (nil unless made by `shared`,
    /// or a slice of such a frame).
    public var sharedReference: SharedReference? {
        guard let fd = owner?.sharedDescriptor, count > 0, let scope = SharedMemoryScope.current else { return nil }
        return SharedReference(pid: getpid(), fd: fd, offset: offset, namespace: scope.pidNamespace)
    }

    /// Whether this frame's bytes are another process's shared memory mapped here (`mapping`).
    public var isMapping: Bool { owner?.isMapping ?? false }

    /// The `count` bytes `reference` names in another process's shared memory, mapped read-only
    /// in place (no copy). Only a sealed memfd (it cannot shrink under the mapping) that holds
    /// them all is read; the kernel decides whether this process may open the other's descriptor.
    public static func mapping(_ reference: SharedReference, count: Int) throws -> Frame {
        guard count > 0 else { return Frame(owner: nil, offset: 0, count: 0) }
        let r = reference
        let (fd, size) = try openSealed(r)
        defer { close(fd) }
        let (end, overflow) = r.offset.addingReportingOverflow(count)
        guard !overflow, end <= size else {
            throw SharedMemoryError("read", r, reason: "\(count) bytes from there run past its end (\(size) bytes)")
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = r.offset / page * page
        guard let m = mmap(nil, end - start, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, off_t(start)), m != MAP_FAILED else {
            throw SharedMemoryError.call("map", r)
        }
        return Frame(owner: FrameStorage(mapped: m, length: end - start, at: r.offset - start), offset: 0, count: count)
    }

    /// Opens the file `r` names, where it is a regular file sealed against shrinking: its
    /// descriptor (the caller closes it) and size.
    private static func openSealed(_ r: SharedReference) throws -> (fd: Int32, size: Int) {
        guard r.pid > 0, r.fd >= 0, r.offset >= 0 else {
            throw SharedMemoryError("open", r, reason: "no process, descriptor or offset is negative")
        }
        let here = SharedMemoryScope.current?.pidNamespace
        guard r.namespace == here else {
            throw SharedMemoryError("open", r, reason: "it is numbered in PID namespace \(r.namespace), this worker runs in \(here.map(String.init) ?? "none it can read"): there the number names another process, or none")
        }
        let fd = script_shared_open(r.pid, r.fd)
        guard fd != -2 else { throw SharedMemoryError("read", r, reason: "it is not a file of memory") }
        guard fd >= 0 else { throw SharedMemoryError.call("open", r) }
        var st = stat()
        let seals = script_shared_seals(fd)
        guard fstat(fd, &st) == 0, seals >= 0, seals & script_shared_shrink_seal() != 0 else {
            close(fd)
            throw SharedMemoryError("read", r, reason: "it is not sealed against shrinking (a memfd made with MFD_ALLOW_SEALING, sealed with F_SEAL_SHRINK)")
        }
        // Only this worker's own user's memory: one running as root would otherwise read any
        // user's for whoever names it, and answer with its rows.
        guard st.st_uid == geteuid() else {
            close(fd)
            throw SharedMemoryError("read", r, reason: "it belongs to user \(st.st_uid), this worker runs as user \(geteuid()): it reads its own user's memory only")
        }
        return (fd, Int(st.st_size))
    }
}
