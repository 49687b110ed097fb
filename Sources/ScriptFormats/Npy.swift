import Foundation

/// NumPy `.npy` files: read f32, f16 (and f64, i64, i32, converted), little-endian, C order,
/// format versions 1 to 3; write f32, f16 and int64. Every header field and the data length are
/// checked before any element is read.
public enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    static let maxHeader = 1 << 20

    /// The file mapped, its values decoded straight from the mapping (one copy, into the tensor);
    /// a pipe or another stream read up to the size its header declares.
    public static func read(path: String) throws -> Tensor {
        let data = try FileInput.read(path, maxHeader: 12 + maxHeader, declaredSize: declaredSize)
        return try data.withUnsafeBytes { try decode($0, name: path) }
    }

    /// The size of the file whose first bytes are `prefix` (see `FileInput.DeclaredSize`).
    static func declaredSize(_ prefix: [UInt8]) -> FileInput.Extent {
        do {
            return try prefix.withUnsafeBytes { try layout($0, name: "") }.map { .declared($0.end) } ?? .unknown
        } catch {
            return .malformed
        }
    }

    public static func decode(_ bytes: [UInt8], name: String) throws -> Tensor {
        try bytes.withUnsafeBytes { try decode($0, name: name) }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, name: String) throws -> Tensor {
        guard let l = try layout(bytes, name: name) else {
            // Ends before its header does: the errors a short file has always had.
            let short = bytes.count < 10 || (Int(bytes[6]) != 1 && bytes.count < 12)
            let problem: FormatError.Problem = short ? (bytes.starts(with: magic) ? .truncated : .badMagic) : .headerTooLarge(headerLength(bytes) ?? 0)
            throw FormatError(file: name, problem: problem)
        }
        guard bytes.count == l.end else {
            throw FormatError(file: name, problem: .sizeMismatch(expected: l.end - l.dataStart, actual: bytes.count - l.dataStart))
        }
        let values = ElementDecoder.decode(UnsafeRawBufferPointer(rebasing: bytes[l.dataStart...]), dtype: l.dtype, count: l.count)
        return Tensor(shape: l.shape, values: values, sourceDType: l.dtype)
    }

    /// What a file's header says: its element type, shape and count, and where its data starts
    /// and ends.
    struct Layout {
        let dtype: DType
        let shape: [Int]
        let count: Int
        let dataStart: Int
        var end: Int { dataStart + count * dtype.size }
    }

    /// The header's length field, when `bytes` reach it.
    private static func headerLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        switch Int(bytes.count > 6 ? bytes[6] : 0) {
        case 1 where bytes.count >= 10: return Int(bytes[8]) | Int(bytes[9]) << 8
        case 2 where bytes.count >= 12, 3 where bytes.count >= 12: return Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        default: return nil
        }
    }

    /// The layout `bytes` declare; nil when they end before the header does (the first bytes of
    /// a stream); throws for a header that cannot be right.
    static func layout(_ bytes: UnsafeRawBufferPointer, name: String) throws -> Layout? {
        func fail(_ p: FormatError.Problem) -> FormatError { FormatError(file: name, problem: p) }
        let known = min(bytes.count, 6)
        guard Array(bytes[0..<known]) == Array(magic[0..<known]) else { throw fail(.badMagic) }
        guard bytes.count >= 8 else { return nil }
        let major = Int(bytes[6]), minor = Int(bytes[7])
        guard (1...3).contains(major), minor == 0 else { throw fail(.unsupportedVersion(major: major, minor: minor)) }
        guard let headerLength = headerLength(bytes) else { return nil }
        let headerStart = major == 1 ? 10 : 12
        guard headerLength <= maxHeader else { throw fail(.headerTooLarge(headerLength)) }
        guard headerStart + headerLength <= bytes.count else { return nil }
        guard let text = String(validating: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self) else {
            throw fail(.malformedHeader("not text"))
        }
        let header: [String: HeaderParser.Value]
        switch HeaderParser.parse(text) {
        case .success(let h): header = h
        case .failure(let p): throw fail(.malformedHeader(p.text))
        }
        guard Set(header.keys) == ["descr", "fortran_order", "shape"] else {
            throw fail(.malformedHeader("keys must be exactly descr, fortran_order, shape; got \(header.keys.sorted())"))
        }
        guard case .string(let descr)? = header["descr"] else { throw fail(.malformedHeader("descr is not a string")) }
        guard case .bool(let fortran)? = header["fortran_order"] else { throw fail(.malformedHeader("fortran_order is not True or False")) }
        guard case .tuple(let shape)? = header["shape"] else { throw fail(.malformedHeader("shape is not a tuple of integers")) }
        if fortran && shape.filter({ $0 > 1 }).count > 1 { throw fail(.fortranOrder) }
        let dtype = try dtypeOf(descr, fail)
        var count = 1
        for s in shape {
            let (p, o) = count.multipliedReportingOverflow(by: s)
            guard !o else { throw fail(.malformedHeader("shape \(shape) overflows")) }
            count = p
        }
        let (bytesNeeded, o) = count.multipliedReportingOverflow(by: dtype.size)
        guard !o, !(headerStart + headerLength).addingReportingOverflow(bytesNeeded).overflow else {
            throw fail(.malformedHeader("shape \(shape) overflows"))
        }
        return Layout(dtype: dtype, shape: shape, count: count, dataStart: headerStart + headerLength)
    }

    /// The element types read, by their code after the byte order.
    static let readable: KeyValuePairs<String, DType> = ["f4": .f32, "f2": .f16, "f8": .f64, "i4": .i32, "i8": .i64]
    /// The element types read, as an error names them.
    static var readTypes: String { readable.map { "<" + $0.key }.joined(separator: ", ") }

    static func dtypeOf(_ descr: String, _ fail: (FormatError.Problem) -> FormatError) throws -> DType {
        let order = descr.first, code = String(descr.dropFirst())
        if order == ">" && !code.isEmpty { throw fail(.bigEndian(descr)) }
        guard !code.isEmpty, order == "<" || order == "=" || (order == "|" && code.hasSuffix("1")),
              let dtype = readable.first(where: { $0.key == code })?.value else { throw fail(.unsupportedDType(descr, read: readTypes)) }
        return dtype
    }

    /// The bytes of a version 1.0 file.
    static func file(descr: String, shape: [Int], data: [UInt8]) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        let h = Array(header.utf8)
        return magic + [1, 0, UInt8(h.count & 0xff), UInt8(h.count >> 8)] + h + data
    }

    public static func encode(_ values: [Float], shape: [Int]) -> [UInt8] {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        var data = [UInt8](repeating: 0, count: 4 * values.count)
        data.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        }
        return file(descr: "<f4", shape: shape, data: data)
    }

    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        try save(encode(values, shape: shape), path)
    }

    public static func writeFloat16(_ values: [Float], shape: [Int], to path: String) throws {
        precondition(shape.reduce(1, *) == values.count)
        var data = [UInt8](repeating: 0, count: 2 * values.count)
        data.withUnsafeMutableBytes { raw in values.withUnsafeBufferPointer { HalfPrecision.encode($0, into: raw) } }
        try save(file(descr: "<f2", shape: shape, data: data), path)
    }

    public static func writeInt64(_ values: [Int], shape: [Int], to path: String) throws {
        precondition(shape.reduce(1, *) == values.count)
        var data = [UInt8](repeating: 0, count: 8 * values.count)
        data.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: Int64(v).littleEndian, toByteOffset: 8 * i, as: Int64.self) }
        }
        try save(file(descr: "<i8", shape: shape, data: data), path)
    }

    static func save(_ bytes: [UInt8], _ path: String) throws(FormatError) {
        try FileOutput.write(bytes, to: path)
    }
}

