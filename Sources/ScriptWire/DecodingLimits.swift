/// Bounds on what decoding accepts, so hostile input costs at most a small multiple of its size.
public struct DecodingLimits: Sendable {
    /// Nesting of arrays and maps.
    public var maxDepth = 32
    /// Array and map entries in all.
    public var maxElements = 1 << 22
    /// Input size.
    public var maxBytes = 1 << 30

    public init() {}
    public static let `default` = DecodingLimits()
}
