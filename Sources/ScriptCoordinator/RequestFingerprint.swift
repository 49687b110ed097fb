import ScriptProtocol
import ScriptTransport
import ScriptWire

/// What a `prune` message asks, in 64 bits: its fields but those a try of the same request may
/// change (`id`, `deadline_ms`, `avoid`), and its tensor frames' sizes with a sample of their
/// bytes (the first and last 64 and 64 spread between; a read of about 5 KB whatever the size).
/// A request id names one request: a message that reuses one for another (other fields, other
/// shapes, other inline bytes) is refused rather than answered with that request's answer.
/// Bytes sent direct never reach the coordinator: those requests are told apart by their fields
/// and shapes only. Hashed with the process's seed: compared within one coordinator only.
struct RequestFingerprint: Equatable {
    let value: Int

    /// Fields a try may change without changing the request.
    static let perTry: Set<String> = ["id", "deadline_ms", "avoid"]

    init(value: Int) { self.value = value }

    /// `frames`: the envelope's frame, then the tensor frames.
    init(envelope: Envelope, frames: [Frame]) {
        var h = Hasher()
        for key in envelope.fields.keys.sorted() where !Self.perTry.contains(key) {
            h.combine(key)
            Self.combine(envelope.fields[key]!, into: &h)
        }
        for frame in frames.dropFirst() { Self.sample(frame, into: &h) }
        value = h.finalize()
    }

    private static func combine(_ v: MessagePackValue, into h: inout Hasher) {
        switch v {
        case .nil: h.combine(0)
        case .bool(let b): h.combine(1); h.combine(b)
        case .int(let i): h.combine(2); h.combine(i)
        case .uint(let u) where u <= UInt64(Int64.max): h.combine(2); h.combine(Int64(u))  // as .int: they compare equal
        case .uint(let u): h.combine(9); h.combine(u)
        case .float(let d): h.combine(3); h.combine(d.bitPattern)
        case .string(let s): h.combine(4); h.combine(s)
        case .binary(let b): h.combine(5); h.combine(b)
        case .array(let a):
            h.combine(6); h.combine(a.count)
            for x in a { combine(x, into: &h) }
        case .map(let pairs):
            h.combine(7); h.combine(pairs.count)
            for (k, x) in pairs { combine(k, into: &h); combine(x, into: &h) }
        case .extension(let t, let b): h.combine(8); h.combine(t); h.combine(b)
        }
    }

    private static func sample(_ frame: Frame, into h: inout Hasher) {
        h.combine(frame.count)
        frame.withUnsafeBytes { p in
            let n = p.count
            guard n > 0 else { return }
            h.combine(bytes: UnsafeRawBufferPointer(rebasing: p[0..<min(64, n)]))
            h.combine(bytes: UnsafeRawBufferPointer(rebasing: p[max(0, n - 64)..<n]))
            guard n > 128 else { return }
            for i in 0..<64 {
                let at = 64 + (n - 128) * i / 64
                h.combine(bytes: UnsafeRawBufferPointer(rebasing: p[at..<min(n, at + 64)]))
            }
        }
    }
}
