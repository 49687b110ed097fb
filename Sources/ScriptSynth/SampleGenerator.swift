/// Builds deterministic synthetic requests that are hard in the ways real ones are: large
/// redundant backgrounds, small objects (text, logos), distractors that look like the target,
/// a small target (in video, on screen for a few frames of a long clip, moving), and a query of
/// which only a few tokens are about the target.
///
/// Every token mixes concept vectors (its background material, the object it shows), smooth
/// spatial variation and noise, in feature space and, with other vectors, in the query space.
public enum SampleGenerator {
    struct Concept { let feature: [Float]; let embedding: [Float] }

    struct SceneObject {
        let concept: Int
        var x: Float, y: Float
        let w: Float, h: Float
        var vx: Float = 0
        var frames: Range<Int> = 0..<Int.max
        func covers(_ px: Float, _ py: Float, frame f: Int) -> Bool {
            guard frames.contains(f) else { return false }
            let ox = x + vx * Float(f - frames.lowerBound)
            return px >= ox && px < ox + w && py >= y && py < y + h
        }
    }

    public static func make(_ spec: SampleSpec) -> SyntheticRequest {
        var rng = SynthRandom(seed: spec.seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(SampleKind.allCases.firstIndex(of: spec.kind)!))
        let g = spec.grid, gf = Float(g)
        let perUnit = g * g
        let n = spec.units * perUnit
        let d = spec.featureDim, dq = spec.embeddingDim
        func concept(_ r: inout SynthRandom) -> Concept { Concept(feature: r.direction(d), embedding: r.direction(dq)) }
        func near(_ c: Concept, _ similarity: Float, _ r: inout SynthRandom) -> Concept {
            let o = concept(&r)
            let a = similarity, b = (1 - similarity * similarity).squareRoot()
            return Concept(feature: zip(c.feature, o.feature).map { a * $0 + b * $1 },
                           embedding: zip(c.embedding, o.embedding).map { a * $0 + b * $1 })
        }

        // Concepts: 4 background materials, then the objects' concepts.
        let materials = (0..<4).map { _ in concept(&rng) }
        let target = concept(&rng)
        var objectConcepts = [target, near(target, 0.75, &rng), near(target, 0.7, &rng)]
        for _ in 0..<6 { objectConcepts.append(concept(&rng)) }
        let fields = (0..<4).map { _ in concept(&rng) }
        let language = concept(&rng)

        // Objects, in base-grid token units; painted in reverse so the target is on top.
        let frames = spec.kind == .video ? spec.units : 1
        func size(_ frac: Float) -> Float { max(1, (frac * gf).rounded()) }
        func place(_ c: Int, _ w: Float, _ h: Float, _ r: inout SynthRandom) -> SceneObject {
            SceneObject(concept: c, x: Float(r.int(0..<max(1, g - Int(w) + 1))), y: Float(r.int(0..<max(1, g - Int(h) + 1))), w: w, h: h)
        }
        var objects: [SceneObject] = [
            place(0, size(0.12), size(0.16), &rng),                       // target: ~2% of an image
            place(1, size(0.14), size(0.14), &rng), place(2, size(0.12), size(0.18), &rng),   // look-alikes
            place(3, 1, size(0.08), &rng), place(4, size(0.08), 1, &rng), place(5, 1, 1, &rng), // text, logos
            place(6, size(0.3), size(0.25), &rng), place(7, size(0.25), size(0.35), &rng), place(8, size(0.2), size(0.2), &rng),
        ]
        if spec.kind == .video {
            // The target is on screen for a few consecutive frames and moves; look-alikes elsewhere.
            let shown = max(2, frames / 12)
            let start = rng.int(frames / 4..<max(frames / 4 + 1, frames - shown))
            objects[0].frames = start..<(start + shown)
            objects[0].vx = 0.5
            objects[1].frames = 0..<(frames / 3)
            objects[2].frames = (2 * frames / 3)..<frames
            for i in 3..<objects.count { objects[i].vx = (rng.uniform() - 0.5) * 0.2 }
        }
        // Background: regions of the nearest of 6 seeds, each one of the materials.
        let seeds = (0..<6).map { _ in (x: rng.uniform() * gf, y: rng.uniform() * gf, m: rng.int(0..<materials.count)) }
        // Smooth variation: value noise on a 5 x 5 lattice per field.
        let lattice = (0..<fields.count).map { _ in (0..<25).map { _ in rng.normal() * 0.25 } }
        func smooth(_ f: Int, _ px: Float, _ py: Float) -> Float {
            let u = min(max(px / gf * 4, 0), 3.999), v = min(max(py / gf * 4, 0), 3.999)
            let i = Int(u), j = Int(v), a = u - Float(i), b = v - Float(j)
            let l = lattice[f]
            return (l[j * 5 + i] * (1 - a) + l[j * 5 + i + 1] * a) * (1 - b) + (l[(j + 1) * 5 + i] * (1 - a) + l[(j + 1) * 5 + i + 1] * a) * b
        }

        // Where each token looks, and what it shows.
        var units: [Range<Int>] = []
        var points: [(x: Float, y: Float, frame: Int)] = []
        points.reserveCapacity(n)
        for u in 0..<spec.units {
            units.append((u * perUnit)..<((u + 1) * perUnit))
            for i in 0..<g {
                for j in 0..<g {
                    switch spec.kind {
                    case .image: points.append((Float(j) + 0.5, Float(i) + 0.5, 0))
                    case .anyres:
                        if u == 0 { points.append((Float(j) + 0.5, Float(i) + 0.5, 0)) }
                        else {
                            let q = u - 1, qx = Float(q % 2) * gf / 2, qy = Float(q / 2) * gf / 2
                            points.append((qx + (Float(j) + 0.5) / 2, qy + (Float(i) + 0.5) / 2, 0))
                        }
                    case .video:
                        // A slow pan: the background drifts a tenth of a token per frame.
                        points.append((Float(j) + 0.5, Float(i) + 0.5, u))
                    }
                }
            }
        }
        var objectOf = [Int32](repeating: -1, count: n)
        var material = [Int](repeating: 0, count: n)
        for t in 0..<n {
            let p = points[t]
            let bx = p.x + 0.1 * Float(p.frame)
            var best = 0
            var bestD = Float.infinity
            for (s, seed) in seeds.enumerated() {
                let dx = bx - seed.x, dy = p.y - seed.y
                if dx * dx + dy * dy < bestD { bestD = dx * dx + dy * dy; best = s }
            }
            material[t] = seeds[best].m
            if let o = objects.indices.first(where: { objects[$0].covers(p.x, p.y, frame: p.frame) }) { objectOf[t] = Int32(o) }
        }

        func tokens(_ width: Int, _ pick: (Concept) -> [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: n * width)
            let noise = 0.35 / Float(width).squareRoot()
            out.withUnsafeMutableBufferPointer { buf in
                for t in 0..<n {
                    let row = buf.baseAddress! + t * width
                    let p = points[t]
                    let mat = pick(materials[material[t]])
                    let o = objectOf[t]
                    let bgWeight: Float = o >= 0 ? 0.25 : 1
                    for c in 0..<width { row[c] = bgWeight * mat[c] + noise * rng.normal() }
                    if o >= 0 {
                        let v = pick(objectConcepts[objects[Int(o)].concept])
                        for c in 0..<width { row[c] += v[c] }
                    }
                    for f in 0..<fields.count {
                        let a = smooth(f, p.x + 0.1 * Float(p.frame), p.y)
                        let v = pick(fields[f])
                        for c in 0..<width { row[c] += a * v[c] }
                    }
                }
            }
            return out
        }
        let features = tokens(d) { $0.feature }
        let embeddings = tokens(dq) { $0.embedding }

        // The query: a few tokens about the target, one about a look-alike, the rest function words.
        let m = spec.queryTokens
        let aboutTarget = max(1, m / 5)
        var query = [Float](repeating: 0, count: m * dq)
        for q in 0..<m {
            let base: [Float]
            let own: Float
            if q < aboutTarget { base = target.embedding; own = 0.5 }
            else if q == aboutTarget && m > 2 { base = objectConcepts[1].embedding; own = 0.6 }
            else { base = language.embedding; own = 0.8 }
            let r = rng.direction(dq)
            for c in 0..<dq { query[q * dq + c] = base[c] + own * r[c] + (q < aboutTarget ? 0.3 * language.embedding[c] : 0) }
        }

        let shards: [Range<Int>]
        switch spec.kind {
        case .image: shards = [0..<n]
        case .anyres: shards = units
        case .video: shards = stride(from: 0, to: spec.units, by: max(1, spec.segmentFrames)).map { ($0 * perUnit)..<(min(spec.units, $0 + spec.segmentFrames) * perUnit) }
        }
        return SyntheticRequest(spec: spec, n: n, featureDim: d, embeddingDim: dq, features: features, embeddings: embeddings,
                                query: query, units: units, shards: shards, objectOfToken: objectOf, targetObject: 0)
    }
}
