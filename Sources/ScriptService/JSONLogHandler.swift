import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler writing one JSON object a line: `ts` (UTC, milliseconds), `level`,
/// `logger`, `msg`, `error` when one was logged, then the metadata fields sorted by key.
/// Numbers and booleans logged as metadata stay JSON numbers and booleans.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// Writes to standard error, a whole line at a time.
    public init(label: String) {
        self.init(label: label, write: JSONLogHandler.standardError)
    }

    /// Hands each line (with its newline) to `write`.
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let own = event.metadata { fields.merge(own) { _, new in new } }
        var line = "{\"ts\":" + JSONText.string(JSONLogHandler.timestamp())
        line += ",\"level\":" + JSONText.string(event.level.rawValue)
        line += ",\"logger\":" + JSONText.string(label)
        line += ",\"msg\":" + JSONText.string(event.message.description)
        if let error = event.error { line += ",\"error\":" + JSONText.string(String(describing: error)) }
        for key in fields.keys.sorted() {
            let name = Self.reserved.contains(key) ? "meta." + key : key
            line += "," + JSONText.string(name) + ":" + JSONText.value(fields[key]!)
        }
        write(line + "}\n")
    }

    private static let reserved: Set<String> = ["ts", "level", "logger", "msg", "error"]

    /// `2026-11-20T12:34:56.789Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var t = tm()
        gmtime_r(&seconds, &t)
        let pad = { (v: Int32, n: Int) -> String in
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(t.tm_year + 1900, 4))-\(pad(t.tm_mon + 1, 2))-\(pad(t.tm_mday, 2))T"
            + "\(pad(t.tm_hour, 2)):\(pad(t.tm_min, 2)):\(pad(t.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }

    /// Whole lines to standard error, never interleaved with another thread's.
    static let standardError: @Sendable (String) -> Void = { StandardStream.error.write($0) }
}

/// JSON text for strings and log metadata values.
enum JSONText {
    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A metadata value: numbers and booleans as such, dictionaries as objects, arrays as arrays.
    static func value(_ v: Logger.Metadata.Value) -> String {
        switch v {
        case .string(let s):
            return string(s)
        case .stringConvertible(let c):
            return scalar(c)
        case .dictionary(let d):
            return "{" + d.keys.sorted().map { string($0) + ":" + value(d[$0]!) }.joined(separator: ",") + "}"
        case .array(let a):
            return "[" + a.map(value).joined(separator: ",") + "]"
        }
    }

    private static func scalar(_ c: any CustomStringConvertible & Sendable) -> String {
        switch c {
        case let b as Bool: return b ? "true" : "false"
        case let i as any BinaryInteger: return "\(i)"
        case let d as Double: return d.isFinite ? "\(d)" : string("\(d)")
        case let f as Float: return f.isFinite ? "\(f)" : string("\(f)")
        default: return string(c.description)
        }
    }
}
