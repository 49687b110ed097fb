import CMsgPack

/// MessagePack encoding (through msgpack-c's packer) and strict decoding.
///
/// Decoding is a bounds-checked Swift parser rather than msgpack-c's unpacker: the unpacker
/// allocates by declared counts before reading elements, so a five-byte array header claiming
/// four billion entries would cost gigabytes. Here every declared length is checked against the
/// bytes left (each element takes at least one byte) before anything is allocated, and depth and
/// total entries are bounded.
public enum MessagePack {
    public static func encode(_ value: MessagePackValue) -> [UInt8] {
        var buffer = msgpack_sbuffer()
        msgpack_sbuffer_init(&buffer)
        defer { msgpack_sbuffer_destroy(&buffer) }
        var packer = msgpack_packer()
        msgpack_packer_init(&packer, &buffer, msgpack_sbuffer_write)
        pack(value, &packer)
        guard buffer.size > 0 else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: buffer.data, count: buffer.size))
    }

    private static func pack(_ v: MessagePackValue, _ pk: inout msgpack_packer) {
        switch v {
        case .nil: msgpack_pack_nil(&pk)
        case .bool(let b): if b { msgpack_pack_true(&pk) } else { msgpack_pack_false(&pk) }
        case .int(let i): msgpack_pack_int64(&pk, i)
        case .uint(let u): msgpack_pack_uint64(&pk, u)
        case .float(let d): msgpack_pack_double(&pk, d)
        case .string(let s):
            let bytes = Array(s.utf8)
            msgpack_pack_str(&pk, bytes.count)
            bytes.withUnsafeBytes { _ = msgpack_pack_str_body(&pk, $0.baseAddress, bytes.count) }
        case .binary(let b):
            msgpack_pack_bin(&pk, b.count)
            b.withUnsafeBytes { _ = msgpack_pack_bin_body(&pk, $0.baseAddress, b.count) }
        case .array(let a):
            msgpack_pack_array(&pk, a.count)
            for e in a { pack(e, &pk) }
        case .map(let m):
            msgpack_pack_map(&pk, m.count)
            for (k, e) in m { pack(k, &pk); pack(e, &pk) }
        case .extension(let t, let b):
            msgpack_pack_ext(&pk, b.count, t)
            b.withUnsafeBytes { _ = msgpack_pack_ext_body(&pk, $0.baseAddress, b.count) }
        }
    }

    /// Decodes exactly one value; trailing bytes are an error.
    public static func decode(_ bytes: [UInt8], limits: DecodingLimits = .default) throws -> MessagePackValue {
        guard bytes.count <= limits.maxBytes else { throw WireError.tooLarge(bytes.count) }
        return try bytes.withUnsafeBufferPointer { buf in
            var r = Reader(buf: buf, limits: limits)
            let v = try r.value(depth: 0)
            guard r.pos == buf.count else { throw WireError.trailingBytes(buf.count - r.pos) }
            return v
        }
    }

    private struct Reader {
        let buf: UnsafeBufferPointer<UInt8>
        let limits: DecodingLimits
        var pos = 0
        var elements = 0

        init(buf: UnsafeBufferPointer<UInt8>, limits: DecodingLimits) {
            self.buf = buf
            self.limits = limits
        }

        mutating func byte() throws -> UInt8 {
            guard pos < buf.count else { throw WireError.truncated(at: pos) }
            defer { pos += 1 }
            return buf[pos]
        }

        mutating func big(_ n: Int) throws -> UInt64 {
            guard buf.count - pos >= n else { throw WireError.truncated(at: pos) }
            var v: UInt64 = 0
            for i in 0..<n { v = v << 8 | UInt64(buf[pos + i]) }
            pos += n
            return v
        }

        mutating func bytes(_ n: Int) throws -> [UInt8] {
            guard n <= buf.count - pos else { throw WireError.declaredLengthExceedsInput(declared: n, remaining: buf.count - pos) }
            defer { pos += n }
            return Array(buf[pos..<(pos + n)])
        }

        mutating func string(_ n: Int) throws -> MessagePackValue {
            let start = pos
            let b = try bytes(n)
            guard let s = String(validating: b, as: UTF8.self) else { throw WireError.invalidUTF8(at: start) }
            return .string(s)
        }

        /// Checks a declared entry count against the bytes left and the element budget.
        mutating func entries(_ n: Int, perEntry: Int, depth: Int) throws {
            guard depth < limits.maxDepth else { throw WireError.tooDeep(limits.maxDepth) }
            guard n <= (buf.count - pos) / perEntry else {
                throw WireError.declaredLengthExceedsInput(declared: n, remaining: buf.count - pos)
            }
            elements += n
            guard elements <= limits.maxElements else { throw WireError.tooManyElements(limits.maxElements) }
        }

        mutating func array(_ n: Int, depth: Int) throws -> MessagePackValue {
            try entries(n, perEntry: 1, depth: depth)
            var a: [MessagePackValue] = []
            a.reserveCapacity(n)
            for _ in 0..<n { a.append(try value(depth: depth + 1)) }
            return .array(a)
        }

        mutating func map(_ n: Int, depth: Int) throws -> MessagePackValue {
            try entries(n, perEntry: 2, depth: depth)
            var m: [(MessagePackValue, MessagePackValue)] = []
            m.reserveCapacity(n)
            for _ in 0..<n { m.append((try value(depth: depth + 1), try value(depth: depth + 1))) }
            return .map(m)
        }

        mutating func ext(_ n: Int) throws -> MessagePackValue {
            let t = Int8(bitPattern: try byte())
            return .extension(t, try bytes(n))
        }

        mutating func value(depth: Int) throws -> MessagePackValue {
            let at = pos
            let b = try byte()
            switch b {
            case 0x00...0x7f: return .int(Int64(b))
            case 0x80...0x8f: return try map(Int(b & 0x0f), depth: depth)
            case 0x90...0x9f: return try array(Int(b & 0x0f), depth: depth)
            case 0xa0...0xbf: return try string(Int(b & 0x1f))
            case 0xc0: return .nil
            case 0xc1: throw WireError.reservedByte(b, at: at)
            case 0xc2: return .bool(false)
            case 0xc3: return .bool(true)
            case 0xc4: return .binary(try bytes(Int(try big(1))))
            case 0xc5: return .binary(try bytes(Int(try big(2))))
            case 0xc6: return .binary(try bytes(Int(try big(4))))
            case 0xc7: return try ext(Int(try big(1)))
            case 0xc8: return try ext(Int(try big(2)))
            case 0xc9: return try ext(Int(try big(4)))
            case 0xca: return .float(Double(Float(bitPattern: UInt32(try big(4)))))
            case 0xcb: return .float(Double(bitPattern: try big(8)))
            case 0xcc: return .int(Int64(try big(1)))
            case 0xcd: return .int(Int64(try big(2)))
            case 0xce: return .int(Int64(try big(4)))
            case 0xcf:
                let u = try big(8)
                return u <= UInt64(Int64.max) ? .int(Int64(u)) : .uint(u)
            case 0xd0: return .int(Int64(Int8(truncatingIfNeeded: try big(1))))
            case 0xd1: return .int(Int64(Int16(truncatingIfNeeded: try big(2))))
            case 0xd2: return .int(Int64(Int32(truncatingIfNeeded: try big(4))))
            case 0xd3: return .int(Int64(bitPattern: try big(8)))
            case 0xd4: return try ext(1)
            case 0xd5: return try ext(2)
            case 0xd6: return try ext(4)
            case 0xd7: return try ext(8)
            case 0xd8: return try ext(16)
            case 0xd9: return try string(Int(try big(1)))
            case 0xda: return try string(Int(try big(2)))
            case 0xdb: return try string(Int(try big(4)))
            case 0xdc: return try array(Int(try big(2)), depth: depth)
            case 0xdd: return try array(Int(try big(4)), depth: depth)
            case 0xde: return try map(Int(try big(2)), depth: depth)
            case 0xdf: return try map(Int(try big(4)), depth: depth)
            default: return .int(Int64(Int8(bitPattern: b)))  // negative fixint 0xe0...0xff
            }
        }
    }
}
