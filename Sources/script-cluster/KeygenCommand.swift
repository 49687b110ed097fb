import ArgumentParser
import Foundation
import ScriptService
import ScriptTransport

/// `keygen`: a CurveZMQ key pair in two files.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keygen",
        abstract: "Write a CurveZMQ key pair: BASE.key (the public key, for the peers that must let it in) and BASE.key_secret (both keys, mode 0600: keep it).",
        discussion: "One pair for the coordinator (--curve-secret on it, --curve-server-key on its clients and workers), one for each client and worker (or one shared by all workers); the coordinator's allow-lists take the .key files.")

    @Option(help: "Base path of the two files (BASE.key, BASE.key_secret); existing files are never overwritten.")
    var out: String

    func run() throws {
        let pair = try CurveKeyPair.generate()
        let files = try CurveKeyFile.write(pair, base: out)
        say("wrote \(files.publicFile) (public key \(pair.publicKey)) and \(files.secretFile)")
    }
}
