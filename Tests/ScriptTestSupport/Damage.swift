import ScriptCore
import ScriptProtocol
import ScriptWire

/// Random damage to a message (its delimiter frame first), the same for a seed.
public struct Damage {
    private var rng: SplitMix64

    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    public mutating func below(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }

    private mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

    /// A value of any type, often one a field would almost accept.
    public mutating func value() -> MessagePackValue {
        switch below(10) {
        case 0: return .nil
        case 1: return .bool(below(2) == 0)
        case 2: return .int(pick([0, -1, 1, 7, 60, 61, 1 << 40, .max, .min]))
        case 3: return .float(pick([.nan, .infinity, -1, 0.5, 1e300, 2]))
        case 4: return .string(pick(["", "x", String(repeating: "é", count: 200), "script+", "direct", "features"]))
        case 5: return .binary([UInt8](repeating: 0xff, count: below(40)))
        case 6: return .array((0..<below(4)).map { _ in .int(Int64(below(200)) - 20) })
        case 7: return .array([.array([.int(0), .int(Int64(below(70)))]), .array([.int(Int64(below(70))), .int(60)])])
        case 8:
            return Envelope.mapValue([("dtype", .string(pick(["f32", "f16", "bf16", "i8"]))),
                                      ("shape", .array([.int(Int64(below(80))), .int(Int64(below(40)))])), ("frame", .int(Int64(below(5))))])
        default: return .map([(.string("theta"), .float(0.3)), (.int(1), .nil)])
        }
    }

    /// `frames` damaged one way.
    public mutating func damage(_ frames: [[UInt8]]) -> [[UInt8]] {
        var f = frames
        guard f.count >= 2 else { return f }
        switch below(8) {
        case 0, 1, 2:
            guard var fields = try? Envelope.decode(f[1]).fields.map({ ($0.key, $0.value) }).sorted(by: { $0.0 < $1.0 }) else { return f }
            let i = below(fields.count + 1)
            if i == fields.count {
                fields.append(("extra", value()))
            } else if below(4) == 0 {
                fields.remove(at: i)
            } else {
                fields[i].1 = value()
            }
            f[1] = Envelope.encode(fields)
        case 3:
            for _ in 0...below(4) where !f[1].isEmpty { f[1][below(f[1].count)] ^= UInt8(1 << below(8)) }
        case 4:
            let i = 1 + below(f.count - 1)
            f[i] = Array(f[i].prefix(below(f[i].count + 1)))
        case 5:
            let i = 1 + below(f.count - 1)
            if below(2) == 0 { f.remove(at: i) } else { f.insert(f[i], at: i) }
        case 6:
            guard f.count > 2 else { return f }
            let i = 2 + below(f.count - 2)
            for _ in 0...below(8) where !f[i].isEmpty { f[i][below(f[i].count)] = UInt8(truncatingIfNeeded: rng.next()) }
        default:
            if below(2) == 0 { f.removeFirst() } else { f[0] = [1] }
        }
        return f
    }
}
