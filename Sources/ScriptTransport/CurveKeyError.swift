/// A CurveZMQ key or key file that cannot be used, with the offending path or value.
public enum CurveKeyError: Error, Equatable, CustomStringConvertible, Sendable {
    /// This libzmq was built without CURVE.
    case unsupported
    /// Not 40 characters of Z85 (`source`: where it was read).
    case badKey(String, source: String)
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)
    /// A key file would be overwritten.
    case exists(path: String)
    /// A file given for a key pair holds no secret key.
    case noSecretKey(path: String)
    /// A file given for a public key holds none.
    case noPublicKey(path: String)
    /// A file given for one public key holds several.
    case severalKeys(path: String, count: Int)
    /// A file's public key is not that of its secret key.
    case mismatch(path: String)
    /// An allow-list with no key in it.
    case emptyAllowList(path: String)
    /// A line that is neither a key, a `name = "value"` property, a section name nor a comment.
    case badLine(path: String, line: Int, text: String)

    public var description: String {
        switch self {
        case .unsupported:
            return "this libzmq was built without CURVE (install a libzmq built with libsodium)"
        case .badKey(let text, let source):
            return "\(source): '\(text.prefix(48))' is not a CURVE key (40 characters of Z85)"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .unwritable(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .exists(let path):
            return "\(path) exists; remove it or choose another name (keys are never overwritten)"
        case .noSecretKey(let path):
            return "\(path) holds no secret-key: give the .key_secret file that keygen wrote"
        case .noPublicKey(let path):
            return "\(path) holds no public key"
        case .severalKeys(let path, let count):
            return "\(path) holds \(count) public keys where one was expected"
        case .mismatch(let path):
            return "\(path): its public-key is not the public key of its secret-key"
        case .emptyAllowList(let path):
            return "\(path) allows no key: an allow-list needs at least one public key (.key file or a key a line)"
        case .badLine(let path, let line, let text):
            return "\(path) line \(line): '\(text.prefix(60))' is not a key, a property or a comment"
        }
    }
}
