import Foundation
import ScriptCore

/// Turns the layout flags (`--shards`, `--tiles`, `--frames/--segment-frames`, `--layout`) into shards.
enum ShardLayout {
    struct LayoutError: Error, CustomStringConvertible {
        let description: String
    }

    static func resolve(shards: String?, tiles: Int?, frames: Int?, segmentFrames: Int?, layoutFile: String?,
                        tokens n: Int) throws -> [Range<Int>]? {
        let given = [shards != nil, tiles != nil, frames != nil || segmentFrames != nil, layoutFile != nil].filter { $0 }.count
        guard given <= 1 else { throw LayoutError(description: "give at most one of --shards, --tiles, --frames/--segment-frames, --layout") }
        if let shards { return try parse(shards) }
        if let tiles {
            guard tiles >= 1, n % tiles == 0 else {
                throw LayoutError(description: "--tiles \(tiles) does not divide the \(n) tokens into equal tiles")
            }
            let t = n / tiles
            return (0..<tiles).map { ($0 * t)..<(($0 + 1) * t) }
        }
        if frames != nil || segmentFrames != nil {
            guard let f = frames, let s = segmentFrames else { throw LayoutError(description: "--frames and --segment-frames go together") }
            guard f >= 1, n % f == 0 else { throw LayoutError(description: "--frames \(f) does not divide the \(n) tokens into equal frames") }
            guard s >= 1 else { throw LayoutError(description: "--segment-frames must be at least 1, got \(s)") }
            let per = n / f
            return stride(from: 0, to: f, by: s).map { ($0 * per)..<(min(f, $0 + s) * per) }
        }
        if let layoutFile { return try LayoutFile.read(layoutFile).shards }
        return nil
    }

    /// "0:576,576:1152" -> [0..<576, 576..<1152]
    static func parse(_ text: String) throws -> [Range<Int>] {
        try text.split(separator: ",").map { part in
            let ends = part.split(separator: ":", omittingEmptySubsequences: false)
            guard ends.count == 2, let a = Int(ends[0].trimmingCharacters(in: .whitespaces)),
                  let b = Int(ends[1].trimmingCharacters(in: .whitespaces)) else {
                throw LayoutError(description: "shard '\(part)' is not start:end")
            }
            guard a >= 0, b >= a else { throw LayoutError(description: "shard '\(part)' has end before start") }
            return a..<b
        }
    }
}

/// `layout.json`: how a request's tokens group into units (tiles, frames) and shards.
struct LayoutFile: Codable {
    var kind: String
    var tokens: Int
    var units: [[Int]]
    var shards: [[Int]]

    var shardRanges: [Range<Int>] { shards.map { $0[0]..<$0[1] } }

    /// Tokens per unit when every unit has the same size (and there are several).
    var unitTokens: Int? {
        let sizes = Set(units.map { $0[1] - $0[0] })
        guard units.count > 1, sizes.count == 1, let t = sizes.first, t > 0 else { return nil }
        return t
    }

    static func read(_ path: String) throws -> (file: LayoutFile, shards: [Range<Int>]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShardLayout.LayoutError(description: "\(path): cannot read layout file")
        }
        let file: LayoutFile
        do { file = try JSONDecoder().decode(LayoutFile.self, from: data) } catch {
            throw ShardLayout.LayoutError(description: "\(path): not a layout file: \(error)")
        }
        for s in file.shards + file.units where s.count != 2 || s[0] > s[1] || s[0] < 0 {
            throw ShardLayout.LayoutError(description: "\(path): range \(s) is not [start, end]")
        }
        return (file, file.shardRanges)
    }
}
