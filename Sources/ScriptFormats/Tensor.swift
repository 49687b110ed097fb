/// A dense tensor decoded to Float32, C order.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
    /// The element type it had in its file.
    public var sourceDType: DType

    public init(shape: [Int], values: [Float], sourceDType: DType) {
        self.shape = shape
        self.values = values
        self.sourceDType = sourceDType
    }

    /// Index of the first NaN or infinite value, if any.
    public func firstNonFinite() -> Int? { values.firstIndex { !$0.isFinite } }
}
