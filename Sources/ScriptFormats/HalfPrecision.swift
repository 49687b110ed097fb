import CHalf

/// IEEE half and bfloat16 conversions (exact to Float32; round-to-nearest-even from it).
public enum HalfPrecision {
    /// The Float32 value of IEEE 754 half-precision bits.
    @inline(__always)
    public static func float(fromFloat16Bits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1f)
        let mant = UInt32(h & 0x3ff)
        if exp == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }   // inf, NaN
        if exp == 0 {
            // Zero or subnormal: mant * 2^-24.
            let v = Float(mant) * 0x1p-24
            return sign != 0 ? -v : v
        }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
    }

    /// Half-precision bits nearest to `f` (ties to even; overflow to infinity).
    public static func float16Bits(from f: Float) -> UInt16 {
        let b = f.bitPattern
        let sign = UInt16((b >> 16) & 0x8000)
        let exp = Int((b >> 23) & 0xff)
        var mant = b & 0x7f_ffff
        if exp == 0xff { return sign | 0x7c00 | (mant != 0 ? 0x200 : 0) }
        var e = exp - 127 + 15
        if e >= 0x1f { return sign | 0x7c00 }
        if e <= 0 {
            if e < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            var h = mant >> shift
            let rem = mant & ((1 << shift) - 1), half = UInt32(1) << (shift - 1)
            if rem > half || (rem == half && h & 1 == 1) { h += 1 }
            return sign | UInt16(h)
        }
        var h = UInt32(e) << 10 | (mant >> 13)
        let rem = mant & 0x1fff
        if rem > 0x1000 || (rem == 0x1000 && h & 1 == 1) { h += 1 }
        if h >= 0x7c00 { e = 0x1f; return sign | 0x7c00 }
        return sign | UInt16(h)
    }

    /// Every half value as Float32, indexed by its bits: decoding a tensor is one load a value.
    public static let table: [Float] = (0...UInt16.max).map { float(fromFloat16Bits: $0) }

    /// Half-precision little-endian bytes to Float32 values (`out` holds `count` values): with
    /// the CPU's conversion instructions where it has them (a tenth of the time), else by table.
    public static func decode(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Float>, count: Int) {
        precondition(bytes.count >= 2 * count && out.count >= count, "decode of \(count) halves out of bounds")
        guard count > 0 else { return }
        #if _endian(little)
        // The instructions read aligned-or-not 16-bit lanes; the bytes are native order here.
        if script_half_to_float(bytes.baseAddress!, out.baseAddress!, count) != 0 { return }
        #endif
        decodeByTable(bytes, into: out, count: count)
    }

    /// Float32 values to half-precision little-endian bytes (`out` holds `2 * values.count`),
    /// the same bits as `float16Bits`: with the CPU's conversion instructions where it has them
    /// (AnyRes's 11.8 M values: 3 ms against 29-35 in software on a Zen 4), else in software.
    public static func encode(_ values: UnsafeBufferPointer<Float>, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 2 * values.count, "encode of \(values.count) halves out of bounds")
        guard !values.isEmpty else { return }
        #if _endian(little)
        if script_float_to_half(values.baseAddress!, out.baseAddress!, values.count) != 0 { return }
        #endif
        encodeInSoftware(values, into: out)
    }

    /// `encode` in software, whatever the CPU.
    public static func encodeInSoftware(_ values: UnsafeBufferPointer<Float>, into out: UnsafeMutableRawBufferPointer) {
        for (i, v) in values.enumerated() { out.storeBytes(of: float16Bits(from: v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
    }

    /// `decode` in software, whatever the CPU.
    public static func decodeByTable(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Float>, count: Int) {
        table.withUnsafeBufferPointer { t in
            let tb = t.baseAddress!
            for i in 0..<count { out[i] = tb[Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))] }
        }
    }

    /// `values` as bfloat16 little-endian bytes into `out` (ties to even; NaN stays NaN): as
    /// `bfloat16Bits` each, in C that the compiler vectorizes.
    public static func encodeBFloat16(_ values: UnsafeBufferPointer<Float>, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 2 * values.count, "encode of \(values.count) bfloat16 values out of bounds")
        guard !values.isEmpty else { return }
        #if _endian(little)
        script_float_to_bfloat16(values.baseAddress!, out.baseAddress!, values.count)
        #else
        for (i, v) in values.enumerated() { out.storeBytes(of: bfloat16Bits(from: v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        #endif
    }

    /// bfloat16 bits nearest to `f` (ties to even; NaN stays NaN).
    public static func bfloat16Bits(from f: Float) -> UInt16 {
        let b = f.bitPattern
        if f.isNaN { return UInt16(b >> 16) | 0x40 }
        let rounded = b &+ 0x7fff &+ ((b >> 16) & 1)
        return UInt16(rounded >> 16)
    }

    /// The Float32 value of bfloat16 bits.
    @inline(__always)
    public static func float(fromBFloat16Bits h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }
}
