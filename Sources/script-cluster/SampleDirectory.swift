import Foundation
import ScriptCore

/// A request directory as `sample` writes it: `features.npy`, and when present `embeddings.npy`,
/// `query.npy`, `layout.json` and the ground truth `target_mask.npy`.
struct SampleDirectory {
    let path: String
    /// The flag that named the directory (`--sample`, `--submit`), which its errors name.
    let flag: String

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    func has(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }

    /// The request (sharded by its layout, when it has one).
    func request() throws -> PruneRequest {
        do { return try read() } catch let e as InputError {
            throw InputError(flag, path, e.value.map { "\($0): \(e.problem)" } ?? e.problem)
        }
    }

    private func read() throws -> PruneRequest {
        let x = try TensorFiles.loadMatrix(file("features.npy"), name: nil, role: "features")
        let e = has("embeddings.npy") ? try TensorFiles.loadMatrix(file("embeddings.npy"), name: nil, role: "embeddings") : nil
        let q = has("query.npy") ? try TensorFiles.loadMatrix(file("query.npy"), name: nil, role: "query") : nil
        let layout = has("layout.json") ? try LayoutFile.read(file("layout.json")).shards : nil
        return PruneRequest(features: x, embeddings: e, query: q, shards: layout)
    }

    /// Tokens showing the asked-about object, when the directory has the ground truth.
    func target() throws -> [Int]? {
        guard has("target_mask.npy") else { return nil }
        let mask = try TensorFiles.loadMatrix(file("target_mask.npy"), name: nil, role: "query").values
        return mask.enumerated().filter { $0.element > 0 }.map(\.offset)
    }
}
