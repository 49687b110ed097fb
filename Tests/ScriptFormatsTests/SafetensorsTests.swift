import Foundation
import XCTest
@testable import ScriptFormats

final class SafetensorsTests: XCTestCase {
    private func build(_ header: String, data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        var n = UInt64(h.count)
        var out: [UInt8] = []
        for _ in 0..<8 { out.append(UInt8(n & 0xff)); n >>= 8 }
        return out + h + data
    }

    private func problem(_ bytes: [UInt8], names: [String]? = nil) -> FormatError.Problem? {
        do { _ = try Safetensors.decode(bytes, name: "m.safetensors", names: names); return nil }
        catch let e as FormatError { return e.problem } catch { return nil }
    }

    func testRoundTripAndPickByName() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Safetensors.write([("a", [1, 2, 3, 4], [2, 2]), ("b", [5], [1])], to: path)
        XCTAssertEqual(try Safetensors.tensorNames(path: path), ["a", "b"])
        let only = try Safetensors.read(path: path, names: ["b"])
        XCTAssertEqual(Array(only.keys), ["b"]); XCTAssertEqual(only["b"]?.values, [5])
        XCTAssertEqual(try Safetensors.read(path: path)["a"]?.shape, [2, 2])
    }

    /// Through a pipe: read to the furthest offset its header names, the same tensors as from
    /// the file; a longer stream is refused.
    func testStreamsAreReadToTheSizeTheirHeaderDeclares() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Safetensors.write([("a", (0..<4000).map(Float.init), [1000, 4]), ("b", [5], [1])], to: path)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(try NpyTests.throughPipe(bytes) { try Safetensors.read(path: $0) }, try Safetensors.read(path: path))
        XCTAssertThrowsError(try NpyTests.throughPipe(bytes + [1, 2]) { try Safetensors.read(path: $0) }) {
            XCTAssertEqual(($0 as? FormatError)?.problem, .longerThanDeclared(bytes.count))
        }
    }

    func testHalfTypes() throws {
        let bytes = build(#"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"__metadata__":{"x":"y"}}"#,
                          data: [0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F])
        let t = try Safetensors.decode(bytes, name: "m", names: nil)
        XCTAssertEqual(t["h"]?.values, [1, -2]); XCTAssertEqual(t["b"]?.values, [1])
    }

    /// The element types an unsupported one's error names are the ones read: each decodes.
    func testTheTypesAnErrorNamesAreRead() throws {
        let sizes = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8]
        for dtype in Safetensors.readTypes.split(separator: ", ").map(String.init) {
            let size = try XCTUnwrap(sizes[dtype], dtype)
            let header = #"{"a":{"dtype":"\#(dtype)","shape":[2],"data_offsets":[0,\#(2 * size)]}}"#
            let t = try Safetensors.decode(build(header, data: [UInt8](repeating: 0, count: 2 * size)), name: "m", names: nil)
            XCTAssertEqual(t["a"]?.values, [0, 0], dtype)
        }
    }

    func testBadFiles() {
        XCTAssertEqual(problem([1, 2, 3]), .truncated)
        XCTAssertEqual(problem([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 123]), .headerTooLarge(0xffff_ffff))
        if case .malformedHeader? = problem(build("not json", data: [])) {} else { XCTFail() }
        XCTAssertEqual(problem(build(#"{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}"#, data: [0])), .unsupportedDType("I8", read: Safetensors.readTypes))
        if case .malformedHeader? = problem(build(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0])) {} else { XCTFail("past end") }
        XCTAssertEqual(problem(build(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])), .sizeMismatch(expected: 8, actual: 4))
        XCTAssertEqual(problem(build(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, data: [UInt8](repeating: 0, count: 6))),
                       .overlappingOffsets("a", "b"))
        XCTAssertEqual(problem(build(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), names: ["z"]),
                       .tensorNotFound("z", available: ["a"]))
    }

    /// The tensors' byte ranges must tile the data exactly, each as long as its shape says: a
    /// gap, bytes after the last tensor and a range longer than the shape are refused (the
    /// cases above only had ranges too short or overlapping), as are shapes with a negative
    /// dimension or whose element count overflows.
    func testRangesTileTheDataExactlyAndShapesAreSane() {
        let zeros = [UInt8](repeating: 0, count: 12)
        XCTAssertEqual(problem(build(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, data: zeros)),
                       .overlappingOffsets("a", "b"), "a gap between tensors")
        XCTAssertEqual(problem(build(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: Array(zeros.prefix(8)))),
                       .overlappingOffsets("a", "(end)"), "bytes after the last tensor")
        XCTAssertEqual(problem(build(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#, data: Array(zeros.prefix(8)))),
                       .sizeMismatch(expected: 4, actual: 8), "more bytes than the shape")
        XCTAssertEqual(problem(build(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: Array(zeros.prefix(4)))),
                       .malformedHeader("tensor 'a' has a negative dimension"))
        XCTAssertEqual(problem(build(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: Array(zeros.prefix(4)))),
                       .malformedHeader("tensor 'a' shape overflows"))
    }
}
