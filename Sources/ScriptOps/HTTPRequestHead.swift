import Foundation

/// The head of an HTTP/1.x request to the operations port: its method, its path (the query
/// dropped), and whether the client keeps the connection for another request.
struct HTTPRequestHead: Equatable, Sendable {
    /// The most bytes a head may take (a probe's or a scraper's is a few hundred).
    static let limit = 8192

    let method: String
    let path: String
    let keepAlive: Bool

    /// Where the head at the start of `bytes` ends: the index just past its blank line, or nil
    /// while it is incomplete. A lone LF ends a line as CRLF does.
    static func end(in bytes: [UInt8]) -> Int? {
        var i = 0
        while let lf = bytes[i...].firstIndex(of: 10) {
            let next = lf + 1
            if next < bytes.count, bytes[next] == 10 { return next + 1 }
            if next + 1 < bytes.count, bytes[next] == 13, bytes[next + 1] == 10 { return next + 2 }
            i = next
        }
        return nil
    }

    /// Parses a complete head (`bytes` up to `end(in:)`).
    static func parse(_ bytes: ArraySlice<UInt8>) throws(HTTPHeadError) -> HTTPRequestHead {
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == 13 ? line.dropLast() : line, as: UTF8.self)
        }
        guard let first = lines.first else { throw .malformed(line: "") }
        // No control characters (a bare CR, a NUL): a tab only between a header's name and value.
        for (i, line) in lines.enumerated() where line.unicodeScalars.contains(where: { $0.value == 127 || ($0.value < 32 && (i == 0 || $0.value != 9)) }) {
            throw .malformed(line: line)
        }
        let parts = first.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].hasPrefix("/") || parts[1] == "*" else { throw .malformed(line: first) }
        guard parts[2].hasPrefix("HTTP/") else { throw .malformed(line: first) }
        guard parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0" else { throw .version(String(parts[2])) }
        var keepAlive = parts[2] == "HTTP/1.1"
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  !line[..<colon].contains(where: { $0 == " " || $0 == "\t" }) else { throw .malformed(line: line) }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "connection":
                let tokens = value.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                if tokens.contains("close") { keepAlive = false } else if tokens.contains("keep-alive") { keepAlive = true }
            case "content-length":
                guard let n = Int(value), n >= 0 else { throw .malformed(line: line) }
                if n > 0 { throw .body(header: line) }
            case "transfer-encoding":
                throw .body(header: line)
            default:
                break
            }
        }
        let target = parts[1]
        return HTTPRequestHead(method: String(parts[0]), path: String(target.prefix { $0 != "?" }), keepAlive: keepAlive)
    }
}
