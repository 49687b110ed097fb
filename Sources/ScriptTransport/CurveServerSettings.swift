/// What a binding socket needs to speak CurveZMQ as a server: its key pair, and the ZAP domain
/// under which the authenticator (`ZAPHandler`) looks up the keys it lets in.
public struct CurveServerSettings: Sendable, Hashable {
    public var keyPair: CurveKeyPair
    public var domain: String

    public init(keyPair: CurveKeyPair, domain: String) {
        self.keyPair = keyPair
        self.domain = domain
    }
}

/// What a connecting socket needs to speak CurveZMQ as a client: its own key pair (whose public
/// key the server must allow) and the server's public key.
public struct CurveClientSettings: Sendable, Hashable {
    public var keyPair: CurveKeyPair
    public var serverKey: CurveKey

    public init(keyPair: CurveKeyPair, serverKey: CurveKey) {
        self.keyPair = keyPair
        self.serverKey = serverKey
    }

    /// From key files: this peer's `.key_secret` file and the server's `.key` file.
    public static func load(secretFile: String, serverKeyFile: String) throws(CurveKeyError) -> CurveClientSettings {
        CurveClientSettings(keyPair: try CurveKeyFile.readKeyPair(secretFile), serverKey: try CurveKeyFile.readPublicKey(serverKeyFile))
    }
}

extension ZMQSocket {
    /// Makes this socket a CurveZMQ server (before `bind`): every connection is encrypted, and
    /// the ZAP handler of its context decides, under `settings.domain`, which client keys get in.
    public func apply(_ settings: CurveServerSettings) throws {
        try setZAPDomain(settings.domain)
        try setCurveServer(secretKey: settings.keyPair.secretKey.z85)
    }

    /// Makes this socket a CurveZMQ client (before `connect`).
    public func apply(_ settings: CurveClientSettings) throws {
        try setCurveClient(publicKey: settings.keyPair.publicKey.z85, secretKey: settings.keyPair.secretKey.z85,
                           serverKey: settings.serverKey.z85)
    }
}
