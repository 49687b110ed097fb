import ScriptCore
import ScriptSynth

/// The synthetic evaluation set: seeded requests of each kind, and the budgets each is judged at.
public enum SyntheticSuite {
    /// How big the requests are: `small` for tests, `medium` (real token counts, narrower
    /// features) by default, `full` for the real models' shapes.
    public enum Scale: String, CaseIterable, Sendable { case small, medium, full }

    public static func spec(_ kind: SampleKind, seed: UInt64, scale: Scale) -> SampleSpec {
        switch scale {
        case .small: return .small(kind, seed: seed)
        case .full: return .defaults(for: kind, seed: seed)
        case .medium:
            var s = SampleSpec.defaults(for: kind, seed: seed)
            s.featureDim = 1024
            s.embeddingDim = 512
            if kind == .video { s.units = 32 }
            return s
        }
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
        (0..<count).map { i in
            let s = SampleGenerator.make(spec(kind, seed: seed &+ UInt64(i), scale: scale))
            let req = PruneRequest(features: Matrix(rows: s.n, cols: s.featureDim, values: s.features),
                                   embeddings: Matrix(rows: s.n, cols: s.embeddingDim, values: s.embeddings),
                                   query: Matrix(rows: s.spec.queryTokens, cols: s.embeddingDim, values: s.query))
            return EvalCase(name: "\(kind.rawValue)-\(seed &+ UInt64(i))", kind: kind.rawValue, request: req, shards: s.shards,
                            target: s.targetMask, objects: s.objectOfToken)
        }
    }
}
