import XCTest
@testable import ScriptFormats

/// Half-precision decoding and encoding: the hardware paths and the software agree on every
/// value.
final class HalfPrecisionTests: XCTestCase {
    func testHardwareAndTableDecodeAgreeOnEveryHalf() {
        // Every bit pattern, at an odd offset and with a ragged tail, as tensor slices come.
        let bits = (0...UInt16.max).map { $0 }
        var bytes: [UInt8] = [0xEE]
        for b in bits { bytes += [UInt8(b & 0xFF), UInt8(b >> 8)] }
        let count = bits.count - 3
        var hardware = [Float](repeating: -1, count: count), table = [Float](repeating: -2, count: count)
        bytes.withUnsafeBytes { raw in
            let slice = UnsafeRawBufferPointer(rebasing: raw[1..<(1 + 2 * count)])
            hardware.withUnsafeMutableBufferPointer { HalfPrecision.decode(slice, into: $0, count: count) }
            table.withUnsafeMutableBufferPointer { HalfPrecision.decodeByTable(slice, into: $0, count: count) }
        }
        for i in 0..<count {
            if table[i].isNaN {
                XCTAssertTrue(hardware[i].isNaN, "bits \(i)")
            } else {
                XCTAssertEqual(hardware[i].bitPattern, table[i].bitPattern, "bits \(i)")
            }
        }
        XCTAssertEqual(table[0x3C00], 1)
        XCTAssertEqual(table[0x7BFF], 65504)
        XCTAssertEqual(table[0x0001], 0x1p-24)
    }

    /// Encoding in hardware gives `float16Bits`'s bits on every half value, its neighbours and
    /// midpoints (ties to even), the subnormal and overflow edges, NaNs of every sign and payload,
    /// and 4 M random bit patterns, at an odd offset and with a ragged tail.
    func testHardwareAndSoftwareEncodeAgreeBitForBit() {
        var values: [Float] = []
        for h in 0...UInt16.max {
            let f = HalfPrecision.float(fromFloat16Bits: h)
            guard !f.isNaN, !f.isInfinite else { continue }
            let next = HalfPrecision.float(fromFloat16Bits: h &+ 1)
            values += [f, f.nextUp, f.nextDown]
            if next.isFinite { values += [(f + next) / 2, ((f + next) / 2).nextUp, ((f + next) / 2).nextDown] }
        }
        let specials: [Float] = [.infinity, -.infinity, .nan, -.nan, 65504, 65519.99, 65520, 1e-8, -1e-8,
                                 .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        let nans: [UInt32] = [0x7F80_0001, 0xFFBF_FFFF, 0x7FFF_FFFF, 0xFF80_2000]
        values += specials + nans.map { Float(bitPattern: $0) }
        var g = SystemRandomNumberGenerator()
        values += (0..<4_000_000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &g)) }
        values += [1, 2, 3]  // a tail of 3 past a multiple of 8 (with the odd offset below)
        var hardware = [UInt8](repeating: 0xAA, count: 2 * values.count + 1), software = hardware
        values.withUnsafeBufferPointer { v in
            hardware.withUnsafeMutableBytes { HalfPrecision.encode(v, into: UnsafeMutableRawBufferPointer(rebasing: $0[1...])) }
            software.withUnsafeMutableBytes { HalfPrecision.encodeInSoftware(v, into: UnsafeMutableRawBufferPointer(rebasing: $0[1...])) }
        }
        let differ = (0..<values.count).filter { (i: Int) -> Bool in hardware[(2 * i + 1)...(2 * i + 2)] != software[(2 * i + 1)...(2 * i + 2)] }
        XCTAssertEqual(differ.count, 0, "first: \(differ.prefix(5).map { String(values[$0].bitPattern, radix: 16) })")
        XCTAssertEqual(hardware[0], 0xAA, "nothing written before the start")
    }

    /// `encodeBFloat16` gives `bfloat16Bits`'s bits on every bfloat16 value, its neighbours and
    /// midpoints (ties to even), NaNs of every sign and payload and 4 M random bit patterns, at an
    /// odd offset and with a ragged tail, writing nothing past its bytes.
    func testBFloat16EncodingAgreesWithTheScalarRounding() {
        var values: [Float] = []
        for h in 0...UInt16.max {
            let f = Float(bitPattern: UInt32(h) << 16)
            values += [f, f.nextUp, f.nextDown, Float(bitPattern: UInt32(h) << 16 | 0x8000)]
        }
        values += [0x7F80_0001, 0xFFBF_FFFF, 0x7FFF_FFFF, 0xFF80_2000, 0x7F7F_FFFF].map { Float(bitPattern: $0) }
        var g = SystemRandomNumberGenerator()
        values += (0..<4_000_000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &g)) } + [1, 2, 3]
        var encoded = [UInt8](repeating: 0xAA, count: 2 * values.count + 2)
        values.withUnsafeBufferPointer { v in
            encoded.withUnsafeMutableBytes { HalfPrecision.encodeBFloat16(v, into: UnsafeMutableRawBufferPointer(rebasing: $0[1..<($0.count - 1)])) }
        }
        let differ = (0..<values.count).filter { i in
            UInt16(encoded[2 * i + 1]) | UInt16(encoded[2 * i + 2]) << 8 != HalfPrecision.bfloat16Bits(from: values[i])
        }
        XCTAssertEqual(differ.count, 0, "first: \(differ.prefix(5).map { String(values[$0].bitPattern, radix: 16) })")
        XCTAssertEqual([encoded.first, encoded.last], [0xAA, 0xAA], "nothing written outside its bytes")
    }
}
