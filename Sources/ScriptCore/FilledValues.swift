/// What `Matrix.filled` keeps of the values it is given.
public enum FilledValues: Sendable {
    /// The float32 values.
    case float32
    /// The float32 values and their bfloat16 rounding.
    case float32AndBFloat16
    /// Their bfloat16 rounding alone (`hasFloat32` false): for a stage that reads nothing else
    /// (`ScriptPruning.readsOnlyBFloat16`).
    case bfloat16
}

extension FilledValues {
    /// What a shard's features are decoded to: float32 in f32; in bf16 their rounding alone where
    /// nothing reads the float32 values (Script's graph over at most `CandidateCosines.denseLimit`
    /// rows, and `float32Read` false: no relevance taken from these features, no caller holding
    /// them), else both.
    public static func shard(rows: Int, options: PruneOptions, float32Read: Bool) -> FilledValues {
        guard options.similarity == .bf16 else { return .float32 }
        return ScriptPruning.readsOnlyBFloat16(shardRows: rows, options: options) && !float32Read ? .bfloat16 : .float32AndBFloat16
    }

    /// Bytes of `rows x cols` values kept this way (rows of the rounding padded as `Matrix` pads them).
    public func bytes(rows: Int, cols: Int) -> Int {
        let single = 4 * rows * cols, rounded = 2 * rows * Matrix.bfloat16Stride(cols)
        switch self {
        case .float32: return single
        case .float32AndBFloat16: return single + rounded
        case .bfloat16: return rounded
        }
    }
}
