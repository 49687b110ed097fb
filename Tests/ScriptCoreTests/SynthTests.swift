import Foundation
import XCTest
@testable import ScriptSynth

/// The synthetic generator: same bytes for the same spec, the promised shapes and layouts, and
/// ground truth that makes the requests hard in the intended ways.
final class SynthTests: XCTestCase {
    // MARK: Determinism

    func testSameSpecGivesSameBytesOtherSeedOtherBytes() {
        for kind in SampleKind.allCases {
            let a = SampleGenerator.make(.small(kind, seed: 3)), b = SampleGenerator.make(.small(kind, seed: 3))
            XCTAssertEqual(a.features, b.features)
            XCTAssertEqual(a.embeddings, b.embeddings)
            XCTAssertEqual(a.query, b.query)
            XCTAssertEqual(a.objectOfToken, b.objectOfToken)
            XCTAssertEqual(a.shards, b.shards)
            XCTAssertEqual(a.queryAboutTarget, b.queryAboutTarget)
            let c = SampleGenerator.make(.small(kind, seed: 4))
            XCTAssertNotEqual(a.features, c.features)
            XCTAssertNotEqual(a.query, c.query)
        }
        XCTAssertNotEqual(SampleGenerator.make(.small(.image, seed: 1)).features,
                          SampleGenerator.make(SampleSpec(kind: .anyres, seed: 1, units: 1, tokensPerUnit: 144, featureDim: 128,
                                                          embeddingDim: 64, queryTokens: 8, segmentFrames: 1)).features,
                          "kinds draw from different streams")
    }

    /// The bytes of a fixed spec, pinned: the generator uses integer and basic IEEE arithmetic
    /// only, so this holds on every machine. If it fails after an intended change to the
    /// generator, update the constant; if it fails on one platform only, the promise is broken.
    func testBytesArePinned() {
        let s = SampleGenerator.make(.small(.image, seed: 1))
        let print = Self.fingerprint(s.features) ^ Self.fingerprint(s.embeddings) &* 3 ^ Self.fingerprint(s.query) &* 5
        XCTAssertEqual(print, Self.pinned, "synthetic bytes changed: now 0x\(String(print, radix: 16))")
    }

    static let pinned: UInt64 = 0x4c4a_ac1c_76ce_662e

    /// Every kind in every scenario, pinned too (features, embeddings, query, which object each
    /// token shows, and the ground truth): the evaluation's inputs cannot change unnoticed.
    func testEveryKindAndScenarioIsPinned() {
        var now: [String: UInt64] = [:]
        for kind in SampleKind.allCases {
            for scenario in SampleScenario.allCases {
                var spec = SampleSpec.small(kind, seed: 2)
                spec.scenario = scenario
                if kind == .video { spec.units = 64 }
                let s = SampleGenerator.make(spec)
                let objects = s.objectOfToken.map { Float($0) } + s.targetObjects.map { Float($0) }
                now["\(kind)/\(scenario.rawValue)"] = Self.fingerprint(s.features) ^ Self.fingerprint(s.embeddings) &* 3
                    ^ Self.fingerprint(s.query) &* 5 ^ Self.fingerprint(objects) &* 7
            }
        }
        let changed = now.keys.sorted().filter { now[$0] != Self.pinnedScenes[$0] }
        XCTAssertEqual(changed, [], "synthetic bytes changed: now " + changed.map { "\($0) 0x\(String(now[$0]!, radix: 16))" }.joined(separator: ", "))
    }

    /// A brief target is video's: images and AnyRes are their standard scene in it.
    static let pinnedScenes: [String: UInt64] = [
        "anyres/brief-target": 0x49fd_903f_e4da_cdf5,
        "anyres/small-targets": 0xaf0f_b880_2e91_9fc8,
        "anyres/standard": 0x49fd_903f_e4da_cdf5,
        "anyres/two-objects": 0x425b_2690_4ec8_5d16,
        "image/brief-target": 0x0361_d207_b0ae_5b2d,
        "image/small-targets": 0xb192_bc65_023a_54e5,
        "image/standard": 0x0361_d207_b0ae_5b2d,
        "image/two-objects": 0x70e2_b4ad_52ec_51d9,
        "video/brief-target": 0xa494_9fbe_6676_2661,
        "video/small-targets": 0x67b5_bdf8_865c_4b61,
        "video/standard": 0x8674_32ec_793f_ba15,
        "video/two-objects": 0x5d2e_91bc_828d_631b,
    ]

