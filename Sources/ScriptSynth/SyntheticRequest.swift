/// A synthetic pruning request with ground truth: which tokens show which object, and which
/// object the query asks about.
public struct SyntheticRequest: Sendable {
    public let spec: SampleSpec
    /// Tokens: `spec.units * spec.tokensPerUnit`.
    public let n: Int
    public let featureDim: Int
    public let embeddingDim: Int
    /// `n x featureDim`, row-major.
    public let features: [Float]
    /// `n x embeddingDim`, the same tokens in the query's space.
    public let embeddings: [Float]
    /// `spec.queryTokens x embeddingDim`.
    public let query: [Float]
    /// Views (AnyRes: base view first, then tiles) or frames, `tokensPerUnit` tokens each.
    public let units: [Range<Int>]
    /// The layout's shards, tiling `0..<n` in order: the whole image; one per AnyRes view;
    /// `segmentFrames` consecutive frames each.
    public let shards: [Range<Int>]
    /// Object shown by each token (the one covering at least half of it), -1 for background.
    public let objectOfToken: [Int32]
    /// The object the query asks about.
    public let targetObject: Int32
    /// Every object that is ground truth: the target, and in the harder cases its other
    /// instances or the second object the query names.
    public let targetObjects: [Int32]
    /// Objects that look like the target (concept cosine 0.6 to 0.8); the query mentions the
    /// first.
    public let distractorObjects: [Int32]

    /// Query tokens about the target (naming it or its trait), and about the first look-alike;
    /// the others are function words, unrelated to the image.
    public let queryAboutTarget: [Int]
    public let queryAboutDistractor: [Int]

    public var targetMask: [Bool] { objectOfToken.map { targetObjects.contains($0) } }
}
