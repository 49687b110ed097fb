/// Element types found in tensor files.
public enum DType: String, Sendable {
    case f32, f16, bf16, f64, i64, i32

    public var size: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .f64, .i64: return 8
        }
    }
}
