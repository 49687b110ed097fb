/// A request head the operations port does not serve: answered with `status` and the
/// description (the offending text quoted and escaped, as the log line has it), then the
/// connection is closed.
enum HTTPHeadError: Error, Equatable, CustomStringConvertible {
    /// The head ran past `limit` bytes without its closing blank line.
    case tooLarge(limit: Int)
    /// `line` is not an HTTP/1.x request line or header line.
    case malformed(line: String)
    /// The request carries a body (`header` says so); the port serves GET and HEAD only.
    case body(header: String)
    /// A version other than HTTP/1.0 or HTTP/1.1.
    case version(String)

    /// The status code of the answer.
    var status: Int {
        switch self {
        case .tooLarge: return 431
        case .malformed: return 400
        case .body: return 413
        case .version: return 505
        }
    }

    var description: String {
        switch self {
        case .tooLarge(let limit): return "a request head is at most \(limit) bytes"
        case .malformed(let line): return "not an HTTP/1.1 request: \(String(line.prefix(80)).debugDescription)"
        case .body(let header): return "this port takes no request bodies (\(String(header.prefix(80)).debugDescription))"
        case .version(let v): return "HTTP/1.0 or HTTP/1.1 only, not \(String(v.prefix(40)).debugDescription)"
        }
    }
}
