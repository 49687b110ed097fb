/// The shape of a synthetic request: defaults are the real models' shapes, `small` the same
/// structure scaled down for tests. Any positive sizes work (`queryTokens` may be 0).
public struct SampleSpec: Sendable, Equatable {
    public var kind: SampleKind
    public var seed: UInt64
    /// Image views (anyres: base view plus tiles; image: copies of the one view) or video frames.
    public var units: Int
    /// Tokens per unit, laid out row-major on a near-square grid (576 = 24 x 24; 196 = 14 x 14).
    public var tokensPerUnit: Int
    /// Width of the features (the projector's output: 4096 for LLaVA-7B, 3584 for Qwen2-VL-7B).
    public var featureDim: Int
    /// Width of the query space (CLIP ViT-L: 1024; SigLIP: 1152).
    public var embeddingDim: Int
    public var queryTokens: Int
    /// Video: frames per shard (the last shard may be shorter).
    public var segmentFrames: Int
    /// The harder case, if any (`standard`: the scene every kind has).
    public var scenario: SampleScenario

    public init(kind: SampleKind, seed: UInt64, units: Int, tokensPerUnit: Int, featureDim: Int, embeddingDim: Int,
                queryTokens: Int, segmentFrames: Int, scenario: SampleScenario = .standard) {
        self.kind = kind
        self.seed = seed
        self.units = units
        self.tokensPerUnit = tokensPerUnit
        self.featureDim = featureDim
        self.embeddingDim = embeddingDim
        self.queryTokens = queryTokens
        self.segmentFrames = segmentFrames
        self.scenario = scenario
    }

    /// LLaVA-1.5 (576 x 4096), LLaVA-NeXT AnyRes (5 x 576 x 4096), video (64 x 196 x 3584).
    public static func defaults(for kind: SampleKind, seed: UInt64) -> SampleSpec {
        switch kind {
        case .image: return SampleSpec(kind: kind, seed: seed, units: 1, tokensPerUnit: 576, featureDim: 4096, embeddingDim: 1024, queryTokens: 16, segmentFrames: 1)
        case .anyres: return SampleSpec(kind: kind, seed: seed, units: 5, tokensPerUnit: 576, featureDim: 4096, embeddingDim: 1024, queryTokens: 16, segmentFrames: 1)
        case .video: return SampleSpec(kind: kind, seed: seed, units: 64, tokensPerUnit: 196, featureDim: 3584, embeddingDim: 1152, queryTokens: 16, segmentFrames: 8)
        }
    }

    /// Small shapes of the same structure, for tests: 12 x 12 views, 16 frames of 8 x 8, D = 128,
    /// Dq = 64, 8 query tokens.
    public static func small(_ kind: SampleKind, seed: UInt64) -> SampleSpec {
        switch kind {
        case .image: return SampleSpec(kind: kind, seed: seed, units: 1, tokensPerUnit: 144, featureDim: 128, embeddingDim: 64, queryTokens: 8, segmentFrames: 1)
        case .anyres: return SampleSpec(kind: kind, seed: seed, units: 5, tokensPerUnit: 144, featureDim: 128, embeddingDim: 64, queryTokens: 8, segmentFrames: 1)
        case .video: return SampleSpec(kind: kind, seed: seed, units: 16, tokensPerUnit: 64, featureDim: 128, embeddingDim: 64, queryTokens: 8, segmentFrames: 4)
        }
    }

    /// A unit's token grid, row-major: the smallest square that holds `tokensPerUnit` tokens,
    /// less any empty last rows (576 -> 24 x 24; 196 -> 14 x 14; 10 -> 4 wide, 3 high).
    var gridSize: (width: Int, height: Int) {
        var w = 1
        while w * w < tokensPerUnit { w += 1 }
        return (w, (tokensPerUnit + w - 1) / w)
    }
}
