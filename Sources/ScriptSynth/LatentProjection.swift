/// A fixed random linear map from the latent space to an output width (features, or the query
/// space): how tokens get realistic widths while their geometry stays that of the latent space.
///
/// Applied with a register-blocked kernel in plain Swift rather than BLAS: every output element
/// is summed over the latent dimensions in the same order with separate multiplies and adds, so
/// the bytes do not depend on the machine (an optimised BLAS picks its kernel, and its summation
/// order, by CPU).
struct LatentProjection {
    let latentDim: Int
    let width: Int
    /// `latentDim x width`. Rows orthogonal, of norm sqrt(width), when the output is at least
    /// as wide as the latent space (a scaled random isometry: cosines carry over exactly, however
    /// narrow the output); otherwise standard normal entries. Either way a latent of norm r
    /// maps to elements of standard deviation about r.
    let weights: [Float]

    init(latentDim: Int, width: Int, rng: inout SynthRandom) {
        self.latentDim = latentDim
        self.width = width
        var w = rng.normals(latentDim * width)
        if width >= latentDim {
            // Gram-Schmidt, twice over for orthogonality to float precision.
            let scale = Float(width).squareRoot()
            w.withUnsafeMutableBufferPointer { buf in
                let p = buf.baseAddress!
                for i in 0..<latentDim {
                    let row = p + i * width
                    for _ in 0..<2 {
                        for j in 0..<i {
                            let other = p + j * width
                            var d: Float = 0
                            for c in 0..<width { d += row[c] * other[c] }
                            d /= Float(width)
                            for c in 0..<width { row[c] -= d * other[c] }
                        }
                    }
                    var norm: Float = 0
                    for c in 0..<width { norm += row[c] * row[c] }
                    let s = norm > 0 ? scale / norm.squareRoot() : 0
                    for c in 0..<width { row[c] *= s }
                }
            }
        }
        weights = w
    }

    /// `out += latents x weights`, for `rows` latent rows; `out` (`rows x width`) usually holds
    /// the output noise already.
    func apply(_ latents: [Float], rows: Int, into out: inout [Float]) {
        precondition(latents.count >= rows * latentDim && out.count >= rows * width)
        latents.withUnsafeBufferPointer { lat in
            weights.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    Self.kernel(lat.baseAddress!, rows: rows, latentDim: latentDim, w.baseAddress!, width: width, o.baseAddress!)
                }
            }
        }
    }

    typealias Lane = SIMD8<Float>
    /// Columns per panel: a panel of weights (latentDim x 256 floats) stays in cache while all
    /// rows pass over it.
    static let panel = 256

    static func kernel(_ lat: UnsafePointer<Float>, rows: Int, latentDim l: Int,
                       _ w: UnsafePointer<Float>, width d: Int, _ out: UnsafeMutablePointer<Float>) {
        let lanes = Lane.scalarCount
        var c0 = 0
        while c0 < d {
            let c1 = min(d, c0 + panel)
            var r = 0
            while r + 4 <= rows {
                let a0 = lat + r * l, a1 = a0 + l, a2 = a1 + l, a3 = a2 + l
                let o0 = out + r * d, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d
                var c = c0
                while c + lanes <= c1 {
                    var s0 = Lane(), s1 = Lane(), s2 = Lane(), s3 = Lane()
                    for k in 0..<l {
                        let v = UnsafeRawPointer(w + k * d + c).loadUnaligned(as: Lane.self)
                        s0 += a0[k] * v; s1 += a1[k] * v; s2 += a2[k] * v; s3 += a3[k] * v
                    }
                    add(s0, o0 + c); add(s1, o1 + c); add(s2, o2 + c); add(s3, o3 + c)
                    c += lanes
                }
                while c < c1 {
                    var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
                    for k in 0..<l {
                        let v = w[k * d + c]
                        s0 += a0[k] * v; s1 += a1[k] * v; s2 += a2[k] * v; s3 += a3[k] * v
                    }
                    o0[c] += s0; o1[c] += s1; o2[c] += s2; o3[c] += s3
                    c += 1
                }
                r += 4
            }
            while r < rows {
                let a = lat + r * l, o = out + r * d
                var c = c0
                while c + lanes <= c1 {
                    var s = Lane()
                    for k in 0..<l { s += a[k] * UnsafeRawPointer(w + k * d + c).loadUnaligned(as: Lane.self) }
                    add(s, o + c)
                    c += lanes
                }
                while c < c1 {
                    var s: Float = 0
                    for k in 0..<l { s += a[k] * w[k * d + c] }
                    o[c] += s
                    c += 1
                }
                r += 1
            }
            c0 = c1
        }
    }

    @inline(__always)
    private static func add(_ s: Lane, _ p: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(p)
        raw.storeBytes(of: raw.loadUnaligned(as: Lane.self) + s, as: Lane.self)
    }
}
