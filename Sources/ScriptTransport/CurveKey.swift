import CZeroMQ

/// A CurveZMQ key (public or secret): 32 bytes, written as 40 characters of Z85 text.
public struct CurveKey: Sendable, Hashable, CustomStringConvertible {
    /// The Z85 text.
    public let z85: String

    /// The key written as `text` (surrounding whitespace ignored); anything but 40 characters of
    /// Z85 is an error naming `source` (a file and line, or a flag).
    public init(z85 text: String, source: String) throws(CurveKeyError) {
        let t = text.trimmingSpaces()
        guard t.utf8.count == 40, t.utf8.allSatisfy({ Self.alphabet.contains($0) }) else {
            throw .badKey(t, source: source)
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&bytes, t) != nil else { throw .badKey(t, source: source) }
        z85 = t
    }

    /// The key of these 32 bytes (a ZAP request's credentials).
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&text, bytes, 32) != nil else { return nil }
        z85 = cText(text)
    }

    /// Public keys are safe to print; secret ones are never printed by this project.
    public var description: String { z85 }

    private static let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
