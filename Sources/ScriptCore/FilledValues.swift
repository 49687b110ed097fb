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
