/// Logarithm, square root and sine/cosine from IEEE add, multiply, divide and integer bit
/// operations alone, eight lanes at a time: bit-identical on every machine (libm's results
/// differ by an ulp between platforms, and the generator promises the same bytes everywhere),
/// and fast enough for tens of millions of normals. Accurate to a few parts in 10^7.
enum PortableMath {
    typealias F = SIMD8<Float>
    typealias U = SIMD8<UInt32>

    /// `Float(k)` for integers `0 <= k < 2^23`, exactly (the 2^23 bit trick).
    @inline(__always)
    static func float(_ k: U) -> F { unsafeBitCast(k | 0x4b00_0000, to: F.self) - 8_388_608 }

    /// Natural logarithm of positive, finite, normal lanes.
    @inline(__always)
    static func log(_ x: F) -> F {
        let bits = unsafeBitCast(x, to: U.self)
        let mantissa = bits & 0x7f_ffff
        let high = (0x35_04f3 &- mantissa) &>> 31                       // 1: mantissa above sqrt(2)
        // m in [0.71, 1.41]: the mantissa, halved when above sqrt(2); x = m 2^e.
        let m = unsafeBitCast(mantissa | (0x3f80_0000 &- (high &<< 23)), to: F.self)
        let e = float((bits &>> 23) &+ high &+ (0x40_0000 &- 127)) - 4_194_304
        // ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172.
        let s = (m - 1) / (m + 1), s2 = s * s
        var series = s2 * (1 / 9 as Float) + (1 / 7 as Float)
        series = series * s2 + (1 / 5 as Float)
        series = series * s2 + (1 / 3 as Float)
        series = series * s2 + 1
        return e * (0.693_147_18 as Float) + 2 * s * series
    }

    /// Square root of non-negative, finite lanes (0 for 0): Newton's iteration for 1 / sqrt(x)
    /// from the classic bit-level first guess.
    @inline(__always)
    static func sqrt(_ x: F) -> F {
        var y = unsafeBitCast(U(repeating: 0x5f37_59df) &- (unsafeBitCast(x, to: U.self) &>> 1), to: F.self)
        let half = 0.5 * x
        y = y * (1.5 - half * y * y)
        y = y * (1.5 - half * y * y)
        y = y * (1.5 - half * y * y)
        return x * y
    }

    /// `(cos t, sin t)` for `|t| <= pi / 4` (Taylor series to degree 10 and 11, Horner form).
    @inline(__always)
    static func cosSin(_ t: F) -> (cos: F, sin: F) {
        let t2 = t * t
        var c = 1 - t2 * (1 / 90 as Float)
        c = 1 - t2 * (1 / 56 as Float) * c
        c = 1 - t2 * (1 / 30 as Float) * c
        c = 1 - t2 * (1 / 12 as Float) * c
        c = 1 - t2 * 0.5 * c
        var s = 1 - t2 * (1 / 110 as Float)
        s = 1 - t2 * (1 / 72 as Float) * s
        s = 1 - t2 * (1 / 42 as Float) * s
        s = 1 - t2 * (1 / 20 as Float) * s
        s = 1 - t2 * (1 / 6 as Float) * s
        return (c, t * s)
    }

    /// Lanes of `a` where `mask` is all ones, of `b` where it is zero.
    @inline(__always)
    static func select(_ mask: U, _ a: F, _ b: F) -> F {
        unsafeBitCast((unsafeBitCast(a, to: U.self) & mask) | (unsafeBitCast(b, to: U.self) & ~mask), to: F.self)
    }
}
