/// The precision of the products behind the core's cosines.
///
/// `bf16` rounds each feature to bfloat16 once (8 significant bits) and sums the products in
/// float32, on the CPU's own bfloat16 instructions (AVX512-BF16, AMX) through oneDNN: twice
/// sgemm's rate on a Zen 4 core, with the kept set's log det within 0.01% of float32's on the
/// bench's images, AnyRes and video (Docs/ALGORITHM.md). Off by default: the paper's method is
/// float32's. A request carries it to the cluster in its options (`similarity`).
public enum SimilarityPrecision: String, Sendable, Equatable, Codable, CaseIterable {
    case f32
    case bf16
}
