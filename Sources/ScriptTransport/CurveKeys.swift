/// CurveZMQ key pairs (Z85 text), for encrypted and authenticated links across machines.
public enum CurveKeys {
    public static func generate() throws -> (publicKey: String, secretKey: String) {
        let pair = try CurveKeyPair.generate()
        return (pair.publicKey.z85, pair.secretKey.z85)
    }
}
