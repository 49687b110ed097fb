import Foundation
import ScriptCore
import ScriptFormats
import Synchronization

/// Turns the layout flags (`--shards`, `--tiles`, `--frames/--segment-frames`, `--layout`) into
/// shards; every refusal names the flag (or file) and its value.
enum ShardLayout {
    /// Which layout flags were given: at most one way, and --frames with --segment-frames.
    @discardableResult
    static func flags(shards: String?, tiles: Int?, frames: Int?, segmentFrames: Int?, layoutFile: String?) throws -> Int {
        let given = [shards != nil, tiles != nil, frames != nil || segmentFrames != nil, layoutFile != nil].filter { $0 }.count
        guard given <= 1 else {
            throw InputError("the layout", nil, "give at most one of --shards, --tiles, --frames/--segment-frames, --layout").validation
        }
        if (frames == nil) != (segmentFrames == nil) {
            throw InputError(frames == nil ? "--segment-frames" : "--frames", "\(frames ?? segmentFrames!)",
                             "--frames and --segment-frames go together").validation
        }
        return given
    }

    static func resolve(shards: String?, tiles: Int?, frames: Int?, segmentFrames: Int?, layoutFile: String?,
                        tokens n: Int) throws -> [Range<Int>]? {
        try flags(shards: shards, tiles: tiles, frames: frames, segmentFrames: segmentFrames, layoutFile: layoutFile)
        if let shards { return try checked(parse(shards), tokens: n, InputError("--shards", shards, "")) }
        if let tiles {
            guard tiles >= 1, n % tiles == 0 else {
                throw InputError("--tiles", "\(tiles)", "must divide the \(n) tokens into equal tiles")
            }
            let t = n / tiles
            return (0..<tiles).map { ($0 * t)..<(($0 + 1) * t) }
        }
        if let f = frames, let s = segmentFrames {
            guard f >= 1, n % f == 0 else { throw InputError("--frames", "\(f)", "must divide the \(n) tokens into equal frames") }
            guard s >= 1 else { throw InputError("--segment-frames", "\(s)", "must be a whole number >= 1") }
            let per = n / f
            return stride(from: 0, to: f, by: s).map { ($0 * per)..<(min(f, $0 + s) * per) }
        }
        if let layoutFile { return try checked(LayoutFile.read(layoutFile).shards, tokens: n, InputError("--layout", layoutFile, "")) }
        return nil
    }

    /// The shards when they tile `0..<n` exactly; otherwise `flag` with the reason.
    private static func checked(_ shards: [Range<Int>], tokens n: Int, _ flag: InputError) throws -> [Range<Int>] {
        do { try PruneRequest.validate(shards: shards, tokens: n) } catch let e as PruneError {
            throw InputError(flag.subject, flag.value, e.description)
        }
        return shards
    }

    /// "0:576,576:1152" -> [0..<576, 576..<1152]
    static func parse(_ text: String) throws -> [Range<Int>] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            let ends = part.split(separator: ":", omittingEmptySubsequences: false)
            guard ends.count == 2, let a = Int(ends[0].trimmingCharacters(in: .whitespaces)),
                  let b = Int(ends[1].trimmingCharacters(in: .whitespaces)) else {
                throw InputError("--shards", text, "'\(part)' is not start:end (such as 0:576,576:1152)").validation
            }
            guard a >= 0, b > a else { throw InputError("--shards", text, "'\(part)' must have 0 <= start < end").validation }
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

    static let expected = #"a layout.json is {"kind": "anyres", "tokens": N, "units": [[start, end], ...], "shards": [[start, end], ...]}"#

    /// Files read so far, by path: a command asks for its layout more than once (shards, units),
    /// and a pipe (`--layout /dev/stdin`, `<(...)`) can be read only once.
    private static let cache = Mutex<[String: LayoutFile]>([:])

    static func read(_ path: String) throws -> (file: LayoutFile, shards: [Range<Int>]) {
        if let file = cache.withLock({ $0[path] }) { return (file, file.shardRanges) }
        let file = try parse(path)
        cache.withLock { $0[path] = file }
        return (file, file.shardRanges)
    }

    private static func parse(_ path: String) throws -> LayoutFile {
        let data: Data
        do {
            // JSON declares no size: a stream is read to its end, or to 64 MiB (no layout is longer).
            data = try FileInput.read(path, maxHeader: 64 << 20) { _ in .unknown }
        } catch {
            guard case .unreadable(let reason) = error.problem else { throw error }
            throw InputError("--layout", path, "cannot be read: \(reason)")
        }
        let file: LayoutFile
        do { file = try JSONDecoder().decode(LayoutFile.self, from: data) } catch let e as DecodingError {
            throw InputError("--layout", path, "\(problem(e)); \(expected)")
        }
        for (key, list) in [("units", file.units), ("shards", file.shards)] {
            for (i, s) in list.enumerated() where s.count != 2 || s[0] < 0 || s[0] > s[1] {
                throw InputError("--layout", path, "\(key)[\(i)] is \(s), not [start, end] with 0 <= start <= end")
            }
        }
        return file
    }

    /// What a decoding error means, in words, with where in the document (`shards[2]`).
    private static func problem(_ e: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch e {
        case .dataCorrupted(let c) where c.codingPath.isEmpty: return "is not valid JSON"
        case .dataCorrupted(let c): return "\(at(c.codingPath)) holds an invalid value"
        case .keyNotFound(let key, let c): return "has no '\(at(c.codingPath + [key]))'"
        case .typeMismatch(let type, let c), .valueNotFound(let type, let c):
            let what = type == String.self ? "a string" : type == Int.self ? "a whole number" : "a list"
            return "\(c.codingPath.isEmpty ? "the document" : at(c.codingPath)) must be \(what)"
        @unknown default: return "is not a layout file"
        }
    }
}