/// The Python dict literal of a `.npy` header: string keys; string, bool or int-tuple values.
enum HeaderParser {
    enum Value: Equatable { case string(String), bool(Bool), tuple([Int]) }
    struct HeaderProblem: Error { let text: String }

    static func parse(_ text: String) -> Result<[String: Value], HeaderProblem> {
        var s = Substring(text)
        func skip() { while let c = s.first, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeFirst() } }
        func expect(_ c: Character) -> Bool { skip(); if s.first == c { s.removeFirst(); return true }; return false }
        func quoted() -> String? {
            skip()
            guard let q = s.first, q == "'" || q == "\"" else { return nil }
            s.removeFirst()
            guard let end = s.firstIndex(of: q) else { return nil }
            let v = String(s[..<end])
            s = s[s.index(after: end)...]
            return v
        }
        guard expect("{") else { return .failure(HeaderProblem(text: "expected '{'")) }
        var out: [String: Value] = [:]
        while true {
            skip()
            if expect("}") { break }
            guard let key = quoted() else { return .failure(HeaderProblem(text: "expected a quoted key")) }
            guard expect(":") else { return .failure(HeaderProblem(text: "expected ':' after '\(key)'")) }
            skip()
            let value: Value
            if s.hasPrefix("True") { s.removeFirst(4); value = .bool(true) }
            else if s.hasPrefix("False") { s.removeFirst(5); value = .bool(false) }
            else if s.first == "(" {
                s.removeFirst()
                var dims: [Int] = []
                while true {
                    skip()
                    if expect(")") { break }
                    var digits = ""
                    while let c = s.first, c.isASCII, c.isNumber { digits.append(c); s.removeFirst() }
                    skip()
                    if s.first == "L" { s.removeFirst() }
                    guard let d = Int(digits), digits.count < 19 else { return .failure(HeaderProblem(text: "shape entry is not a non-negative integer")) }
                    dims.append(d)
                    if expect(")") { break }
                    guard expect(",") else { return .failure(HeaderProblem(text: "expected ',' in shape")) }
                }
                value = .tuple(dims)
            } else if let str = quoted() { value = .string(str) }
            else { return .failure(HeaderProblem(text: "unexpected value for '\(key)'")) }
            guard out.updateValue(value, forKey: key) == nil else { return .failure(HeaderProblem(text: "key '\(key)' repeated")) }
            if expect("}") { break }
            guard expect(",") else { return .failure(HeaderProblem(text: "expected ',' between entries")) }
        }
        skip()
        guard s.isEmpty else { return .failure(HeaderProblem(text: "text after the dict")) }
        return .success(out)
    }
}
