import Foundation
import XCTest
@testable import ScriptFormats
import ScriptTestSupport

final class NpyTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func problem(_ bytes: [UInt8]) -> FormatError.Problem? {
        do { _ = try Npy.decode(bytes, name: "t.npy"); return nil } catch let e as FormatError { return e.problem } catch { return nil }
    }

    private func file(_ header: String, data: [UInt8] = [], version: UInt8 = 1) -> [UInt8] {
        var h = header
        while (10 + h.utf8.count + 1) % 64 != 0 { h += " " }
        h += "\n"
        return Npy.magic + [version, 0, UInt8(h.utf8.count & 0xff), UInt8(h.utf8.count >> 8)] + Array(h.utf8) + data
    }

    /// A feature matrix read from a file is megabytes written once: asked for in huge pages.
    func testAReadMatrixOfMegabytesIsAskedForInHugePages() throws {
        try XCTSkipUnless(MemoryMaps.hasHugePages, "this kernel has no transparent huge pages")
        let v = (0..<(1 << 22)).map { Float($0 % 251) }
        try Npy.write(v, shape: [1024, 4096], to: dir + "/big.npy")
        let t = try Npy.read(path: dir + "/big.npy")
        XCTAssertEqual(t.values, v)
        try t.values.withUnsafeBytes { bytes in
            let inside = try XCTUnwrap(MemoryMaps.hugePageInside(bytes), "16 MB holds a whole huge page")
            XCTAssertEqual(MemoryMaps.flags(at: inside)?.contains("hg"), true, "\(String(describing: MemoryMaps.flags(at: inside)))")
        }
    }

    /// The element types an unsupported one's error names are the ones read: each decodes (it
    /// named bf16, which no .npy file holds, and left out f64 and the integers it reads).
    func testTheTypesAnErrorNamesAreRead() throws {
        let e = FormatError(file: "t.npy", problem: problem(file("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", data: [UInt8](repeating: 0, count: 8)))!)
        XCTAssertEqual(e.description, "t.npy has unsupported element type '<c8' (<f4, <f2, <f8, <i4, <i8 are read)")
        for descr in Npy.readTypes.split(separator: ", ") {
            let size = Int(descr.dropFirst(2))!
            let t = try Npy.decode(file("{'descr': '\(descr)', 'fortran_order': False, 'shape': (2,), }", data: [UInt8](repeating: 0, count: 2 * size)), name: "t.npy")
            XCTAssertEqual(t.values, [0, 0], "\(descr)")
        }
    }

    func testRoundTrips() throws {
        let v: [Float] = [0, 1.5, -2, 1e-3, 65504, -0.25]
        try Npy.write(v, shape: [2, 3], to: dir + "/a.npy")
        let t = try Npy.read(path: dir + "/a.npy")
        XCTAssertEqual(t.shape, [2, 3]); XCTAssertEqual(t.values, v); XCTAssertEqual(t.sourceDType, .f32)
        try Npy.writeFloat16(v, shape: [6], to: dir + "/h.npy")
        let h = try Npy.read(path: dir + "/h.npy")
        XCTAssertEqual(h.sourceDType, .f16); XCTAssertEqual(h.values, [0, 1.5, -2, 0.0010004044, 65504, -0.25])
        try Npy.writeInt64([3, -1, 7], shape: [3], to: dir + "/i.npy")
        XCTAssertEqual(try Npy.read(path: dir + "/i.npy").values, [3, -1, 7])
    }

    func testHalfAndBFloatBits() {
        XCTAssertEqual(HalfPrecision.float(fromFloat16Bits: 0x3C00), 1)
        XCTAssertEqual(HalfPrecision.float(fromFloat16Bits: 0xC000), -2)
        XCTAssertEqual(HalfPrecision.float(fromFloat16Bits: 0x7C00), .infinity)
        XCTAssertTrue(HalfPrecision.float(fromFloat16Bits: 0x7E00).isNaN)
        XCTAssertEqual(HalfPrecision.float(fromFloat16Bits: 0x0001), 0x1p-24)
        XCTAssertEqual(HalfPrecision.float(fromBFloat16Bits: 0x3F80), 1)
        for bits: UInt16 in [0x0000, 0x0001, 0x03FF, 0x0400, 0x3555, 0x3C00, 0x7BFF, 0x8001, 0xBC00, 0xFBFF] {
            XCTAssertEqual(HalfPrecision.float16Bits(from: HalfPrecision.float(fromFloat16Bits: bits)), bits)
        }
        XCTAssertEqual(HalfPrecision.float16Bits(from: 1e6), 0x7C00, "overflow to infinity")
    }

    func testHeaderErrors() {
        XCTAssertEqual(problem(Array("PK\u{3}\u{4}not numpy".utf8)), .badMagic)
        XCTAssertEqual(problem(Array(Npy.magic.prefix(4))), .badMagic)
        XCTAssertEqual(problem(Npy.magic + [9, 0, 0, 0]), .unsupportedVersion(major: 9, minor: 0))
        // Versions 2 and 3 ending inside their 4-byte length (read past the bytes' end before; a
        // debug build's bounds check traps on it).
        XCTAssertEqual(problem(Npy.magic + [2, 0, 5, 0, 0]), .truncated)
        XCTAssertEqual(problem(Npy.magic + [3, 0, 5]), .truncated)
        XCTAssertEqual(problem(Npy.magic + [1, 0, 0xff, 0xff] + [UInt8](repeating: 32, count: 10)), .headerTooLarge(65535))
        XCTAssertEqual(problem(file("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0])), .bigEndian(">f4"))
        XCTAssertEqual(problem(file("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0, 0, 0, 0, 0])), .unsupportedDType("<c8", read: Npy.readTypes))
        XCTAssertEqual(problem(file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", data: [UInt8](repeating: 0, count: 16))), .fortranOrder)
        XCTAssertEqual(problem(file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", data: [UInt8](repeating: 0, count: 12))), .sizeMismatch(expected: 16, actual: 12))
        XCTAssertEqual(problem(file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", data: [UInt8](repeating: 0, count: 8))), .sizeMismatch(expected: 4, actual: 8))
        if case .malformedHeader? = problem(file("{'descr': '<f4', 'shape': (1,), }", data: [0, 0, 0, 0])) {} else { XCTFail("missing key") }
        if case .malformedHeader? = problem(file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", data: [0, 0, 0, 0])) {} else { XCTFail("extra key") }
        if case .malformedHeader? = problem(file("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")) {} else { XCTFail("negative") }
        if case .malformedHeader? = problem(file("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }")) {} else { XCTFail("overflow") }
        // Dimensions each small enough to read whose product overflows (2^32 x 2^32).
        if case .malformedHeader? = problem(file("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }")) {} else { XCTFail("product overflow") }
        XCTAssertNil(problem(file("{ \"descr\" : '<f4' ,'fortran_order':False,'shape':(1, ) }", data: [0, 0, 128, 63])), "whitespace and quotes tolerated")
    }

    /// `bytes` through a pipe, read back through its `/dev/fd` path by `read` (as a shell's
    /// `/dev/stdin` or `<(...)` hands a file to a command).
    static func throughPipe<T>(_ bytes: [UInt8], _ read: (String) throws -> T) throws -> T {
        let pipe = Pipe()
        let writer = Thread {
            try? pipe.fileHandleForWriting.write(contentsOf: bytes)
            try? pipe.fileHandleForWriting.close()
        }
        writer.start()
        defer {
            // What the reader left, read, so the writer never writes into a closed pipe (SIGPIPE).
            _ = try? pipe.fileHandleForReading.readToEnd()
            try? pipe.fileHandleForReading.close()
        }
        return try read("/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)")
    }

    /// A pipe is read as far as its header declares: whole, it reads as the file does; longer,
    /// or endless (`/dev/zero`), it is refused saying why, never read on without end; a
    /// directory or a missing file says the system's reason.
    func testStreamsAreReadToTheSizeTheirHeaderDeclares() throws {
        let v = (0..<3000).map { Float($0) / 7 }
        let file = Npy.encode(v, shape: [1000, 3])
        XCTAssertEqual(try Self.throughPipe(file) { try Npy.read(path: $0) }, try Npy.decode(file, name: "x"))
        XCTAssertThrowsError(try Self.throughPipe(file + [0]) { try Npy.read(path: $0) }) {
            XCTAssertEqual(($0 as? FormatError)?.problem, .longerThanDeclared(file.count))
        }
        XCTAssertThrowsError(try Self.throughPipe(Array(file.dropLast(4))) { try Npy.read(path: $0) }) {
            XCTAssertEqual(($0 as? FormatError)?.problem, .sizeMismatch(expected: 12000, actual: 11996))
        }
        XCTAssertThrowsError(try Npy.read(path: "/dev/zero")) { XCTAssertEqual(($0 as? FormatError)?.problem, .badMagic) }
        XCTAssertThrowsError(try Npy.read(path: dir)) { XCTAssertEqual(($0 as? FormatError)?.problem, .unreadable("Is a directory")) }
    }

    func testMissingFileNamesIt() {
        XCTAssertThrowsError(try Npy.read(path: dir + "/nope.npy")) {
            XCTAssertEqual("\($0)", "\(self.dir)/nope.npy cannot be read: No such file or directory")
        }
    }

    func testReadsWhatNumpyWrites() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
        import numpy as np
        np.save('\(dir)/n32.npy', np.arange(6, dtype='<f4').reshape(2, 3) / 4)
        np.save('\(dir)/n16.npy', np.array([[1.5, -2], [0.1, 3]], dtype='<f2'))
        with open('\(dir)/v2.npy', 'wb') as f:
            np.lib.format.write_array(f, np.ones((3, 2), dtype='<f4'), version=(2, 0))
        """]
        p.standardError = FileHandle.nullDevice
        // The test command's dependencies include python3 with numpy (Scripts/install-deps.sh).
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "python3 with numpy is needed: run Scripts/install-deps.sh")
        guard p.terminationStatus == 0 else { return }
        XCTAssertEqual(try Npy.read(path: dir + "/n32.npy").values, [0, 0.25, 0.5, 0.75, 1, 1.25])
        let h = try Npy.read(path: dir + "/n16.npy")
        XCTAssertEqual(h.shape, [2, 2]); XCTAssertEqual(h.values, [1.5, -2, 0.099975586, 3])
        XCTAssertEqual(try Npy.read(path: dir + "/v2.npy").shape, [3, 2])
    }
}
