/// The latent space tokens are built in. Directions come from a random rotation, handed out
/// one at a time, so the cosines the generator sets between concepts hold exactly (a target and
/// its look-alike at 0.7 are at 0.7, not 0.7 plus chance overlap); once the rotation is used up,
/// fresh directions are random unit vectors, nearly orthogonal to everything.
struct ConceptSpace {
    let dim: Int
    private var basis: [[Float]] = []

    init(dim: Int, rng: inout SynthRandom) {
        precondition(dim > 0)
        self.dim = dim
        // Gram-Schmidt over Gaussian vectors: a random orthonormal basis, handed out in order.
        var rows: [[Float]] = []
        while rows.count < dim {
            var v = rng.normals(dim)
            for b in rows { Self.addScaled(&v, -Self.dot(v, b), b) }
            let n = Self.dot(v, v).squareRoot()
            if n > 1e-3 { rows.append(v.map { $0 / n }) }
        }
        basis = rows.reversed()
    }

    /// A new direction, orthogonal to all handed out before while the basis lasts.
    mutating func fresh(_ rng: inout SynthRandom) -> [Float] {
        if let v = basis.popLast() { return v }
        return Self.normalized(rng.normals(dim))
    }

    /// A unit vector sharing `share` of a common direction: members of a family (background
    /// materials, things, text) have cosine about `share^2 / (1 + share^2)` to each other.
    mutating func member(of family: [Float], share: Float, _ rng: inout SynthRandom) -> [Float] {
        Self.normalized(Self.sum([(share, family), (1, fresh(&rng))]))
    }

    /// A unit vector at cosine `cosine` to the unit vector `a`, the rest along `other` made
    /// orthogonal to `a`: a look-alike of `a`.
    static func near(_ a: [Float], cosine: Float, other: [Float]) -> [Float] {
        var o = other
        addScaled(&o, -dot(o, a), a)
        o = normalized(o)
        return sum([(cosine, a), ((1 - cosine * cosine).squareRoot(), o)])
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        var s: Float = 0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    static func addScaled(_ v: inout [Float], _ s: Float, _ b: [Float]) {
        for i in v.indices { v[i] += s * b[i] }
    }

    static func normalized(_ v: [Float]) -> [Float] {
        let n = dot(v, v).squareRoot()
        return n > 0 ? v.map { $0 / n } : v
    }

    static func sum(_ terms: [(Float, [Float])]) -> [Float] {
        var v = [Float](repeating: 0, count: terms[0].1.count)
        for (s, b) in terms { addScaled(&v, s, b) }
        return v
    }
}
