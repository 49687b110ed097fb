/// Builds deterministic synthetic requests that are hard in the ways real ones are: large
/// redundant backgrounds, small objects (text, logos), look-alikes of the target, a small target
/// (in video on screen for a few frames of a long clip, and moving), high-norm artifact tokens,
/// and a query of which only a few tokens are about the target.
///
/// Each token is a latent vector (its shot's look, its background material and the object
/// covering it, mixed over four sub-samples of its area; smooth spatial fields; noise), once
/// weighted for features and once for the query space (`TokenLook`). Fixed random projections
/// (`LatentProjection`) take the latents to the feature and query widths, and element noise is
/// added. Query tokens are latents of concepts projected like the embeddings.
public enum SampleGenerator {
    /// Width of the latent space: room for every concept of a scene as its own direction.
    static let latentDim = 64

    public static func make(_ spec: SampleSpec) -> SyntheticRequest {
        precondition(spec.units > 0 && spec.tokensPerUnit > 0 && spec.featureDim > 0 && spec.embeddingDim > 0
                     && spec.queryTokens >= 0, "sample spec needs positive sizes, got \(spec)")
        let kindSalt = UInt64(SampleKind.allCases.firstIndex(of: spec.kind)! + 1) &* 0xD1B5_4A32_D192_ED03
        var rng = SynthRandom(seed: spec.seed ^ kindSalt)
        var space = ConceptSpace(dim: latentDim, rng: &rng)
        let scene = SyntheticScene(spec: spec, space: &space, rng: &rng)
        let n = spec.units * spec.tokensPerUnit, l = latentDim

        var featureLatents: [Float], embeddingLatents: [Float]
        let objectOf: [Int32]
        (featureLatents, embeddingLatents, objectOf) = latents(spec, scene, &rng)
        addNoise(&featureLatents, rows: n, norm: TokenLook.features.latentNoise, &rng)
        addNoise(&embeddingLatents, rows: n, norm: TokenLook.embeddings.latentNoise, &rng)
        let m = spec.queryTokens
        var queryLatents: [Float]
        let roles: [QueryRole]
        (queryLatents, roles) = Self.queryLatents(m, scene, &space, &rng)
        addNoise(&queryLatents, rows: m, norm: TokenLook.embeddings.latentNoise, &rng)

        let toFeatures = LatentProjection(latentDim: l, width: spec.featureDim, rng: &rng)
        let toEmbeddings = LatentProjection(latentDim: l, width: spec.embeddingDim, rng: &rng)
        let features = project(featureLatents, rows: n, toFeatures, noise: TokenLook.features.elementNoise, &rng)
        let embeddings = project(embeddingLatents, rows: n, toEmbeddings, noise: TokenLook.embeddings.elementNoise, &rng)
        let query = project(queryLatents, rows: m, toEmbeddings, noise: TokenLook.embeddings.elementNoise, &rng)

        let units = (0..<spec.units).map { ($0 * spec.tokensPerUnit)..<(($0 + 1) * spec.tokensPerUnit) }
        let shards: [Range<Int>]
        switch spec.kind {
        case .image: shards = [0..<n]
        case .anyres: shards = units
        case .video:
            let step = max(1, spec.segmentFrames)
            shards = stride(from: 0, to: spec.units, by: step).map {
                ($0 * spec.tokensPerUnit)..<(min(spec.units, $0 + step) * spec.tokensPerUnit)
            }
        }
        return SyntheticRequest(spec: spec, n: n, featureDim: spec.featureDim, embeddingDim: spec.embeddingDim,
                                features: features, embeddings: embeddings, query: query, units: units, shards: shards,
                                objectOfToken: objectOf, targetObject: Int32(scene.target),
                                targetObjects: scene.targets.map { Int32($0) },
                                distractorObjects: scene.distractors.map { Int32($0) },
                                queryAboutTarget: roles.indices.filter { roles[$0] == .target },
                                queryAboutDistractor: roles.indices.filter { roles[$0] == .lookAlike })
    }

    /// Feature and query-space latents of every token (`n x latentDim` each, before noise), and
    /// the object each token shows.
    static func latents(_ spec: SampleSpec, _ scene: SyntheticScene, _ rng: inout SynthRandom) -> ([Float], [Float], [Int32]) {
        let n = spec.units * spec.tokensPerUnit
        var features = [Float](repeating: 0, count: n * latentDim), embeddings = features
        var objectOf = [Int32](repeating: -1, count: n)
        var hits = [Int](repeating: 0, count: scene.objects.count)
        let painter = LatentPainter(spec: spec, scene: scene)
        features.withUnsafeMutableBufferPointer { f in
            embeddings.withUnsafeMutableBufferPointer { e in
                objectOf.withUnsafeMutableBufferPointer { o in
                    let canvas = LatentPainter.Canvas(features: f.baseAddress!, embeddings: e.baseAddress!, objectOf: o.baseAddress!)
                    for u in 0..<spec.units {
                        painter.paintUnit(u, on: canvas, hits: &hits)
                        painter.addArtifacts(u, on: canvas, &rng)
                    }
                }
            }
        }
        return (features, embeddings, objectOf)
    }

