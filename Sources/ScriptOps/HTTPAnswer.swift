import Foundation

/// An answer of the operations port: status, content type and body, and the bytes on the wire.
struct HTTPAnswer: Equatable, Sendable {
    let status: Int
    let contentType: String
    let body: [UInt8]
    /// Header lines beyond the standard ones (`Allow: GET, HEAD`).
    var extra: [String] = []

    /// A plain-text answer.
    static func text(_ status: Int, _ text: String) -> HTTPAnswer {
        HTTPAnswer(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }

    /// The answer as sent: no body for a HEAD, `Connection: close` where the connection ends.
    func encoded(head: Bool, closing: Bool) -> Data {
        var lines = ["HTTP/1.1 \(status) \(Self.reason(status))", "Content-Type: \(contentType)", "Content-Length: \(body.count)"]
        lines += extra
        if closing { lines.append("Connection: close") }
        var data = Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
        if !head { data.append(contentsOf: body) }
        return data
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 413: return "Content Too Large"
        case 431: return "Request Header Fields Too Large"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}
