import XCTest
@testable import ScriptFormats

/// Half-precision decoding: the hardware path and the table agree on every value.
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
}
