/// Why bytes are not one valid MessagePack value. Carries the offset or count at fault.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(at: Int)
    case trailingBytes(Int)
    case tooDeep(Int)
    case tooManyElements(Int)
    case declaredLengthExceedsInput(declared: Int, remaining: Int)
    case reservedByte(UInt8, at: Int)
    case invalidUTF8(at: Int)
    case tooLarge(Int)

    public var description: String {
        switch self {
        case .truncated(let at): return "input ends inside a value at byte \(at)"
        case .trailingBytes(let n): return "\(n) bytes follow the value"
        case .tooDeep(let d): return "nesting deeper than \(d)"
        case .tooManyElements(let n): return "more than \(n) array and map entries"
        case let .declaredLengthExceedsInput(declared, remaining): return "a length of \(declared) with \(remaining) bytes left"
        case let .reservedByte(b, at): return String(format: "reserved byte 0x%02x at byte %d", b, at)
        case .invalidUTF8(let at): return "string at byte \(at) is not UTF-8"
        case .tooLarge(let n): return "input of \(n) bytes exceeds the limit"
        }
    }
}

import Foundation
