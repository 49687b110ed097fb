/// A synthetic pruning request with ground truth: which tokens show which object, and which
/// object the query asks about.
public struct SyntheticRequest: Sendable {
    public let spec: SampleSpec
    public let n: Int
    public let featureDim: Int
    public let embeddingDim: Int
    /// `n x featureDim`, row-major.
    public let features: [Float]
    /// `n x embeddingDim`, the same tokens in the query's space.
    public let embeddings: [Float]
    /// `queryTokens x embeddingDim`.
    public let query: [Float]
    /// Tiles (base view first) or frames.
    public let units: [Range<Int>]
    /// The layout's shards: the whole image; one per tile; `segmentFrames` frames each.
    public let shards: [Range<Int>]
    /// Object shown by each token, -1 for background.
    public let objectOfToken: [Int32]
    /// The object the query asks about.
    public let targetObject: Int32

    public var targetMask: [Bool] { objectOfToken.map { $0 == targetObject } }
}