    static func fingerprint(_ values: [Float]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01B3 }
        return h
    }

    func testNormalsAreStandard() {
        var rng = SynthRandom(seed: 9)
        let z = rng.normals(200_000)
        let mean = z.reduce(0) { $0 + Double($1) } / Double(z.count)
        let variance = z.reduce(0) { $0 + Double($1) * Double($1) } / Double(z.count) - mean * mean
        let kurtosis = z.reduce(0) { $0 + Double($1 * $1) * Double($1 * $1) } / Double(z.count) / (variance * variance)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.01)
        XCTAssertEqual(kurtosis, 3, accuracy: 0.05)
        XCTAssertEqual(Double(z.filter { abs($0) > 1.96 }.count) / Double(z.count), 0.05, accuracy: 0.003)
    }

    // MARK: Shapes and layouts

    func testShapesPerKind() {
        for kind in SampleKind.allCases {
            let s = SampleGenerator.make(.small(kind, seed: 1))
            XCTAssertEqual(s.n, s.spec.units * s.spec.tokensPerUnit)
            XCTAssertEqual(s.features.count, s.n * s.featureDim)
            XCTAssertEqual(s.embeddings.count, s.n * s.embeddingDim)
            XCTAssertEqual(s.query.count, s.spec.queryTokens * s.embeddingDim)
            XCTAssertEqual(s.objectOfToken.count, s.n)
            XCTAssertEqual(s.units, (0..<s.spec.units).map { ($0 * s.spec.tokensPerUnit)..<(($0 + 1) * s.spec.tokensPerUnit) })
            XCTAssertTrue(s.features.allSatisfy { $0.isFinite } && s.embeddings.allSatisfy { $0.isFinite } && s.query.allSatisfy { $0.isFinite })
            assertTiles(s.shards, s.n)
            switch kind {
            case .image: XCTAssertEqual(s.shards, [0..<s.n])
            case .anyres: XCTAssertEqual(s.shards, s.units)
            case .video:
                XCTAssertEqual(s.shards.count, (s.spec.units + s.spec.segmentFrames - 1) / s.spec.segmentFrames)
                XCTAssertTrue(s.shards.allSatisfy { $0.count == s.spec.segmentFrames * s.spec.tokensPerUnit })
            }
        }
        let image = SampleSpec.defaults(for: .image, seed: 1), anyres = SampleSpec.defaults(for: .anyres, seed: 1)
        let video = SampleSpec.defaults(for: .video, seed: 1)
        XCTAssertEqual([image.units, image.tokensPerUnit, image.featureDim, image.embeddingDim], [1, 576, 4096, 1024])
        XCTAssertEqual([anyres.units, anyres.tokensPerUnit, anyres.featureDim, anyres.embeddingDim], [5, 576, 4096, 1024])
        XCTAssertEqual([video.units, video.tokensPerUnit, video.featureDim, video.embeddingDim, video.segmentFrames], [64, 196, 3584, 1152, 8])
        let full = SampleGenerator.make(image)
        XCTAssertEqual(full.features.count, 576 * 4096)
        XCTAssertEqual(full.query.count, 16 * 1024)
    }

    func testOddShapesStillTile() {
        // Non-square units, a last segment shorter than the others, narrow widths, no query.
        var spec = SampleSpec.small(.video, seed: 2)
        spec.units = 7; spec.tokensPerUnit = 10; spec.segmentFrames = 3; spec.featureDim = 5; spec.embeddingDim = 3
        spec.queryTokens = 0
        let s = SampleGenerator.make(spec)
        XCTAssertEqual(s.n, 70)
        XCTAssertEqual(s.shards, [0..<30, 30..<60, 60..<70])
        XCTAssertEqual(s.query, [])
        XCTAssertTrue(s.features.allSatisfy { $0.isFinite })
        for kind in SampleKind.allCases {
            var one = SampleSpec.small(kind, seed: 5)
            one.units = 1; one.tokensPerUnit = 1; one.queryTokens = 1
            let r = SampleGenerator.make(one)
            assertTiles(r.shards, 1)
            XCTAssertEqual(r.queryAboutTarget, [0])
        }
    }

    // MARK: Ground truth

    func testTargetIsPresentAndSmall() {
        for seed: UInt64 in 1...6 {
            for kind in SampleKind.allCases {
                let s = SampleGenerator.make(.small(kind, seed: seed))
                let share = Double(count(s.targetMask)) / Double(s.n)
                XCTAssertGreaterThan(share, 0, "\(kind) \(seed)")
                XCTAssertLessThan(share, 0.06, "\(kind) \(seed)")
                XCTAssertFalse(s.distractorObjects.contains(s.targetObject))
                XCTAssertEqual(s.distractorObjects.count, 2)
            }
            // Real shapes (narrow widths: the layout does not depend on them): 1-3% of an image.
            let image = SampleGenerator.make(narrow(.defaults(for: .image, seed: seed)))
            XCTAssertTrue((0.008...0.035).contains(Double(count(image.targetMask)) / Double(image.n)), "image \(seed)")
            // Text and logos: objects of 2 to 6 tokens.
            let objects = Dictionary(grouping: image.objectOfToken.filter { $0 >= 0 }, by: { $0 }).mapValues(\.count)
            XCTAssertGreaterThanOrEqual(objects.values.filter { (2...6).contains($0) }.count, 2, "image \(seed): \(objects)")
        }
    }

    func testVideoTargetIsOnScreenForAFewConsecutiveFramesAndMoves() {
        for seed: UInt64 in 1...5 {
            let spec = narrow(.defaults(for: .video, seed: seed))
            let s = SampleGenerator.make(spec)
            let tokens = s.targetMask.indices.filter { s.targetMask[$0] }
            let frames = Set(tokens.map { $0 / spec.tokensPerUnit }).sorted()
            XCTAssertGreaterThanOrEqual(frames.count, 2, "seed \(seed)")
            XCTAssertLessThanOrEqual(frames.count, spec.units / 8, "seed \(seed): on screen for a few frames only")
            XCTAssertEqual(frames.last! - frames.first! + 1, frames.count, "seed \(seed): consecutive frames")
            // It moves: its centre shifts by a token or more from its first frame to its last.
            let width = spec.gridSize.width
            func centre(_ f: Int) -> (Double, Double) {
                let local = tokens.filter { $0 / spec.tokensPerUnit == f }.map { $0 % spec.tokensPerUnit }
                return (Double(local.map { $0 % width }.reduce(0, +)) / Double(local.count),
                        Double(local.map { $0 / width }.reduce(0, +)) / Double(local.count))
            }
            let a = centre(frames.first!), b = centre(frames.last!)
            XCTAssertGreaterThanOrEqual(((a.0 - b.0) * (a.0 - b.0) + (a.1 - b.1) * (a.1 - b.1)).squareRoot(), 1, "seed \(seed)")
        }
        for seed: UInt64 in 1...5 {
            let s = SampleGenerator.make(.small(.video, seed: seed))
            let frames = Set(s.targetMask.indices.filter { s.targetMask[$0] }.map { $0 / s.spec.tokensPerUnit })
            XCTAssertLessThanOrEqual(frames.count, s.spec.units / 4, "small video, seed \(seed)")
        }
    }

    func testTargetIsTheMostQueryRelevantAndLookAlikesFairlyRelevant() {
        for kind in SampleKind.allCases {
            for seed: UInt64 in 1...4 {
                let s = SampleGenerator.make(.small(kind, seed: seed))
                XCTAssertFalse(s.queryAboutTarget.isEmpty)
                XCTAssertTrue(Set(s.queryAboutTarget).isDisjoint(with: s.queryAboutDistractor))
                XCTAssertLessThanOrEqual(s.queryAboutTarget.count, s.spec.queryTokens / 3, "only a few query tokens are about the target")
                let e = rowsNormalised(s.embeddings, s.embeddingDim), q = rowsNormalised(s.query, s.embeddingDim)
                // Relevance to the query's target tokens: target > look-alikes > background.
                let relevance = (0..<s.n).map { i in mean(s.queryAboutTarget.map { dot(e[i], q[$0]) }) }
                let target = tokens(s) { $0 == s.targetObject }, background = tokens(s) { $0 < 0 }
                let lookAlikes = tokens(s) { s.distractorObjects.contains($0) }
                let (rt, rd, rb) = (mean(target.map { relevance[$0] }), mean(lookAlikes.map { relevance[$0] }), mean(background.map { relevance[$0] }))
                XCTAssertGreaterThan(rt, rb + 0.25, "\(kind) \(seed)")
                XCTAssertGreaterThan(rt, rd + 0.05, "\(kind) \(seed)")
                XCTAssertGreaterThan(rd, rb + 0.04, "\(kind) \(seed)")
                // Most target tokens rank among the top 3x the target's size.
                let top = Set((0..<s.n).sorted { relevance[$0] > relevance[$1] }.prefix(3 * target.count))
                XCTAssertGreaterThanOrEqual(Double(target.filter { top.contains($0) }.count) / Double(target.count), 0.5, "\(kind) \(seed)")
                // Function words: near-irrelevant to the image, unlike the target's words.
                let words = (0..<s.spec.queryTokens).filter { !s.queryAboutTarget.contains($0) && !s.queryAboutDistractor.contains($0) }
                let toImage = { (j: Int) in mean((0..<s.n).map { dot(e[$0], q[j]) }) }
                XCTAssertLessThan(mean(words.map(toImage)), mean(s.queryAboutTarget.map(toImage)) - 0.05, "\(kind) \(seed)")
            }
        }
    }

    func testLookAlikesResembleTheTargetAndBackgroundsAreRedundant() {
        for kind in SampleKind.allCases {
            for seed: UInt64 in 1...4 {
                let s = SampleGenerator.make(.small(kind, seed: seed))
                let x = rowsNormalised(s.features, s.featureDim)
                let target = tokens(s) { $0 == s.targetObject }, background = tokens(s) { $0 < 0 }
                let lookAlikes = tokens(s) { s.distractorObjects.contains($0) }
                let others = tokens(s) { $0 >= 0 && $0 != s.targetObject && !s.distractorObjects.contains($0) }
                func similarity(_ a: [Int], _ b: [Int]) -> Float { mean(a.flatMap { i in b.map { dot(x[i], x[$0]) } }) }
                let toLookAlikes = similarity(target, lookAlikes)
                XCTAssertGreaterThan(toLookAlikes, similarity(target, background) + 0.05, "\(kind) \(seed)")
                XCTAssertGreaterThan(toLookAlikes, similarity(target, others) + 0.05, "\(kind) \(seed)")
                // Neighbouring background tokens are near-duplicates.
                let width = s.spec.gridSize.width
                let pairs = background.filter { $0 % s.spec.tokensPerUnit % width != width - 1 && s.objectOfToken[$0 + 1] < 0 }
                XCTAssertGreaterThan(mean(pairs.map { dot(x[$0], x[$0 + 1]) }), 0.7, "\(kind) \(seed)")
                XCTAssertGreaterThan(Double(background.count) / Double(s.n), 0.4, "\(kind) \(seed): mostly background")
            }
        }
    }

    /// Generation time of the largest default (printed, not asserted).
    func testFullVideoGenerationTime() {
        let start = DispatchTime.now().uptimeNanoseconds
        let s = SampleGenerator.make(.defaults(for: .video, seed: 1))
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        print(String(format: "SynthTests: video default %d x %d (+ %d x %d embeddings) generated in %.3f s",
                     s.n, s.featureDim, s.n, s.embeddingDim, seconds))
        XCTAssertEqual(s.features.count, 12_544 * 3_584)
    }
}

// MARK: Helpers

private func narrow(_ spec: SampleSpec) -> SampleSpec {
    var s = spec
    s.featureDim = 16; s.embeddingDim = 8
    return s
}

private func assertTiles(_ shards: [Range<Int>], _ n: Int, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(shards.first?.lowerBound, 0, file: file, line: line)
    XCTAssertEqual(shards.last?.upperBound, n, file: file, line: line)
    XCTAssertTrue(shards.allSatisfy { !$0.isEmpty }, file: file, line: line)
    XCTAssertTrue(zip(shards, shards.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, file: file, line: line)
}

private func count(_ mask: [Bool]) -> Int { mask.filter { $0 }.count }

private func tokens(_ s: SyntheticRequest, where predicate: (Int32) -> Bool) -> [Int] {
    s.objectOfToken.indices.filter { predicate(s.objectOfToken[$0]) }
}

private func rowsNormalised(_ values: [Float], _ width: Int) -> [[Float]] {
    stride(from: 0, to: values.count, by: width).map { start in
        let row = Array(values[start..<(start + width)])
        let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? row.map { $0 / norm } : row
    }
}

private func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

private func mean(_ values: [Float]) -> Float { values.isEmpty ? 0 : values.reduce(0, +) / Float(values.count) }
