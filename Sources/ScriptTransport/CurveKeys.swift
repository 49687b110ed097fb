import CZeroMQ

/// CurveZMQ key pairs (Z85 text), for encrypted and authenticated links across machines.
public enum CurveKeys {
    public static func generate() throws -> (publicKey: String, secretKey: String) {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        return (cText(pub), cText(sec))
    }
}
