import Foundation
import ScriptCore
import ScriptFormats
import ScriptService

/// The JSON written by `prune` and `submit` (`--out kept.json`).
struct ResultDocument: Codable {
    var indices: [Int]
    var budget: Int
    var n: Int
    var method: String
    var sharded: Bool
    var shards: [[Int]]?
    /// Kept tokens as (unit, index within unit) when the layout names units.
    var units: [[Int]]?
    /// Milliseconds, rounded to the microsecond (what the clock measures to).
    var timings_ms: [String: Double]
    var workers: [String]?
    var error: String?
}

enum ResultOutput {
    /// Writes `.json` (the document) or `.npy` (int64 indices), chosen by the file's extension.
    static func write(_ doc: ResultDocument, to path: String) throws {
        if path.hasSuffix(".npy") {
            try OutputFile.write(to: path, flag: "--out") { try Npy.writeInt64(doc.indices, shape: [doc.indices.count], to: path) }
        } else {
            try OutputFile.write(try encoded(doc), to: path, flag: "--out")
        }
    }

    /// The document on standard output.
    static func printJSON(_ doc: ResultDocument) throws {
        StandardStream.output.write(try encoded(doc))
    }

    private static func encoded(_ doc: ResultDocument) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try enc.encode(doc) + Data("\n".utf8)
    }

    static func document(_ r: PruneResult, shards: [Range<Int>]?, units: [Range<Int>]?) -> ResultDocument {
        var timings: [String: Double] = [:]
        for s in r.timings.stages { timings[s.name] = s.milliseconds }
        return document(indices: r.indices, budget: r.budget, n: r.tokenCount, method: r.method.rawValue,
                        sharded: r.sharded, shards: shards, units: units, timings: timings)
    }

    static func document(indices: [Int], budget: Int, n: Int, method: String, sharded: Bool, shards: [Range<Int>]?,
                         units: [Range<Int>]?, timings: [String: Double]) -> ResultDocument {
        var unitPairs: [[Int]]? = nil
        if let units, !units.isEmpty {
            var u = 0
            unitPairs = indices.map { i in
                while u < units.count - 1 && i >= units[u].upperBound { u += 1 }
                return [u, i - units[u].lowerBound]
            }
        }
        return ResultDocument(indices: indices, budget: budget, n: n, method: method, sharded: sharded,
                              shards: shards?.map { [$0.lowerBound, $0.upperBound] }, units: unitPairs,
                              timings_ms: timings.mapValues { Units.rounded($0, to: 0.001) }, workers: nil, error: nil)
    }
}
