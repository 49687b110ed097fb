import Foundation
import ScriptTransport

/// The key files of a local CURVE cluster (`up --curve-dir DIR`), written by keygen's code where
/// missing and reused where present: `DIR/coordinator.key[_secret]`; `DIR/clients/` and
/// `DIR/workers/`, the coordinator's allow-lists (every `.key` file in them), each holding a
/// `local` pair that `up`'s own clients and workers use. More keys are let in by adding their
/// `.key` files to those directories.
struct LocalCurveKeys {
    let directory: String

    var coordinatorSecret: String { path("coordinator.key_secret") }
    var coordinatorKey: String { path("coordinator.key") }
    var clients: String { path("clients") }
    var workers: String { path("workers") }
    var clientSecret: String { path("clients/local.key_secret") }
    var workerSecret: String { path("workers/local.key_secret") }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Writes the pairs that are missing.
    func ensure() throws -> LocalCurveKeys {
        for dir in [clients, workers] {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw CurveKeyError.unwritable(path: dir, reason: error.localizedDescription)
            }
        }
        for base in [path("coordinator"), path("clients/local"), path("workers/local")]
        where !FileManager.default.fileExists(atPath: base + ".key_secret") {
            try CurveKeyFile.write(try CurveKeyPair.generate(), base: base)
        }
        return self
    }

    var coordinatorArguments: [String] {
        ["--curve-secret", coordinatorSecret, "--curve-clients", clients, "--curve-workers", workers]
    }

    /// A worker's: its keys for the coordinator, the clients' allow-list for its data socket.
    var workerArguments: [String] {
        ["--curve-secret", workerSecret, "--curve-server-key", coordinatorKey, "--curve-clients", clients]
    }

    /// What a client of this cluster passes.
    var clientArguments: [String] { ["--curve-secret", clientSecret, "--curve-server-key", coordinatorKey] }

    func clientSettings() throws(CurveKeyError) -> CurveClientSettings {
        try CurveClientSettings.load(secretFile: clientSecret, serverKeyFile: coordinatorKey)
    }
}
