/// The generator's only source of randomness: xoshiro256** seeded through SplitMix64, with
/// Box-Muller normals over `PortableMath`. Integer and basic IEEE arithmetic only (never the
/// system RNG, never libm), so a seed gives the same bytes on every machine.
struct SynthRandom {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in [0, 1), 24 bits.
    mutating func uniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in `lo..<hi`.
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * uniform() }

    /// Uniform integer in a non-empty range (Lemire's multiply-high; bias below 2^-50).
    mutating func int(_ range: Range<Int>) -> Int {
        precondition(!range.isEmpty, "empty range")
        return range.lowerBound + Int(next().multipliedFullWidth(by: UInt64(range.count)).high)
    }

    mutating func chance(_ p: Float) -> Bool { uniform() < p }

    /// `count` independent standard normals times `scale`, one 64-bit draw per pair: bulk noise
    /// without per-element allocation. Draws a block of words, then transforms it eight pairs
    /// at a time; each 16 outputs are 8 cosine halves, then 8 sine halves.
    mutating func fillNormal(_ out: UnsafeMutablePointer<Float>, count: Int, scale: Float) {
        let block = 512, lanes = 8
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 2 * block) { buffer in
            let radius = buffer.baseAddress!, angle = radius + block
            var done = 0
            while done < count {
                let groups = min(block / lanes, (count - done + 2 * lanes - 1) / (2 * lanes))
                for i in 0..<(groups * lanes) {
                    let x = next()
                    radius[i] = UInt32(truncatingIfNeeded: x >> 41)
                    angle[i] = UInt32(truncatingIfNeeded: x) & 0xff_ffff
                }
                for g in 0..<groups {
                    let (z0, z1) = Self.boxMuller(radius: UnsafeRawPointer(radius + g * lanes).loadUnaligned(as: SIMD8<UInt32>.self),
                                                  angle: UnsafeRawPointer(angle + g * lanes).loadUnaligned(as: SIMD8<UInt32>.self))
                    let at = done + g * 2 * lanes
                    if at + 2 * lanes <= count {
                        let o = UnsafeMutableRawPointer(out + at)
                        o.storeBytes(of: z0 * scale, as: SIMD8<Float>.self)
                        o.storeBytes(of: z1 * scale, toByteOffset: 4 * lanes, as: SIMD8<Float>.self)
                    } else {
                        for j in 0..<(count - at) { out[at + j] = (j < lanes ? z0[j] : z1[j - lanes]) * scale }
                    }
                }
                done += groups * 2 * lanes
            }
        }
    }

    /// A vector of `d` standard normals times `scale`.
    mutating func normals(_ d: Int, scale: Float = 1) -> [Float] {
        var v = [Float](repeating: 0, count: d)
        if d > 0 { v.withUnsafeMutableBufferPointer { fillNormal($0.baseAddress!, count: d, scale: scale) } }
        return v
    }

    /// Eight Box-Muller pairs. `radius`: 23-bit integers k, for u = (k + 1) / 2^23 in (0, 1];
    /// `angle`: 24 bits, 2 for the quadrant and 22 for the angle within it (centred on the
    /// quadrant's axis, which leaves the angle uniform on the circle).
    @inline(__always)
    static func boxMuller(radius k: SIMD8<UInt32>, angle a: SIMD8<UInt32>) -> (SIMD8<Float>, SIMD8<Float>) {
        typealias M = PortableMath
        let u = (unsafeBitCast(k | 0x4b00_0000, to: SIMD8<Float>.self) - 8_388_607) * 0x1p-23     // exact
        let r = M.sqrt(-2 * M.log(u))
        let t = (M.float(a & 0x3f_ffff) * 0x1p-22 - 0.5) * (Float.pi / 2)
        let (c, s) = M.cosSin(t)
        // Quarter turns: (c, s) -> (-s, c) -> (-c, -s) -> (s, -c).
        let odd = 0 &- ((a &>> 22) & 1)
        let signed = unsafeBitCast(unsafeBitCast(r, to: SIMD8<UInt32>.self) ^ ((a &>> 23) &<< 31), to: SIMD8<Float>.self)
        return (signed * M.select(odd, -s, c), signed * M.select(odd, c, s))
    }
}
