import CPlatform
#if canImport(Glibc)
import Glibc
#endif

/// Bytes of this process in a sealed memfd, which workers on this host map and read in place
/// (`SharedReference`): written once while the region is made, then sealed against writing,
/// shrinking and growing, so that a reader can neither be cut short (a mapping past a file's
/// end is a SIGBUS) nor see them change. The descriptor stays open while the region lives; a
/// worker's mapping outlives it safely.
final class SharedRegion: Sendable {
    let fd: Int32
    /// The read-only mapping's address, kept as an integer (`Sendable` by type).
    private let address: UInt
    let count: Int

    /// A region of `count` (> 0) bytes, written by `initialize` before it is sealed.
    init(count: Int, initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        precondition(count > 0, "an empty shared region")
        let fd = script_shared_create("script-cluster-tensor", UInt(count))
        guard fd >= 0 else { throw SharedMemoryError.call("create", nil) }
        do {
            guard let w = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), w != MAP_FAILED else {
                throw SharedMemoryError.call("map", nil)
            }
            defer { munmap(w, count) }
            try initialize(UnsafeMutableRawBufferPointer(start: w, count: count))
        } catch {
            close(fd)
            throw error
        }
        // Sealed against writing only once no writable mapping is left.
        guard script_shared_seal(fd) == 0 else {
            let e = SharedMemoryError.call("seal", nil)
            close(fd)
            throw e
        }
        guard let r = mmap(nil, count, PROT_READ, MAP_SHARED, fd, 0), r != MAP_FAILED else {
            let e = SharedMemoryError.call("map", nil)
            close(fd)
            throw e
        }
        self.fd = fd
        self.address = UInt(bitPattern: r)
        self.count = count
    }

    var base: UnsafeRawPointer { UnsafeRawPointer(bitPattern: address)! }

    deinit {
        munmap(UnsafeMutableRawPointer(bitPattern: address), count)
        close(fd)
    }
}
