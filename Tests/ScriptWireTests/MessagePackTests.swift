import XCTest
@testable import ScriptWire

final class MessagePackTests: XCTestCase {
    private func roundTrip(_ v: MessagePackValue, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(try MessagePack.decode(MessagePack.encode(v)), v, file: file, line: line)
    }

    func testRoundTripsAtEveryEncodingBoundary() {
        for i: Int64 in [0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 32 - 1, 1 << 32, .max, -1, -32, -33, -128, -129, -32768, -32769, Int64(Int32.min) - 1, .min] {
            roundTrip(.int(i))
        }
        roundTrip(.uint(.max))
        for n in [0, 31, 32, 255, 256, 65535, 65536] {
            roundTrip(.string(String(repeating: "é", count: n / 2) + String(repeating: "a", count: n % 2)))
            roundTrip(.binary([UInt8](repeating: 7, count: n)))
        }
        for n in [0, 15, 16, 65535, 65536] {
            roundTrip(.array([MessagePackValue](repeating: .nil, count: n)))
            roundTrip(.map((0..<n).map { (.int(Int64($0)), .bool($0 % 2 == 0)) }))
        }
        roundTrip(.float(3.25)); roundTrip(.float(-.infinity)); roundTrip(.bool(true)); roundTrip(.nil)
        roundTrip(.extension(5, [1, 2, 3])); roundTrip(.extension(-1, [UInt8](repeating: 0, count: 16)))
        XCTAssertEqual(MessagePack.encode(.int(5)), [5], "smallest encoding")
        XCTAssertEqual(try MessagePack.decode([0xca, 0x40, 0x49, 0x0f, 0xdb]), .float(Double(Float(bitPattern: 0x4049_0FDB))), "float 32")
    }

    func testEveryTruncationIsAnError() {
        let msg = MessagePack.encode(.map([(.string("v"), .int(1)), (.string("data"), .binary([1, 2, 3, 4])),
                                           (.string("list"), .array([.float(1.5), .string("xyz"), .uint(.max)]))]))
        for cut in 0..<msg.count {
            XCTAssertThrowsError(try MessagePack.decode(Array(msg.prefix(cut))), "prefix \(cut)")
        }
        XCTAssertNoThrow(try MessagePack.decode(msg))
    }

    func testHostileInputs() {
        func error(_ b: [UInt8]) -> WireError? {
            do { _ = try MessagePack.decode(b); return nil } catch let e as WireError { return e } catch { return nil }
        }
        XCTAssertEqual(error([0xc1]), .reservedByte(0xc1, at: 0))
        XCTAssertEqual(error([0xdd, 0xff, 0xff, 0xff, 0xff]), .declaredLengthExceedsInput(declared: 0xffff_ffff, remaining: 0))
        XCTAssertEqual(error([0xdf, 0xff, 0xff, 0xff, 0xff, 0]), .declaredLengthExceedsInput(declared: 0xffff_ffff, remaining: 1))
        XCTAssertEqual(error([0xc6, 0x7f, 0xff, 0xff, 0xff]), .declaredLengthExceedsInput(declared: 0x7fff_ffff, remaining: 0))
        XCTAssertEqual(error([UInt8](repeating: 0x91, count: 10_000) + [0]), .tooDeep(32))
        XCTAssertEqual(error([0xa2, 0xff, 0xfe]), .invalidUTF8(at: 1))
        XCTAssertEqual(error([0x01, 0x02]), .trailingBytes(1))
        XCTAssertEqual(error([]), .truncated(at: 0))
        var limits = DecodingLimits()
        limits.maxElements = 10
        XCTAssertThrowsError(try MessagePack.decode(MessagePack.encode(.array([MessagePackValue](repeating: .nil, count: 11))), limits: limits))
    }

    /// Each bound admits its own value and refuses one more (the hostile cases above sit far
    /// past them); the element bound counts entries in all containers together, and a map's
    /// declared count is checked against two bytes an entry.
    func testLimitsAdmitTheirOwnValueAndNotOneMore() {
        func decode(_ b: [UInt8], _ limits: DecodingLimits = .default) -> Result<MessagePackValue, WireError> {
            Result { try MessagePack.decode(b, limits: limits) }.mapError { $0 as! WireError }
        }
        let depth = DecodingLimits.default.maxDepth
        XCTAssertNoThrow(try decode([UInt8](repeating: 0x91, count: depth) + [0]).get(), "\(depth) nested arrays")
        XCTAssertEqual(decode([UInt8](repeating: 0x91, count: depth + 1) + [0]), .failure(.tooDeep(depth)))

        var limits = DecodingLimits()
        limits.maxElements = 10
        let fourAndFour: [UInt8] = [0x92, 0x94, 1, 2, 3, 4, 0x94, 1, 2, 3, 4]  // 2 + 4 + 4 entries
        XCTAssertNoThrow(try decode(fourAndFour, limits).get())
        let fourAndFive: [UInt8] = [0x92, 0x94, 1, 2, 3, 4, 0x95, 1, 2, 3, 4, 5]
        XCTAssertEqual(decode(fourAndFive, limits), .failure(.tooManyElements(10)))

        XCTAssertEqual(decode([0x83, 1, 2, 3, 4, 5]), .failure(.declaredLengthExceedsInput(declared: 3, remaining: 5)),
                       "a map of 3 entries needs at least 6 bytes")
        limits = DecodingLimits()
        limits.maxBytes = 3
        XCTAssertEqual(decode([0x92, 1, 2], limits), .success(.array([.int(1), .int(2)])))
        XCTAssertEqual(decode([0x93, 1, 2, 3], limits), .failure(.tooLarge(4)))
    }

    func testFuzzNeverCrashes() {
        var state: UInt64 = 42
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        let valid = MessagePack.encode(.map([(.string("a"), .array([.int(1), .string("bc"), .binary([9, 9])])), (.string("d"), .float(2))]))
        for i in 0..<5000 {
            var b: [UInt8]
            if i % 2 == 0 {
                b = (0..<Int(next() % 40)).map { _ in UInt8(next() & 0xff) }
            } else {
                b = valid
                for _ in 0...(next() % 4) { b[Int(next() % UInt64(b.count))] = UInt8(next() & 0xff) }
            }
            _ = try? MessagePack.decode(b)
        }
    }
}
