import CZeroMQ

/// A CurveZMQ key pair: the public key peers are told, the secret key that proves it.
public struct CurveKeyPair: Sendable, Hashable {
    public let publicKey: CurveKey
    public let secretKey: CurveKey

    /// The pair of `secretKey`, its public key derived from it.
    public init(secretKey: CurveKey) throws(CurveKeyError) {
        try CurveKeyPair.requireCurve()
        var pub = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&pub, secretKey.z85) == 0 else { throw .unsupported }
        self.secretKey = secretKey
        publicKey = try CurveKey(z85: cText(pub), source: "derived public key")
    }

    /// A new random pair.
    public static func generate() throws(CurveKeyError) -> CurveKeyPair {
        try requireCurve()
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw .unsupported }
        return try CurveKeyPair(secretKey: CurveKey(z85: cText(sec), source: "generated secret key"))
    }

    /// Whether this libzmq was built with CURVE (libsodium or tweetnacl).
    public static var isSupported: Bool { zmq_has("curve") != 0 }

    static func requireCurve() throws(CurveKeyError) {
        guard isSupported else { throw .unsupported }
    }
}
