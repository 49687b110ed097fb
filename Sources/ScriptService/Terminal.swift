import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a file descriptor is connected to: whether a person may be watching it, and how wide
/// their screen is.
public enum Terminal {
    /// Whether `fd` is a terminal that understands carriage returns and erase-line (not a pipe,
    /// a file, or a `TERM=dumb` console).
    public static func isTerminal(_ fd: Int32) -> Bool {
        guard isatty(fd) == 1 else { return false }
        return ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// The terminal's width in columns (80 when it does not say).
    public static func columns(_ fd: Int32) -> Int {
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return Int(ProcessInfo.processInfo.environment["COLUMNS"] ?? "") ?? 80
    }
}
