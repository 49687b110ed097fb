import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// CurveZMQ key files in ZeroMQ's certificate format (as czmq's zcert and pyzmq's
/// `zmq.auth.create_certificates` write them): `NAME.key` holds the public key, to hand out;
/// `NAME.key_secret` holds both keys, to keep (mode 0600).
///
/// Readers also take a plain file of keys, one a line (`#` starts a comment), and an allow-list
/// may be a directory, whose `*.key` files are read.
public enum CurveKeyFile {
    /// Writes `pair` to `base.key` and `base.key_secret`, never over an existing file. Returns
    /// both paths.
    @discardableResult
    public static func write(_ pair: CurveKeyPair, base: String) throws(CurveKeyError) -> (publicFile: String, secretFile: String) {
        let publicFile = base + ".key", secretFile = base + ".key_secret"
        for p in [publicFile, secretFile] where FileManager.default.fileExists(atPath: p) { throw .exists(path: p) }
        try create(publicFile, mode: 0o644, text: header("Public") + "metadata\ncurve\n    public-key = \"\(pair.publicKey.z85)\"\n")
        try create(secretFile, mode: 0o600, text: header("**Secret**") + "metadata\ncurve\n"
            + "    public-key = \"\(pair.publicKey.z85)\"\n    secret-key = \"\(pair.secretKey.z85)\"\n")
        return (publicFile, secretFile)
    }

    /// The key pair in a `.key_secret` file (its public key derived when the file has none, and
    /// checked against the secret key when it has one).
    public static func readKeyPair(_ path: String) throws(CurveKeyError) -> CurveKeyPair {
        let c = try contents(path)
        guard let secret = c.secretKeys.first else { throw .noSecretKey(path: path) }
        let pair = try CurveKeyPair(secretKey: secret)
        if let pub = c.publicKeys.first, pub != pair.publicKey { throw .mismatch(path: path) }
        return pair
    }

    /// The one public key in a `.key` file (or a `.key_secret` file, or a file of one key).
    public static func readPublicKey(_ path: String) throws(CurveKeyError) -> CurveKey {
        let keys = try contents(path).publicKeys
        guard let key = keys.first else { throw .noPublicKey(path: path) }
        guard keys.count == 1 else { throw .severalKeys(path: path, count: keys.count) }
        return key
    }

    /// The public keys allowed by `path`: a directory's `*.key` files, or one file's keys.
    public static func readAllowList(_ path: String) throws(CurveKeyError) -> Set<CurveKey> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadable(path: path, reason: "no such file or directory")
        }
        var keys = Set<CurveKey>()
        if isDirectory.boolValue {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
                throw .unreadable(path: path, reason: "\(error.localizedDescription)")
            }
            for name in names.sorted() where name.hasSuffix(".key") {
                keys.insert(try readPublicKey((path as NSString).appendingPathComponent(name)))
            }
        } else {
            keys.formUnion(try contents(path).publicKeys)
        }
        guard !keys.isEmpty else { throw .emptyAllowList(path: path) }
        return keys
    }

    /// The keys a file holds.
    struct Contents {
        var publicKeys: [CurveKey] = []
        var secretKeys: [CurveKey] = []
    }

    /// Parses certificate lines (`public-key = "..."`, `secret-key = "..."`, other properties and
    /// the section names `metadata` and `curve`), bare keys, comments and blank lines.
    static func contents(_ path: String) throws(CurveKeyError) -> Contents {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "not UTF-8 text, or not readable" : "no such file")
        }
        var c = Contents()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmingSpaces()
            let source = "\(path) line \(i + 1)"
            if line.isEmpty || line.hasPrefix("#") || line == "metadata" || line == "curve" { continue }
            // A bare key: 40 characters, no space (Z85 has '=' and '"' too, so test this first).
            if line.utf8.count == 40, !line.contains(" ") {
                c.publicKeys.append(try CurveKey(z85: line, source: source))
                continue
            }
            guard let (name, value) = property(line) else { throw .badLine(path: path, line: i + 1, text: line) }
            if name == "public-key" { c.publicKeys.append(try CurveKey(z85: value, source: source)) }
            if name == "secret-key" { c.secretKeys.append(try CurveKey(z85: value, source: source)) }
        }
        return c
    }

    /// `name = "value"` (the quotes optional), with a name of letters, digits, `-` and `_`.
    static func property(_ line: String) -> (name: String, value: String)? {
        guard let eq = line.firstIndex(of: "=") else { return nil }
        let name = String(line[..<eq]).trimmingSpaces()
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        var value = String(line[line.index(after: eq)...]).trimmingSpaces()
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
        return (name, value)
    }

    private static func header(_ kind: String) -> String {
        "#   ****  Generated by script-cluster keygen  ****\n#   ZeroMQ CURVE \(kind) Certificate\n"
            + (kind == "Public" ? "#   Hand this file to the peers that must let this key in.\n"
                                : "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n")
            + "\n"
    }

    /// Creates `path` with its final mode (a secret is never readable by others, even briefly),
    /// failing if it exists.
    private static func create(_ path: String, mode: mode_t, text: String) throws(CurveKeyError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else {
            let e = errno
            if e == EEXIST { throw .exists(path: path) }
            throw .unwritable(path: path, reason: String(cString: strerror(e)))
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .unwritable(path: path, reason: String(cString: strerror(errno))) }
            done += n
        }
    }
}
