#if canImport(Glibc)
import Glibc
#endif

/// This machine's host name (in a container: the container's, unique on its network).
public enum HostName {
    public static var current: String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count) == 0 else { return "localhost" }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
