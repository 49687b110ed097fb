import ScriptCore
import ScriptSynth

/// The synthetic evaluation set: seeded requests of each kind, and the budgets each is judged at.
public enum SyntheticSuite {
    /// How big the requests are: `small` for tests, `medium` (real token counts, narrower
    /// features) by default, `full` for the real models' shapes.
    public enum Scale: String, CaseIterable, Sendable { case small, medium, full }

    /// A kind of request and its harder case, if any: `video`, `video-brief-target`, ...
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        public var kind: SampleKind
        public var scenario: SampleScenario

        public init(_ kind: SampleKind, _ scenario: SampleScenario = .standard) {
            self.kind = kind
            self.scenario = scenario
        }

        public var description: String { scenario == .standard ? kind.rawValue : "\(kind.rawValue)-\(scenario.rawValue)" }

        /// A kind by its name.
        public init?(_ name: String) {
            guard let k = (Self.standard + Self.hard).first(where: { $0.description == name })
                ?? SampleKind.allCases.flatMap({ k in SampleScenario.allCases.map { Kind(k, $0) } }).first(where: { $0.description == name })
            else { return nil }
            self = k
        }

        /// Image, AnyRes and video as the models see them.
        public static let standard = SampleKind.allCases.map { Kind($0) }
        /// The harder cases: several small targets (AnyRes), a target in 2 of 64 frames, a
        /// query naming two objects (image).
        public static let hard = [Kind(.anyres, .smallTargets), Kind(.video, .briefTarget), Kind(.image, .twoObjects)]
    }

    public static func spec(_ kind: SampleKind, seed: UInt64, scale: Scale) -> SampleSpec {
        spec(Kind(kind), seed: seed, scale: scale)
    }

    /// Medium video has 32 frames, the brief target's video 64 (the target on screen in 2).
    public static func spec(_ kind: Kind, seed: UInt64, scale: Scale) -> SampleSpec {
        var s: SampleSpec
        switch scale {
        case .small: s = .small(kind.kind, seed: seed)
        case .full: s = .defaults(for: kind.kind, seed: seed)
        case .medium:
            s = SampleSpec.defaults(for: kind.kind, seed: seed)
            s.featureDim = 1024
            s.embeddingDim = 512
            if kind.kind == .video && kind.scenario != .briefTarget { s.units = 32 }
        }
        s.scenario = kind.scenario
        return s
    }

    /// Budgets: 64/128/192 of a 576-token image, 160/320/640 of AnyRes, 2%/5%/10% of a video.
    public static func budgets(_ kind: SampleKind, tokens n: Int) -> [Budget] {
        switch kind {
        case .image: return [64, 128, 192].map { .count(max(1, $0 * n / 576)) }
        case .anyres: return [160, 320, 640].map { .count(max(1, $0 * n / 2880)) }
        case .video: return [0.02, 0.05, 0.10].map { .ratio($0) }
        }
    }

    public static func cases(_ kind: SampleKind, count: Int, seed: UInt64, scale: Scale) -> [EvalCase] {
        cases(Kind(kind), count: count, seed: seed, scale: scale)
    }

    public static func cases(_ kind: Kind, count: Int, seed: UInt64, scale: Scale) -> [EvalCase] {
        (0..<count).map { i in
            let s = SampleGenerator.make(spec(kind, seed: seed &+ UInt64(i), scale: scale))
            let req = PruneRequest(features: Matrix(rows: s.n, cols: s.featureDim, values: s.features),
                                   embeddings: Matrix(rows: s.n, cols: s.embeddingDim, values: s.embeddings),
                                   query: Matrix(rows: s.spec.queryTokens, cols: s.embeddingDim, values: s.query),
                                   unitTokens: s.units.count > 1 ? s.spec.tokensPerUnit : nil)
            return EvalCase(name: "\(kind)-\(seed &+ UInt64(i))", kind: kind.description, request: req, shards: s.shards,
                            target: s.targetMask, objects: s.objectOfToken, targetObjects: s.targetObjects)
        }
    }
}
