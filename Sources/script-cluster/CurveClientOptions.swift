import ArgumentParser
import ScriptTransport

/// `--curve-secret` and `--curve-server-key`: CurveZMQ for a process that connects to
/// coordinators (a client, a worker).
struct CurveClientOptions: ParsableArguments {
    @Option(name: .customLong("curve-secret"),
            help: "CurveZMQ: this process's key pair (a .key_secret file written by keygen); with --curve-server-key.")
    var secret: String?

    @Option(name: .customLong("curve-server-key"),
            help: "CurveZMQ: the coordinator's public key (the .key file keygen wrote for it); with --curve-secret.")
    var serverKey: String?

    func validate() throws {
        guard (secret == nil) == (serverKey == nil) else {
            throw InputError(secret == nil ? "--curve-server-key" : "--curve-secret", nil,
                             "needs \(secret == nil ? "--curve-secret" : "--curve-server-key") too (CURVE takes both, or neither)").validation
        }
    }

    /// The settings read from the files (nil without the flags); a file that cannot be read or
    /// holds no usable key is an error naming it.
    func settings() throws(CurveKeyError) -> CurveClientSettings? {
        guard let secret, let serverKey else { return nil }
        return try CurveClientSettings.load(secretFile: secret, serverKeyFile: serverKey)
    }

    /// The same flags for a child process.
    var arguments: [String] {
        guard let secret, let serverKey else { return [] }
        return ["--curve-secret", secret, "--curve-server-key", serverKey]
    }
}