    enum QueryRole { case target, lookAlike, functionWord }

    /// Query token latents and roles: a fifth about the target (alternately naming it and its
    /// trait), one (two from 24 tokens on) about the first look-alike, the rest function words
    /// unrelated to the image; in a seeded order.
    static func queryLatents(_ m: Int, _ scene: SyntheticScene, _ space: inout ConceptSpace,
                             _ rng: inout SynthRandom) -> ([Float], [QueryRole]) {
        let l = latentDim
        // Two objects named: three tenths of the query, alternately about each.
        let twoNamed = scene.targets.count == 2
        let aboutTarget = m == 0 ? 0 : max(twoNamed ? min(m, 2) : 1, Int((Float(m) * (twoNamed ? 0.3 : 0.2)).rounded()))
        let aboutLookAlike = m >= 24 ? 2 : (m >= 3 ? 1 : 0)
        var roles = [QueryRole](repeating: .functionWord, count: m)
        for i in 0..<aboutTarget { roles[i] = .target }
        for i in aboutTarget..<min(m, aboutTarget + aboutLookAlike) { roles[i] = .lookAlike }
        for i in stride(from: m - 1, to: 0, by: -1) { roles.swapAt(i, rng.int(0..<(i + 1))) }
        let target = scene.objects[scene.target].concept, lookAlike = scene.objects[scene.distractors[0]].concept
        let trait = scene.attributes[0]
        var out = [Float](repeating: 0, count: m * l)
        var targetTokens = 0
        for (j, role) in roles.enumerated() {
            let v: [Float]
            switch role {
            case .target where twoNamed:
                let second = targetTokens % 2 == 1, naming = targetTokens % 4 < 2
                targetTokens += 1
                let named = second ? scene.objects[scene.targets[1]].concept : target
                v = ConceptSpace.sum([(naming ? 1 : 0.6, named), (naming ? 0.2 : 0.8, second ? scene.secondTrait : trait),
                                      (0.4, scene.global), (0.3, scene.language)])
            case .target:
                let naming = targetTokens % 2 == 0
                targetTokens += 1
                v = ConceptSpace.sum([(naming ? 1 : 0.6, target), (naming ? 0.2 : 0.8, trait), (0.4, scene.global), (0.3, scene.language)])
            case .lookAlike:
                v = ConceptSpace.sum([(0.8, lookAlike), (0.35, scene.attributes[1 + j % 2]), (0.4, scene.global), (0.3, scene.language)])
            case .functionWord:
                v = ConceptSpace.sum([(0.8, scene.language), (0.6, space.fresh(&rng)), (0.1, scene.global)])
            }
            for i in 0..<l { out[j * l + i] = v[i] }
        }
        return (out, roles)
    }

    /// Adds isotropic noise of expected norm `norm` to each latent row.
    static func addNoise(_ latents: inout [Float], rows: Int, norm: Float, _ rng: inout SynthRandom) {
        var noise = [Float](repeating: 0, count: latentDim)
        let scale = norm / Float(latentDim).squareRoot()
        latents.withUnsafeMutableBufferPointer { buf in
            noise.withUnsafeMutableBufferPointer { z in
                for r in 0..<rows {
                    rng.fillNormal(z.baseAddress!, count: latentDim, scale: scale)
                    let row = buf.baseAddress! + r * latentDim
                    for i in 0..<latentDim { row[i] += z[i] }
                }
            }
        }
    }

    /// `latents x projection` plus element noise of standard deviation `noise`.
    static func project(_ latents: [Float], rows: Int, _ projection: LatentProjection, noise: Float,
                        _ rng: inout SynthRandom) -> [Float] {
        let count = rows * projection.width
        var out = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { rng.fillNormal(buffer.baseAddress!, count: count, scale: noise) }
            initialized = count
        }
        projection.apply(latents, rows: rows, into: &out)
        return out
    }

    static func ceilSqrt(_ x: Int) -> Int {
        var r = 1
        while r * r < x { r += 1 }
        return r
    }
}
