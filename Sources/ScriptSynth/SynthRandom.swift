/// The generator's only source of randomness: SplitMix64 and arithmetic alone (no libm), so a
/// seed gives the same bytes on every machine.
struct SynthRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed ^ 0x5CF1_A3D2_9E37_79B9 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }

    /// Approximately standard normal: a scaled sum of four 16-bit uniforms (Irwin-Hall).
    @inline(__always)
    mutating func normal() -> Float {
        let r = next()
        let s = Float(r & 0xffff) + Float((r >> 16) & 0xffff) + Float((r >> 32) & 0xffff) + Float(r >> 48)
        return (s * 0x1p-16 - 2) * 1.7320508
    }

    /// A random vector of norm about 1.
    mutating func direction(_ d: Int) -> [Float] {
        let scale = 1 / Float(d).squareRoot()
        return (0..<d).map { _ in normal() * scale }
    }
}
