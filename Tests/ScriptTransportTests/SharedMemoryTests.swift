import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import ScriptTransport

/// A client's tensors in shared memory (a sealed memfd) and a worker's mapping of them: read in
/// place, and refused, saying why, where they could change size under the reader or are not there.
final class SharedMemoryTests: XCTestCase {
    private let bytes = (0..<10_000).map { UInt8($0 % 251) }

    /// A frame made in shared memory is read back through its reference, in place; a slice at
    /// its own offset (not a page boundary); a mapping outlives the frame it was made from.
    func testASharedFrameIsReadInPlaceThroughItsReference() throws {
        let frame = try bytes.withUnsafeBytes { try Frame.shared(copying: $0) }
        XCTAssertEqual(frame.bytes, bytes)
        let reference = try XCTUnwrap(frame.sharedReference)
        XCTAssertEqual(reference.pid, getpid())
        XCTAssertEqual(try Frame.mapping(reference, count: bytes.count).bytes, bytes)
        let slice = frame.slice(4097..<9000)
        let at = try XCTUnwrap(slice.sharedReference)
        XCTAssertEqual(at.offset, 4097)
        XCTAssertEqual(try Frame.mapping(at, count: slice.count).bytes, Array(bytes[4097..<9000]))
        XCTAssertNil(Frame(bytes).sharedReference, "a frame in this process's own memory")
        var mapped: Frame?
        do {
            let gone = try Array(bytes.prefix(64)).withUnsafeBytes { try Frame.shared(copying: $0) }
            mapped = try Frame.mapping(XCTUnwrap(gone.sharedReference), count: 64)
        }
        XCTAssertEqual(mapped?.bytes, Array(bytes.prefix(64)), "the region's descriptor closed, its mapping still reads")
    }

    /// What a worker must not map is refused with what it tried and why: a plain file (it takes
    /// no seals, so it could shrink under the mapping: a SIGBUS), a pipe, a range past the end, a
    /// descriptor that is not there, negative values, a process of another PID namespace.
    func testMemoryThatCouldChangeSizeOrIsNotThereIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("shared-\(getpid())").path
        let file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(file); unlink(path) }
        XCTAssertEqual(write(file, bytes, bytes.count), bytes.count)
        var pipeEnds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&pipeEnds), 0)
        defer { close(pipeEnds[0]); close(pipeEnds[1]) }
        let sealed = try Array(bytes.prefix(100)).withUnsafeBytes { try Frame.shared(copying: $0) }
        let fd = try XCTUnwrap(sealed.sharedReference).fd
        let me = getpid(), ns = try XCTUnwrap(SharedMemoryScope.current).pidNamespace
        let cases: [(SharedReference, Int, String)] = [
            (SharedReference(pid: me, fd: file, offset: 0, namespace: ns), 100, "cannot read the shared memory of process \(me), descriptor \(file), at byte 0: it is not sealed against shrinking"),
            (SharedReference(pid: me, fd: pipeEnds[0], offset: 0, namespace: ns), 1, "it is not a file of memory"),
            (SharedReference(pid: me, fd: fd, offset: 50, namespace: ns), 51, "at byte 50: 51 bytes from there run past its end (100 bytes)"),
            (SharedReference(pid: me, fd: 1_000_000, offset: 0, namespace: ns), 1, "cannot open the shared memory of process \(me), descriptor 1000000, at byte 0: No such file or directory"),
            (SharedReference(pid: -1, fd: fd, offset: 0, namespace: ns), 1, "no process, descriptor or offset is negative"),
            (SharedReference(pid: me, fd: fd, offset: -1, namespace: ns), 1, "no process, descriptor or offset is negative"),
            // Numbered in another PID namespace, where `me` names another process or none.
            (SharedReference(pid: me, fd: fd, offset: 0, namespace: ns + 1), 1, "it is numbered in PID namespace \(ns + 1), this worker runs in \(ns)"),
        ]
        for (reference, count, why) in cases {
            XCTAssertThrowsError(try Frame.mapping(reference, count: count)) { error in
                XCTAssertTrue("\(error)".contains(why), "\(error)")
            }
        }
        XCTAssertEqual(try Frame.mapping(SharedReference(pid: me, fd: fd, offset: 50, namespace: ns), count: 50).bytes, Array(bytes[50..<100]))
    }

    /// A sealed memfd of another user is refused: a worker running as root would otherwise read
    /// any user's memory for whoever names it (as root, the test gives one away with `fchown`).
    func testAnotherUsersMemoryIsRefused() throws {
        guard geteuid() == 0 else { throw XCTSkip("giving a memfd to another user needs root") }
        let theirs = try Array(bytes.prefix(64)).withUnsafeBytes { try Frame.shared(copying: $0) }
        let r = try XCTUnwrap(theirs.sharedReference)
        XCTAssertEqual(try Frame.mapping(r, count: 64).bytes, Array(bytes.prefix(64)), "its own user's")
        XCTAssertEqual(fchown(r.fd, 65534, 65534), 0)
        XCTAssertThrowsError(try Frame.mapping(r, count: 64)) { error in
            XCTAssertTrue("\(error)".contains("it belongs to user 65534, this worker runs as user 0: it reads its own user's memory only"), "\(error)")
        }
    }
}
