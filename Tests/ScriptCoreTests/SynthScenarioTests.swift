import XCTest
@testable import ScriptSynth

/// The harder synthetic cases: several small targets, a target in 2 of 64 frames, a query naming
/// two objects; and the standard scene's bytes untouched by them.
final class SynthScenarioTests: XCTestCase {
    func testStandardScenarioIsTheDefaultAndOtherScenariosChangeTheScene() {
        for kind in SampleKind.allCases {
            var spec = SampleSpec.small(kind, seed: 3)
            XCTAssertEqual(spec.scenario, .standard)
            let standard = SampleGenerator.make(spec)
            XCTAssertEqual(standard.targetObjects, [standard.targetObject])
            spec.scenario = kind == .video ? .briefTarget : .smallTargets
            var other = spec
            if kind == .video { other.units = 64 }
            XCTAssertNotEqual(SampleGenerator.make(other).objectOfToken, standard.objectOfToken, "\(kind)")
        }
    }

    func testSeveralSmallTargetsAreAllGroundTruthAndApart() {
        for seed: UInt64 in 1...4 {
            var spec = SampleSpec.defaults(for: .anyres, seed: seed)
            spec.featureDim = 16; spec.embeddingDim = 8; spec.scenario = .smallTargets
            let s = SampleGenerator.make(spec)
            XCTAssertEqual(s.targetObjects.count, 4)
            XCTAssertEqual(s.targetMask, s.objectOfToken.map { s.targetObjects.contains($0) })
            let counts = s.targetObjects.map { o in s.objectOfToken.filter { $0 == o }.count }
            XCTAssertTrue(counts.allSatisfy { $0 > 0 }, "seed \(seed): every instance shows, \(counts)")
            // Each instance is small: under 1.5% of the request's tokens.
            XCTAssertTrue(counts.allSatisfy { Double($0) / Double(s.n) < 0.015 }, "seed \(seed): \(counts)")
        }
    }

    func testBriefTargetIsOnScreenInTwoConsecutiveFramesOfSixtyFour() {
        for seed: UInt64 in 1...5 {
            var spec = SampleSpec.defaults(for: .video, seed: seed)
            spec.featureDim = 16; spec.embeddingDim = 8; spec.scenario = .briefTarget
            let s = SampleGenerator.make(spec)
            XCTAssertEqual(spec.units, 64)
            let frames = Set(s.targetMask.indices.filter { s.targetMask[$0] }.map { $0 / spec.tokensPerUnit }).sorted()
            XCTAssertEqual(frames.count, 2, "seed \(seed): \(frames)")
            XCTAssertEqual(frames.last! - frames.first!, 1, "seed \(seed)")
        }
    }

    func testTwoObjectQueryNamesBothAndBothAreGroundTruth() {
        for seed: UInt64 in 1...4 {
            var spec = SampleSpec.defaults(for: .image, seed: seed)
            spec.featureDim = 16; spec.embeddingDim = 8; spec.scenario = .twoObjects
            let s = SampleGenerator.make(spec)
            XCTAssertEqual(s.targetObjects.count, 2)
            XCTAssertTrue(s.targetObjects.allSatisfy { o in s.objectOfToken.contains(o) }, "seed \(seed): both show")
            XCTAssertGreaterThanOrEqual(s.queryAboutTarget.count, 4, "seed \(seed): a few query tokens about each")
            XCTAssertTrue(Set(s.queryAboutTarget).isDisjoint(with: s.queryAboutDistractor))
        }
    }
}
