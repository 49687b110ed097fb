import Foundation

/// The process's peak resident memory.
public enum PeakMemory {
    /// Megabytes, from `getrusage`.
    public static func megabytes() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_maxrss / 1024
    }
}
