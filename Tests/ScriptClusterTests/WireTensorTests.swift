import XCTest
import ScriptTransport
import ScriptCore
import ScriptFormats
@testable import ScriptProtocol
@testable import ScriptCoordinator
@testable import ScriptWorker
@testable import ScriptClient

/// Features kept in wire form on the coordinator: non-finite values found from the bits, rows
/// decoded exactly as a whole decode would.
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

    func testFirstNonFiniteInEveryDtype() {
        let rows = 700, cols = 33  // more than one scan block
        let largest: [TensorCodec.WireDType: Float] = [.f32: .greatestFiniteMagnitude, .f16: 65504, .bf16: Float(bitPattern: 0x7F7F_0000)]
        for dtype in [TensorCodec.WireDType.f32, .f16, .bf16] {
            var values = (0..<(rows * cols)).map { Float($0 % 17) - 8 }
            values[5] = largest[dtype]!
            values[6] = -largest[dtype]!
            XCTAssertNil(tensor(dtype, rows: rows, cols: cols, values: values).firstNonFinite(), "\(dtype): finite extremes")
            for (bad, position) in [(Float.nan, 9_001), (Float.infinity, 15_000), (-Float.infinity, rows * cols - 1)] {
                var v = values
                v[position] = bad
                v[rows * cols - 1] = position == rows * cols - 1 ? bad : v[rows * cols - 1]
                XCTAssertEqual(tensor(dtype, rows: rows, cols: cols, values: v).firstNonFinite(), position, "\(dtype) \(bad)")
            }
        }
    }

    func testParallelScanReportsTheFirstHitAcrossChunks() {
        let rows = 3000, cols = 1000  // several scan chunks
        var values = [Float](repeating: 0.5, count: rows * cols)
        values[2_500_123] = .nan
        values[1_200_007] = .infinity
        values[2_999_999] = .nan
        let t = tensor(.f16, rows: rows, cols: cols, values: values)
        XCTAssertEqual(t.firstNonFinite(pool: ComputePool(width: 3)), 1_200_007)
        XCTAssertEqual(t.firstNonFinite(pool: .serial), 1_200_007)
    }

    func testTensorsStartingAtAnyByteAreReadAlike() {
        // Received frames can start at odd addresses inside ZeroMQ's buffers.
        let rows = 40, cols = 21
        var values = (0..<(rows * cols)).map { Float($0 % 13) / 4 - 1 }
        values[777] = .nan
        for dtype in [TensorCodec.WireDType.f32, .f16, .bf16] {
            let aligned = tensor(dtype, rows: rows, cols: cols, values: values)
            let padded = Frame([0x55] + aligned.bytes.bytes + [0x55]).slice(1..<(1 + aligned.bytes.count))
            let odd = WireTensor(dtype: dtype, rows: rows, cols: cols, bytes: padded)
            XCTAssertEqual(odd.firstNonFinite(), 777, "\(dtype)")
            XCTAssertEqual(odd.rows([3, 39, 0]).values.map(\.bitPattern), aligned.rows([3, 39, 0]).values.map(\.bitPattern), "\(dtype)")
            XCTAssertEqual(odd.bytes(ofRows: 2..<5), aligned.bytes(ofRows: 2..<5))
        }
    }

    func testRowsDecodeExactlyAsTheWholeMatrix() {
        let rows = 50, cols = 19
        let values = (0..<(rows * cols)).map { Float(sin(Double($0))) * 3 }
        for dtype in [TensorCodec.WireDType.f32, .f16, .bf16] {
            let t = tensor(dtype, rows: rows, cols: cols, values: values)
            let picks = [49, 0, 7, 7, 23]
            XCTAssertEqual(t.rows(picks), t.matrix().gatherRows(picks), "\(dtype)")
            XCTAssertEqual(t.bytes(ofRows: 10..<12).count, 2 * cols * (dtype == .f32 ? 4 : 2))
        }
    }
}
