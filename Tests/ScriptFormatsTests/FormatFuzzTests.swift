import XCTest
@testable import ScriptFormats

/// Files damaged at random (bytes flipped or set, cut short, grown; seeded): the readers answer
/// with a value or a `FormatError`, never a crash or another error.
final class FormatFuzzTests: XCTestCase {
    private func damaged(_ bytes: [UInt8], _ rng: inout Seeded) -> [UInt8] {
        var b = bytes
        switch rng.next() % 4 {
        case 0:
            for _ in 0...(rng.next() % 4) { b[Int(rng.next() % UInt64(b.count))] ^= UInt8(1 << (rng.next() % 8)) }
        case 1:
            for _ in 0...(rng.next() % 4) { b[Int(rng.next() % UInt64(min(b.count, 160)))] = UInt8(truncatingIfNeeded: rng.next()) }
        case 2:
            b = Array(b.prefix(Int(rng.next() % UInt64(b.count))))
        default:
            b += [UInt8](repeating: UInt8(truncatingIfNeeded: rng.next()), count: Int(rng.next() % 9) + 1)
        }
        return b
    }

    private func survives(_ valid: [UInt8], seed: UInt64, read: ([UInt8]) throws -> Void) -> (read: Int, refused: Int) {
        var rng = Seeded(state: seed)
        var counts = (read: 0, refused: 0)
        for i in 0..<3000 {
            do {
                try read(damaged(valid, &rng))
                counts.read += 1
            } catch is FormatError {
                counts.refused += 1
            } catch {
                XCTFail("damage \(i): \(error) is not a FormatError")
            }
        }
        return counts
    }

    func testDamagedNpyFilesAreReadOrRefusedInWords() {
        let valid = Npy.encode((0..<24).map { Float($0) / 3 }, shape: [4, 6])
        let c = survives(valid, seed: 3) { _ = try Npy.decode($0, name: "x.npy") }
        XCTAssertGreaterThan(c.read, 0)
        XCTAssertGreaterThan(c.refused, 1000)
    }

    func testDamagedSafetensorsFilesAreReadOrRefusedInWords() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Safetensors.write([("a", (0..<12).map { Float($0) }, [3, 4]), ("b", [1, 2], [2])], to: path)
        let valid = [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: path)))
        let c = survives(valid, seed: 4) { _ = try Safetensors.decode($0, name: "x.safetensors", names: nil) }
        XCTAssertGreaterThan(c.read, 0)
        XCTAssertGreaterThan(c.refused, 1000)
    }
}

/// A small seeded generator (this test target does not link the core's).
struct Seeded {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state >> 11
    }
}
