import ScriptTransport
import ScriptWire

/// A decoded MessagePack map with string keys, read with typed accessors whose errors name the
/// offending field: the first frame of every protocol message, and any nested map in it.
public struct Envelope: Sendable {
    public private(set) var fields: [String: MessagePackValue]
    /// Where the map sits in the message, for error messages ("" at the top).
    let context: String

    /// Decodes the first frame of a message.
    /// Decodes an envelope frame.
    public static func decode(_ frame: Frame) throws -> Envelope { try decode(frame.bytes) }

    public static func decode(_ bytes: [UInt8]) throws -> Envelope {
        let value: MessagePackValue
        do { value = try MessagePack.decode(bytes) } catch {
            throw ProtocolError(.badMessage, "envelope is not valid MessagePack: \(error)")
        }
        return try Envelope(value, context: "")
    }

    init(_ value: MessagePackValue, context: String) throws {
        guard case .map(let pairs) = value else {
            throw ProtocolError(context.isEmpty ? .badMessage : .badRequest, "\(context.isEmpty ? "envelope" : context) is not a map")
        }
        var fields: [String: MessagePackValue] = [:]
        for (k, v) in pairs {
            guard case .string(let key) = k else {
                throw ProtocolError(context.isEmpty ? .badMessage : .badRequest, "\(context.isEmpty ? "envelope" : context) has a key that is not a string")
            }
            guard fields.updateValue(v, forKey: key) == nil else {
                throw ProtocolError(.badRequest, "field '\(path(key, context))' appears twice")
            }
        }
        self.fields = fields
        self.context = context
    }

    /// Encodes an ordered list of fields as a MessagePack map.
    public static func encode(_ fields: [(String, MessagePackValue)]) -> [UInt8] {
        MessagePack.encode(mapValue(fields))
    }

    public static func mapValue(_ fields: [(String, MessagePackValue)]) -> MessagePackValue {
        .map(fields.map { (MessagePackValue.string($0.0), $0.1) })
    }

    public func has(_ key: String) -> Bool { fields[key] != nil && fields[key] != .nil }

    /// Throws `bad_request` naming the first field not in `allowed`.
    public func only(_ allowed: Set<String>, context: String? = nil) throws {
        for key in fields.keys.sorted() where !allowed.contains(key) {
            throw ProtocolError(.badRequest, "unknown field '\(path(key, context ?? self.context))'")
        }
    }

    private func require(_ key: String) throws -> MessagePackValue {
        guard let v = fields[key], v != .nil else { throw ProtocolError(.badRequest, "missing field '\(path(key, context))'") }
        return v
    }

    private func wrongType(_ key: String, _ expected: String, _ v: MessagePackValue) -> ProtocolError {
        ProtocolError(.badRequest, "field '\(path(key, context))' must be \(expected), got \(v.typeName)")
    }

    public func int(_ key: String) throws -> Int {
        let v = try require(key)
        switch v {
        case .int(let i): return Int(i)
        case .uint(let u) where u <= UInt64(Int.max): return Int(u)
        default: throw wrongType(key, "an integer", v)
        }
    }

    public func double(_ key: String) throws -> Double {
        let v = try require(key)
        switch v {
        case .int(let i): return Double(i)
        case .uint(let u): return Double(u)
        case .float(let d): return d
        default: throw wrongType(key, "a number", v)
        }
    }

    public func string(_ key: String) throws -> String {
        let v = try require(key)
        guard case .string(let s) = v else { throw wrongType(key, "a string", v) }
        return s
    }

    public func bool(_ key: String) throws -> Bool {
        let v = try require(key)
        guard case .bool(let b) = v else { throw wrongType(key, "a boolean", v) }
        return b
    }

    public func array(_ key: String) throws -> [MessagePackValue] {
        let v = try require(key)
        guard case .array(let a) = v else { throw wrongType(key, "an array", v) }
        return a
    }

    public func intArray(_ key: String) throws -> [Int] {
        try array(key).enumerated().map { i, v in
            switch v {
            case .int(let x): return Int(x)
            case .uint(let u) where u <= UInt64(Int.max): return Int(u)
            default: throw ProtocolError(.badRequest, "field '\(path(key, context))[\(i)]' must be an integer, got \(v.typeName)")
            }
        }
    }

    public func map(_ key: String) throws -> Envelope {
        try Envelope(try require(key), context: path(key, context))
    }

    /// The raw value, or nil when absent.
    public subscript(key: String) -> MessagePackValue? { fields[key] }
}

private func path(_ key: String, _ context: String) -> String { context.isEmpty ? key : "\(context).\(key)" }

extension MessagePackValue {
    /// A short name of the value's type, for error messages.
    var typeName: String {
        switch self {
        case .nil: return "nil"
        case .bool: return "a boolean"
        case .uint(let u) where u > UInt64(Int.max): return "\(u), more than 2^63 - 1"
        case .int, .uint: return "an integer"
        case .float: return "a float"
        case .string: return "a string"
        case .binary: return "binary"
        case .array: return "an array"
        case .map: return "a map"
        case .extension: return "an extension"
        }
    }
}
