#if canImport(Glibc)
import Glibc
#endif

/// How many files this process may open (`RLIMIT_NOFILE`): every connection a coordinator or
/// a worker accepts holds one, and past the limit libzmq can accept none (its listener retries
/// at once, on a whole core, while the peers wait). Raised at start from the soft limit (often
/// 1024) to the hard one, as Go's runtime does; `ulimit -n` or a container's `nofile` sets both.
public enum OpenFileLimit {
    /// The soft limit now; nil when it cannot be read or is unlimited.
    public static var current: Int? {
        var l = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &l) == 0, l.rlim_cur != rlim_t.max else { return nil }
        return Int(l.rlim_cur)
    }

    /// Raises the soft limit to the hard one; the soft limit after.
    @discardableResult
    public static func raise() -> Int? {
        var l = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &l)
        }
        return current
    }
}
