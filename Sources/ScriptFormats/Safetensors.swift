import Foundation

/// `.safetensors` files: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and data offsets, then the data. F32, F16, BF16 (and F64) are read,
/// by name; offsets are checked to lie in the file, match their shapes and tile the data.
public enum Safetensors {
    static let maxHeader = 100 << 20
    /// The element types read, as an error names them.
    static var readTypes: String { readable.map(\.key).joined(separator: ", ") }
    /// The element types read, by name.
    static let readable: KeyValuePairs<String, DType> = ["F32": .f32, "F16": .f16, "BF16": .bf16, "F64": .f64]

    /// The tensors of a file (all, or those `names` names); a pipe or another stream is read up
    /// to the size its header declares.
    public static func read(path: String, names: [String]? = nil) throws -> [String: Tensor] {
        try decode(bytes(path), name: path, names: names)
    }

    public static func tensorNames(path: String) throws -> [String] {
        try entries(bytes(path), name: path).map(\.name).sorted()
    }

    private static func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try FileInput.read(path, maxHeader: 8 + maxHeader, declaredSize: declaredSize))
    }

    /// The size of the file whose first bytes are `prefix` (see `FileInput.DeclaredSize`): the
    /// header, then data up to the furthest offset it names.
    static func declaredSize(_ prefix: [UInt8]) -> FileInput.Extent {
        guard prefix.count >= 8 else { return .unknown }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(prefix[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeader) else { return .malformed }
        let headerEnd = 8 + Int(n)
        guard prefix.count >= headerEnd else { return .unknown }
        guard let json = try? JSONSerialization.jsonObject(with: Data(prefix[8..<headerEnd])) as? [String: Any] else { return .malformed }
        let ends = json.values.compactMap { (($0 as? [String: Any])?["data_offsets"] as? [Int])?.last }
        return .declared(headerEnd + max(0, ends.max() ?? 0))
    }

    struct Entry { let name: String; let dtype: DType; let shape: [Int]; let begin: Int; let end: Int }

    static func entries(_ bytes: [UInt8], name: String) throws -> [Entry] {
        func fail(_ p: FormatError.Problem) -> FormatError { FormatError(file: name, problem: p) }
        guard bytes.count >= 8 else { throw fail(.truncated) }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeader), Int(n) <= bytes.count - 8 else { throw fail(.headerTooLarge(Int(clamping: n))) }
        let headerEnd = 8 + Int(n)
        guard let json = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) as? [String: Any] else {
            throw fail(.malformedHeader("header is not a JSON object"))
        }
        let dataLength = bytes.count - headerEnd
        var out: [Entry] = []
        for (key, value) in json where key != "__metadata__" {
            guard let d = value as? [String: Any], let dt = d["dtype"] as? String, let shape = d["shape"] as? [Int],
                  let offsets = d["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail(.malformedHeader("tensor '\(key)' lacks dtype, shape or data_offsets"))
            }
            guard let dtype = readable.first(where: { $0.key == dt })?.value else { throw fail(.unsupportedDType(dt, read: readTypes)) }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail(.malformedHeader("tensor '\(key)' has a negative dimension")) }
            var count = 1
            for s in shape {
                let (p, o) = count.multipliedReportingOverflow(by: s)
                guard !o else { throw fail(.malformedHeader("tensor '\(key)' shape overflows")) }
                count = p
            }
            let (b, e) = (offsets[0], offsets[1])
            guard b >= 0, e >= b, e <= dataLength else { throw fail(.malformedHeader("tensor '\(key)' offsets [\(b), \(e)] lie outside the \(dataLength) data bytes")) }
            guard e - b == count * dtype.size else { throw fail(.sizeMismatch(expected: count * dtype.size, actual: e - b)) }
            out.append(Entry(name: key, dtype: dtype, shape: shape, begin: headerEnd + b, end: headerEnd + e))
        }
        let sorted = out.sorted { $0.begin < $1.begin }
        var cursor = headerEnd
        for (i, t) in sorted.enumerated() {
            guard t.begin == cursor else { throw fail(.overlappingOffsets(i > 0 ? sorted[i - 1].name : "(start)", t.name)) }
            cursor = t.end
        }
        guard cursor == bytes.count else { throw fail(.overlappingOffsets(sorted.last?.name ?? "(start)", "(end)")) }
        return out
    }

    public static func decode(_ bytes: [UInt8], name: String, names: [String]?) throws -> [String: Tensor] {
        let all = try entries(bytes, name: name)
        var picked = all
        if let names {
            picked = try names.map { n in
                guard let e = all.first(where: { $0.name == n }) else {
                    throw FormatError(file: name, problem: .tensorNotFound(n, available: all.map(\.name).sorted()))
                }
                return e
            }
        }
        var out: [String: Tensor] = [:]
        bytes.withUnsafeBytes { raw in
            for e in picked {
                let count = (e.end - e.begin) / e.dtype.size
                out[e.name] = Tensor(shape: e.shape, values: ElementDecoder.decode(UnsafeRawBufferPointer(rebasing: raw[e.begin..<e.end]), dtype: e.dtype, count: count), sourceDType: e.dtype)
            }
        }
        return out
    }

    /// Writes F32 tensors (for tests and outputs).
    public static func write(_ tensors: [(name: String, values: [Float], shape: [Int])], to path: String) throws {
        var header: [String: Any] = [:]
        var data: [UInt8] = []
        for t in tensors {
            let begin = data.count
            for v in t.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [begin, data.count]] as [String: Any]
        }
        let json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        var out: [UInt8] = []
        var n = UInt64(json.count)
        for _ in 0..<8 { out.append(UInt8(n & 0xff)); n >>= 8 }
        try Npy.save(out + json + data, path)
    }
}
