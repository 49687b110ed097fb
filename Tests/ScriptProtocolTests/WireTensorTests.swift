import XCTest
import ScriptTransport
import ScriptCore
import ScriptFormats
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
}
