import XCTest
import ScriptTransport
import ScriptCore
import ScriptFormats
import ScriptWire
@testable import ScriptProtocol

/// Tensors kept in wire form: rows decoded exactly as a whole decode would, slices and gathers
/// that keep the bytes as they came.
final class WireTensorTests: XCTestCase {
    private func tensor(_ dtype: TensorCodec.WireDType, rows: Int, cols: Int, values: [Float]) -> WireTensor {
        let bytes: [UInt8]
        switch dtype {
        case .f32: bytes = TensorCodec.bytes(values)
        case .f16: bytes = TensorCodec.halfBytes(values)
        case .bf16: bytes = values.flatMap { v -> [UInt8] in let h = UInt16(v.bitPattern >> 16); return [UInt8(h & 0xFF), UInt8(h >> 8)] }
        }
        return WireTensor(dtype: dtype, rows: rows, cols: cols, bytes: Frame(bytes))
    }

    func testTensorsStartingAtAnyByteAreReadAlike() {
        // Received frames can start at odd addresses inside ZeroMQ's buffers.
        let rows = 40, cols = 21
        let values = (0..<(rows * cols)).map { Float($0 % 13) / 4 - 1 }
        for dtype in [TensorCodec.WireDType.f32, .f16, .bf16] {
            let aligned = tensor(dtype, rows: rows, cols: cols, values: values)
            let padded = Frame([0x55] + aligned.bytes.bytes + [0x55]).slice(1..<(1 + aligned.bytes.count))
            let odd = WireTensor(dtype: dtype, rows: rows, cols: cols, bytes: padded)
            XCTAssertEqual(odd.matrix().values.map(\.bitPattern), aligned.matrix().values.map(\.bitPattern), "\(dtype)")
            XCTAssertEqual(odd.gather([3, 39, 0]).matrix().values.map(\.bitPattern), aligned.gather([3, 39, 0]).matrix().values.map(\.bitPattern), "\(dtype)")
            XCTAssertEqual(odd.bytes(ofRows: 2..<5), aligned.bytes(ofRows: 2..<5))
        }
    }

    func testDecodingWithNormsGivesTheValuesAndNormsOfTwoPasses() {
        // Rows past one band (256) and not a multiple of the 4-row steps; a zero row, a row too
        // large for a Float sum of squares, a NaN and an infinity; odd byte addresses.
        let rows = 263, cols = 37
        var values = (0..<(rows * cols)).map { Float(sin(Double($0) * 0.7)) * 2 }
        for j in 0..<cols { values[5 * cols + j] = 0; values[9 * cols + j] = 6e4 }
        values[100 * cols + 3] = .nan
        values[262 * cols + 36] = .infinity
        for dtype in [TensorCodec.WireDType.f32, .f16, .bf16] {
            let aligned = tensor(dtype, rows: rows, cols: cols, values: values)
            let odd = WireTensor(dtype: dtype, rows: rows, cols: cols,
                                 bytes: Frame([7] + aligned.bytes.bytes).slice(1..<(1 + aligned.bytes.count)))
            let whole = odd.matrix()
            for width in [1, 2, 3] {
                let (m, norms) = odd.matrixWithInverseNorms(pool: ComputePool(width: width))
                XCTAssertEqual(m.values.map(\.bitPattern), whole.values.map(\.bitPattern), "\(dtype) width \(width)")
                XCTAssertEqual(norms.map(\.bitPattern), whole.rowInverseNorms().map(\.bitPattern), "\(dtype) width \(width)")
            }
            let norms = odd.matrixWithInverseNorms(pool: .serial).inverseNorms
            XCTAssertEqual(norms[5], 0)
            XCTAssertTrue(norms[9].isFinite && norms[9] > 0, "\(dtype): \(norms[9])")
            XCTAssertTrue(norms[100].isNaN && norms[262].isNaN, "\(dtype)")
        }
    }

