/// What a client may ask for back.
public enum ReturnMode: String, Sendable, CaseIterable {
    case indices, features, merged
}
