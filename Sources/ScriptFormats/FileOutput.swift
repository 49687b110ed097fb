import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes an output file in place, as Unix tools do: through a symbolic link, into a device
/// (`/dev/null`, `/dev/stdout`), keeping an existing file's owner and mode, where Foundation's
/// `createFile` renames a temporary file over the path (replacing the link or the device node
/// itself). A failure carries the system's reason, and a regular file it left half written is
/// removed.
public enum FileOutput {
    /// Writes `bytes` to `path`, creating it (mode 0644 before the umask) or truncating it.
    public static func write(_ bytes: [UInt8], to path: String) throws(FormatError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, errno) }
        if let code = writeAll(bytes, to: fd) {
            close(fd)
            removeIfRegular(path)
            throw failure(path, code)
        }
        // A network file system reports a failed write at close.
        guard close(fd) == 0 else {
            let code = errno
            removeIfRegular(path)
            throw failure(path, code)
        }
    }

    /// Writes every byte to `descriptor`, through interrupted and partial writes, waiting on one
    /// another process made non-blocking; the `errno` of a write that failed, or nil.
    public static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Int32? {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                var fd = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&fd, 1, -1)
                continue
            }
            if n < 0 { return errno }
            if n == 0 { return EIO }
            done += n
        }
        return nil
    }

    /// Writes `data` to `path` (see `write(_:to:)`).
    public static func write(_ data: Data, to path: String) throws(FormatError) {
        try write([UInt8](data), to: path)
    }

    private static func failure(_ path: String, _ code: Int32) -> FormatError {
        FormatError(file: path, problem: .unwritable(String(cString: strerror(code))))
    }

    private static func removeIfRegular(_ path: String) {
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG { unlink(path) }
    }
}
