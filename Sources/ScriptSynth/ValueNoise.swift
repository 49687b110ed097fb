/// A smooth random scalar field over the scene (bilinear value noise on a square lattice): the
/// slow changes of light and texture that make neighbouring background tokens near-duplicates
/// without making them identical.
struct ValueNoise {
    /// Scene units between lattice nodes.
    let spacing: Float
    /// The lattice covers [origin, origin + spacing * (side - 1)] in x and y.
    let origin: Float
    let side: Int
    let values: [Float]

    init(spacing: Float, covering range: ClosedRange<Float>, amplitude: Float, rng: inout SynthRandom) {
        self.spacing = spacing
        origin = range.lowerBound
        side = Int((range.upperBound - range.lowerBound) / spacing) + 2
        values = rng.normals(side * side, scale: amplitude)
    }

    func callAsFunction(_ x: Float, _ y: Float) -> Float {
        let top = Float(side - 1) - 0.001
        let u = min(max((x - origin) / spacing, 0), top), v = min(max((y - origin) / spacing, 0), top)
        let i = Int(u), j = Int(v), a = u - Float(i), b = v - Float(j)
        let row = j * side
        let upper = values[row + i] * (1 - a) + values[row + i + 1] * a
        let lower = values[row + side + i] * (1 - a) + values[row + side + i + 1] * a
        return upper * (1 - b) + lower * b
    }
}
