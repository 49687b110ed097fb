import XCTest
import ScriptCore
@testable import ScriptSynth

final class SynthTests: XCTestCase {
    func testSameSpecSameBytesOtherSeedOtherBytes() {
        for kind in SampleKind.allCases {
            let a = SampleGenerator.make(.small(kind, seed: 3)), b = SampleGenerator.make(.small(kind, seed: 3))
            XCTAssertEqual(a.features, b.features); XCTAssertEqual(a.embeddings, b.embeddings); XCTAssertEqual(a.query, b.query)
            XCTAssertEqual(a.objectOfToken, b.objectOfToken)
            XCTAssertNotEqual(a.features, SampleGenerator.make(.small(kind, seed: 4)).features)
        }
    }

    func testShapesAndLayouts() {
        for kind in SampleKind.allCases {
            let s = SampleGenerator.make(.small(kind, seed: 1))
            XCTAssertEqual(s.features.count, s.n * s.featureDim)
            XCTAssertEqual(s.embeddings.count, s.n * s.embeddingDim)
            XCTAssertEqual(s.query.count, s.spec.queryTokens * s.embeddingDim)
            XCTAssertNoThrow(try PruneRequest.validate(shards: s.shards, tokens: s.n))
            XCTAssertEqual(s.units.count, s.spec.units)
            XCTAssertEqual(s.shards.count, kind == .image ? 1 : (kind == .anyres ? 5 : (s.spec.units + s.spec.segmentFrames - 1) / s.spec.segmentFrames))
        }
        XCTAssertEqual(SampleSpec.defaults(for: .anyres, seed: 1).units * SampleSpec.defaults(for: .anyres, seed: 1).tokensPerUnit, 2880)
        XCTAssertEqual(SampleSpec.defaults(for: .video, seed: 1).units * SampleSpec.defaults(for: .video, seed: 1).tokensPerUnit, 12544)
    }

    func testTargetIsSmallAndInVideoBriefly() {
        for seed: UInt64 in 1...5 {
            let img = SampleGenerator.make(.defaults(for: .image, seed: seed))
            let t = img.targetMask.filter { $0 }.count
            XCTAssertGreaterThan(t, 0); XCTAssertLessThan(Double(t) / Double(img.n), 0.05)
            var spec = SampleSpec.defaults(for: .video, seed: seed)
            spec.featureDim = 32; spec.embeddingDim = 16
            let v = SampleGenerator.make(spec)
            let frames = Set(v.targetMask.indices.filter { v.targetMask[$0] }.map { $0 / spec.tokensPerUnit })
            XCTAssertGreaterThan(frames.count, 0)
            XCTAssertLessThanOrEqual(frames.count, spec.units / 8, "on screen for a few frames only")
        }
    }

    func testTargetIsMoreQueryRelevantThanBackgroundAndDistractorsLookLikeIt() {
        let s = SampleGenerator.make(.defaults(for: .image, seed: 2))
        let e = Matrix(rows: s.n, cols: s.embeddingDim, values: s.embeddings).rowNormalized()
        let x = Matrix(rows: s.n, cols: s.featureDim, values: s.features).rowNormalized()
        let q = Matrix(rows: s.spec.queryTokens, cols: s.embeddingDim, values: s.query).rowNormalized()
        func dot(_ a: Matrix, _ i: Int, _ b: Matrix, _ j: Int) -> Float { (0..<a.cols).reduce(0) { $0 + a.values[i * a.cols + $1] * b.values[j * b.cols + $1] } }
        func mean(_ xs: [Float]) -> Float { xs.reduce(0, +) / Float(max(1, xs.count)) }
        let target = s.targetMask.indices.filter { s.targetMask[$0] }
        let background = s.objectOfToken.indices.filter { s.objectOfToken[$0] < 0 }
        let distractor = s.objectOfToken.indices.filter { s.objectOfToken[$0] == 1 }
        XCTAssertGreaterThan(mean(target.map { dot(e, $0, q, 0) }), mean(background.map { dot(e, $0, q, 0) }) + 0.2)
        let t0 = target[0]
        XCTAssertGreaterThan(mean(distractor.map { dot(x, $0, x, t0) }), mean(background.map { dot(x, $0, x, t0) }) + 0.2)
    }
}
