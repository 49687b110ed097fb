/// Text made safe for one log line: control characters escaped (`\u{a}`), so nothing a peer
/// sends (a request id, a worker's name, an endpoint it advertises) can break a line or forge
/// one.
public enum PrintableText {
    /// `text` with every control character (below U+0020, and U+007F) escaped.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool { scalar.value < 0x20 || scalar.value == 0x7F }
}
