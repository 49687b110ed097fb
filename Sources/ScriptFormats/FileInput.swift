import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads an input file whole: a regular file mapped (no copy); anything else (a pipe such as
/// `/dev/stdin` or bash's `<(...)`, a FIFO, a device) read as a stream, no further than the
/// size its header declares, so an endless one (`/dev/zero`) stops at its header. A failure
/// carries the system's reason (`No such file or directory`, `Is a directory`).
public enum FileInput {
    /// How many bytes a format's file holds, as its first bytes say.
    public enum Extent: Equatable {
        /// More bytes are needed to tell.
        case unknown
        case declared(Int)
        /// A header that cannot be right: read no further (the decoder says what is wrong).
        case malformed
    }

    /// The extent of the file whose first bytes are given.
    public typealias DeclaredSize = ([UInt8]) -> Extent

    /// The bytes of `path`; `declaredSize` bounds a stream, `maxHeader` the bytes it may need.
    public static func read(_ path: String, maxHeader: Int, declaredSize: DeclaredSize) throws(FormatError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(path, errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw failure(path, errno) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            throw failure(path, EISDIR)
        case S_IFREG:
            do { return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch { throw failure(path, EIO) }
        default:
            return Data(try stream(fd, path, maxHeader: maxHeader, declaredSize: declaredSize))
        }
    }

    /// Reads `fd` until its declared size (and one byte past it, so a longer stream shows as
    /// one), or its end.
    private static func stream(_ fd: Int32, _ path: String, maxHeader: Int, declaredSize: DeclaredSize) throws(FormatError) -> [UInt8] {
        var bytes: [UInt8] = []
        var total: Int?
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            if total == nil {
                switch declaredSize(bytes) {
                case .declared(let n):
                    total = n
                    bytes.reserveCapacity(n + 1)
                case .malformed: return bytes
                case .unknown: if bytes.count >= maxHeader { return bytes }
                }
            }
            let want = total.map { $0 + 1 - bytes.count } ?? chunk.count
            if let total, want <= 0 { throw FormatError(file: path, problem: .longerThanDeclared(total)) }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min(want, $0.count)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw failure(path, errno) }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }

    private static func failure(_ path: String, _ code: Int32) -> FormatError {
        FormatError(file: path, problem: .unreadable(String(cString: strerror(code))))
    }
}