    func testRowsDecodeExactlyAsTheWholeMatrix() {
        let rows = 50, cols = 19
        let values = (0..<(rows * cols)).map { Float(sin(Double($0))) * 3 }
        for dtype in [TensorCodec.WireDType.f32, .f16, .bf16] {
            let t = tensor(dtype, rows: rows, cols: cols, values: values)
            let picks = [49, 0, 7, 7, 23]
            XCTAssertEqual(t.gather(picks).matrix(), t.matrix().gatherRows(picks), "\(dtype)")
            XCTAssertEqual(t.bytes(ofRows: 10..<12).count, 2 * cols * (dtype == .f32 ? 4 : 2))
        }
    }

    func testGatherAndBandKeepTheBytesOfTheirRows() {
        let rows = 30, cols = 7
        let values = (0..<(rows * cols)).map { Float($0) / 8 - 3 }
        for dtype in [TensorCodec.WireDType.f32, .f16, .bf16] {
            let t = tensor(dtype, rows: rows, cols: cols, values: values)
            let g = t.gather([29, 3, 3, 0])
            XCTAssertEqual(g.matrix(), t.matrix().gatherRows([29, 3, 3, 0]), "\(dtype)")
            XCTAssertEqual(t.band(4..<9).matrix(), t.matrix().rows(4..<9), "\(dtype)")
            XCTAssertEqual(t.band(4..<9).bytes, t.bytes(ofRows: 4..<9))
        }
    }
    /// A `data` message names tensors in shared memory where the worker reads them in place (a
    /// band of the features at its own offset, no frame), and carries the bytes otherwise; a
    /// worker that does not read shared memory refuses the message saying where it is read; a
    /// reference that is not [process, descriptor, offset, PID namespace], or one beside a frame, is refused.
    func testADataMessageNamesSharedBytesWhereTheWorkerReadsThem() throws {
        let values = (0..<48).map { Float($0) / 8 }
        let whole = try tensor(.f32, rows: 12, cols: 4, values: values).inSharedMemory()
        let band = whole.band(3..<7)
        let m = DataMessage(ticket: Ticket.random(), data: ShardData(features: band, embeddings: nil))
        let shared = m.frames(sharing: true)
        XCTAssertEqual(shared.count, 1, "the envelope alone")
        XCTAssertEqual(m.frames().count, 2, "the bytes, to a worker on another host")
        let e = try Envelope.decode(shared[0])
        let reader: TensorCodec.SharedBytes = { try Frame.mapping($0, count: $1) }
        let read = try DataMessage.parse(e, frames: shared, limits: RequestLimits(), shared: reader)
        XCTAssertEqual(read.data.features.matrix().values, Array(values[12..<28]))
        XCTAssertThrowsError(try DataMessage.parse(e, frames: shared, limits: RequestLimits())) { error in
            XCTAssertEqual((error as? ProtocolError)?.code, .badRequest)
            XCTAssertTrue("\(error)".contains("features.shared: bytes in shared memory are read only by a worker whose data socket is a Unix socket (ipc://)"), "\(error)")
        }
        let at = try XCTUnwrap(band.bytes.sharedReference)
        let shortReference: [(String, MessagePackValue)] = [("shared", .array([.int(1), .int(2)]))]
        let withFrame: [(String, MessagePackValue)] = [("shared", .array([.int(Int64(at.pid)), .int(Int64(at.fd)), .int(0), .int(Int64(at.namespace))])), ("frame", .int(1))]
        for (descriptor, why) in [(shortReference, "features.shared [1, 2] is not [process, descriptor, offset, PID namespace]"),
                                  (withFrame, "features names both a frame and shared memory")] {
            let fields: [(String, MessagePackValue)] = [("dtype", .string("f32")), ("shape", .array([.int(4), .int(4)]))] + descriptor
            let bad = ProtocolVersion.header("data") + [("ticket", .binary(m.ticket.bytes)), ("features", Envelope.mapValue(fields))]
            let frames = [Frame(Envelope.encode(bad)), band.bytes]
            XCTAssertThrowsError(try DataMessage.parse(Envelope.decode(frames[0]), frames: frames, limits: RequestLimits(), shared: reader)) { error in
                XCTAssertEqual((error as? ProtocolError)?.code, .badTensor)
                XCTAssertTrue("\(error)".contains(why), "\(error)")
            }
        }
    }
}
