/// What a synthetic request shows, before any token exists: shots with their backgrounds, the
/// objects (a small target, look-alikes, text and logos, large things), and the concepts the
/// query draws on. Built from the seeded generator alone.
struct SyntheticScene {
    var shots: [SceneShot] = []
    /// Indexed by object id.
    var objects: [SceneObject] = []
    /// Object ids, topmost first: the target is never hidden.
    var paintOrder: [Int] = []
    var target = 0
    /// The ground truth: the target first, then (harder cases) its other instances or the
    /// second object the query names.
    var targets: [Int] = []
    var distractors: [Int] = []
    /// Shared directions: every image token, AnyRes base view and tiles, high-norm artifacts.
    var global: [Float] = [], baseView: [Float] = [], tileView: [Float] = [], artifact: [Float] = []
    /// Query-side concepts: what all text shares, and attributes ("red", "small", "left of");
    /// the target has the first.
    var language: [Float] = [], attributes: [[Float]] = []
    /// The trait of the second object a two-object query names (empty otherwise).
    var secondTrait: [Float] = []

    /// Frames of the request (1 for images).
    let frameCount: Int
    /// The base view's token grid, to size text and logos in tokens.
    let grid: (width: Int, height: Int)

    init(spec: SampleSpec, space: inout ConceptSpace, rng: inout SynthRandom) {
        frameCount = spec.kind == .video ? spec.units : 1
        grid = spec.gridSize
        global = space.fresh(&rng)
        baseView = space.fresh(&rng)
        tileView = space.fresh(&rng)
        artifact = space.fresh(&rng)
        language = space.fresh(&rng)
        attributes = (0..<3).map { _ in space.fresh(&rng) }
        let stuff = space.fresh(&rng), thing = space.fresh(&rng), writing = space.fresh(&rng)
        makeShots(spec.kind, stuff: stuff, space: &space, rng: &rng)
        makeObjects(spec.kind, spec.scenario, thing: thing, writing: writing, space: &space, rng: &rng)
    }

    /// One shot for an image; a video of 40 frames or more cuts every 20 or so.
    private mutating func makeShots(_ kind: SampleKind, stuff: [Float], space: inout ConceptSpace, rng: inout SynthRandom) {
        let video = kind == .video
        let pool = (0..<(video ? 6 : 4)).map { _ in space.member(of: stuff, share: 0.5, &rng) }
        let fieldDirections = (0..<4).map { _ in space.fresh(&rng) }
        let count = video && frameCount >= 40 ? min(4, frameCount / 20) : 1
        var cuts = [0]
        for s in 1..<max(1, count) {
            let mid = frameCount * s / count, jitter = max(1, frameCount / (count * 6))
            cuts.append(mid + rng.int(-jitter..<(jitter + 1)))
        }
        cuts.append(frameCount)
        for s in 0..<count {
            let frames = cuts[s]..<cuts[s + 1]
            let panX = video ? (rng.chance(0.5) ? 1 : -1) * rng.uniform(0.004, 0.012) : 0
            let panY = video ? rng.uniform(-0.004, 0.004) : 0
            let reachX = panX * Float(frames.count), reachY = panY * Float(frames.count)
            let lo = -0.2 + min(0, reachX), hi = 1.2 + max(0, reachX)
            let loY = -0.2 + min(0, reachY), hiY = 1.2 + max(0, reachY)
            var materials = pool
            if video { for i in stride(from: materials.count - 1, to: 0, by: -1) { materials.swapAt(i, rng.int(0..<(i + 1))) } }
            materials = Array(materials.prefix(video ? 3 : 4))
            let seeds = (0..<rng.int(5..<8)).map { i in
                (x: rng.uniform(lo, hi), y: rng.uniform(loY, hiY), material: i < materials.count ? i : rng.int(0..<materials.count))
            }
            let range: ClosedRange<Float> = min(lo, loY)...max(hi, hiY)
            let fields = [ValueNoise(spacing: 0.45, covering: range, amplitude: 0.22, rng: &rng),
                          ValueNoise(spacing: 0.45, covering: range, amplitude: 0.22, rng: &rng),
                          ValueNoise(spacing: 0.45, covering: range, amplitude: 0.22, rng: &rng),
                          ValueNoise(spacing: 0.15, covering: range, amplitude: 0.12, rng: &rng)]
            shots.append(SceneShot(frames: frames, seeds: seeds, materials: materials, fields: fields,
                                   fieldDirections: fieldDirections, tone: space.fresh(&rng), panX: panX, panY: panY))
        }
    }

    private mutating func makeObjects(_ kind: SampleKind, _ scenario: SampleScenario, thing: [Float], writing: [Float],
                                      space: inout ConceptSpace, rng: inout SynthRandom) {
        let video = kind == .video
        let gw = Float(grid.width), gh = Float(grid.height)
        func concept() -> [Float] { space.member(of: thing, share: 0.4, &rng) }
        func part() -> [Float] { ConceptSpace.normalized(rng.normals(space.dim)) }
        /// Half sizes for an area (view = 1) and aspect ratio, at least `minTokens` tokens a side.
        func halves(_ area: Float, minTokens: Float = 2) -> (Float, Float) {
            let aspect = rng.uniform(0.6, 1.6)
            return (max((area * aspect).squareRoot(), minTokens / gw) / 2, max((area / aspect).squareRoot(), minTokens / gh) / 2)
        }
        func add(_ o: SceneObject) -> Int { objects.append(o); return objects.count - 1 }

        // The target: ~1-3% of an image (a few tokens of each video frame it is in).
        let targetArea = video ? rng.uniform(0.02, 0.04) : rng.uniform(0.012, 0.025)
        let many = scenario == .smallTargets
        let (thw, thh) = halves(many ? targetArea / 4 : targetArea, minTokens: many ? 1 : 2)
        // The target has a trait of its own ("red"), which the query names and look-alikes lack.
        let targetKind = concept()
        let targetConcept = ConceptSpace.normalized(ConceptSpace.sum([(1, targetKind), (0.5, attributes[0])]))
        var t = SceneObject(shape: .rect, cx: 0.5, cy: 0.5, hw: thw, hh: thh, concept: targetConcept, part: part())
        let targetShot: Int
        if video {
            // On screen for a few consecutive frames of one shot, moving across it.
            let shown = scenario == .briefTarget ? min(2, frameCount)
                : frameCount >= 4 ? max(2, Int((Float(frameCount) * 0.08).rounded())) : frameCount
            let fitting = shots.indices.filter { shots[$0].frames.count >= shown + 2 }
            targetShot = fitting.isEmpty ? 0 : fitting[rng.int(0..<fitting.count)]
            let sf = shots[targetShot].frames
            let slack = sf.count - shown
            let start = sf.lowerBound + (slack >= 2 ? 1 + rng.int(0..<(slack - 1)) : max(0, slack) / 2)
            t.frames = start..<min(sf.upperBound, start + shown)
            let speed = rng.uniform(0.035, 0.07), steps = Float(max(1, t.frames.count - 1))
            t.vx = (rng.chance(0.5) ? 1 : -1) * speed * rng.uniform(0.7, 1)
            t.vy = (rng.chance(0.5) ? 1 : -1) * speed * rng.uniform(0, 0.5)
            t.cx = Self.start(half: thw, velocity: &t.vx, steps: steps, &rng)
            t.cy = Self.start(half: thh, velocity: &t.vy, steps: steps, &rng)
        } else {
            targetShot = 0
            t.cx = rng.uniform(thw + 0.04, max(thw + 0.05, 0.96 - thw))
            t.cy = rng.uniform(thh + 0.04, max(thh + 0.05, 0.96 - thh))
        }
        target = add(t)
        // The box the target sweeps, which look-alikes and text keep clear of.
        let dt = Float(max(0, t.frames.count - 1))
        let sweep = (x0: min(t.cx, t.cx + t.vx * dt) - thw, x1: max(t.cx, t.cx + t.vx * dt) + thw,
                     y0: min(t.cy, t.cy + t.vy * dt) - thh, y1: max(t.cy, t.cy + t.vy * dt) + thh)
        func clear(_ cx: Float, _ cy: Float, _ hw: Float, _ hh: Float) -> Bool {
            cx + hw < sweep.x0 || cx - hw > sweep.x1 || cy + hh < sweep.y0 || cy - hh > sweep.y1
        }
        /// A centre inside the view keeping clear of the target when it can (30 tries).
        func place(_ hw: Float, _ hh: Float) -> (Float, Float) {
            var best = (Float(0.5), Float(0.5))
            for _ in 0..<30 {
                best = (rng.uniform(hw, max(hw + 0.001, 1 - hw)), rng.uniform(hh, max(hh + 0.001, 1 - hh)))
                if clear(best.0, best.1, hw, hh) { break }
            }
            return best
        }
        func frames(ofShot s: Int) -> Range<Int> { video ? shots[s].frames : 0..<Int.max }

        // Harder cases: more ground truth, placed clear of the target and of each other.
        var extra: [Int] = []
        func placeApart(_ hw: Float, _ hh: Float) -> (Float, Float) {
            var spot = place(hw, hh)
            for _ in 0..<30 where extra.contains(where: { e in
                let o = objects[e]
                return abs(o.cx - spot.0) < o.hw + hw + 0.02 && abs(o.cy - spot.1) < o.hh + hh + 0.02
            }) { spot = place(hw, hh) }
            return spot
        }
        if many {
            for _ in 0..<3 {
                let (hw, hh) = halves(targetArea / 4, minTokens: 1)
                let (cx, cy) = placeApart(hw, hh)
                var o = SceneObject(shape: .rect, cx: cx, cy: cy, hw: hw, hh: hh, concept: targetConcept, part: part())
                o.frames = t.frames
                extra.append(add(o))
            }
        }
        if scenario == .twoObjects {
            secondTrait = space.fresh(&rng)
            let concept2 = ConceptSpace.normalized(ConceptSpace.sum([(1, concept()), (0.5, secondTrait)]))
            let (hw, hh) = halves(targetArea)
            let (cx, cy) = placeApart(hw, hh)
            var o = SceneObject(shape: .rect, cx: cx, cy: cy, hw: hw, hh: hh, concept: concept2, part: part())
            o.frames = frames(ofShot: targetShot)
            o.anchoredToWorld = true
            if video {
                let cam = shots[targetShot].camera(t.frames.lowerBound)
                o.cx += cam.dx; o.cy += cam.dy
            }
            extra.append(add(o))
        }
        targets = [target] + extra

        // Look-alikes (concept cosine 0.6-0.8 to the target, all of it through the target's kind,
        // none through its trait): one where the target is, one elsewhere in a video.
        var lookAlikes: [Int] = []
        for (i, cosine) in [rng.uniform(0.7, 0.8), rng.uniform(0.6, 0.7)].enumerated() {
            let (hw, hh) = halves(targetArea * rng.uniform(1, i == 0 ? 2 : 3))
            let (cx, cy) = place(hw, hh)
            let others = shots.indices.filter { $0 != targetShot }
            let shot = i == 0 || others.isEmpty ? targetShot : others[rng.int(0..<others.count)]
            var d = SceneObject(shape: rng.chance(0.5) ? .rect : .ellipse, cx: cx, cy: cy, hw: hw, hh: hh,
                                concept: ConceptSpace.near(targetKind, cosine: min(1, cosine / ConceptSpace.dot(targetKind, targetConcept)),
                                                          other: concept()), part: part())
            d.frames = frames(ofShot: shot)
            d.anchoredToWorld = true
            if video {
                // World position of the placed spot at the target's first frame, or mid-shot.
                let sf = shots[shot].frames
                let cam = shots[shot].camera(shot == targetShot ? t.frames.lowerBound : sf.lowerBound + sf.count / 2)
                d.cx += cam.dx; d.cy += cam.dy
            }
            lookAlikes.append(add(d))
        }
        distractors = lookAlikes

        // Text and logos: 2-6 tokens of the base grid, aligned to it. In a video: a caption for
        // a quarter of the clip, a channel logo throughout, a sign in one shot.
        var small: [Int] = []
        for i in 0..<3 {
            let logo = i == 2
            let wTok = logo ? Float(rng.int(1..<3)) : Float(rng.int(2..<6)), hTok: Float = logo ? Float(rng.int(1..<3)) : 1
            let wTokens = logo && wTok * hTok < 2 ? 2 : wTok
            let hw = wTokens / gw / 2, hh = hTok / gh / 2
            var cx: Float = 0.5, cy: Float = 0.5
            for _ in 0..<30 {
                cx = (Float(rng.int(0..<max(1, grid.width - Int(wTokens) + 1))) + wTokens / 2) / gw
                cy = (Float(rng.int(0..<max(1, grid.height - Int(hTok) + 1))) + hTok / 2) / gh
                if clear(cx, cy, hw, hh) { break }
            }
            var o = SceneObject(shape: .rect, cx: cx, cy: cy, hw: hw * 0.999, hh: hh * 0.999,
                                concept: logo ? concept() : space.member(of: writing, share: 0.8, &rng), part: part())
            if video {
                switch i {
                case 0:
                    let length = max(1, frameCount / 4)
                    let start = rng.int(0..<(frameCount - length + 1))
                    o.frames = start..<(start + length)
                case 1:
                    let s = rng.int(0..<shots.count)
                    o.frames = shots[s].frames
                    o.anchoredToWorld = true
                default: break
                }
            }
            small.append(add(o))
        }

        // Large and medium things: three per image, per shot in a video.
        var large: [Int] = []
        for s in shots.indices {
            for i in 0..<3 {
                let (hw, hh) = halves(i == 2 ? rng.uniform(0.03, 0.05) : rng.uniform(0.06, 0.15), minTokens: 3)
                var o = SceneObject(shape: .ellipse, cx: rng.uniform(0.05, 0.95), cy: rng.uniform(0.05, 0.95), hw: hw, hh: hh,
                                    concept: concept(), part: part())
                o.frames = frames(ofShot: s)
                o.anchoredToWorld = true
                if video {
                    let cam = shots[s].camera(shots[s].frames.lowerBound + shots[s].frames.count / 2)
                    o.cx += cam.dx; o.cy += cam.dy
                    o.vx = rng.uniform(-0.004, 0.004)
                }
                large.append(add(o))
            }
        }
        paintOrder = [target] + extra + small + lookAlikes + large
    }

    /// A start coordinate for an object of half size `half` moving `velocity` per frame for
    /// `steps` frames, inside the view; slows the object down when the path would not fit.
    private static func start(half: Float, velocity: inout Float, steps: Float, _ rng: inout SynthRandom) -> Float {
        let room = max(0, 1 - 2 * half - 0.04)
        if abs(velocity) * steps > room { velocity = (velocity < 0 ? -1 : 1) * room / steps }
        let travel = velocity * steps
        let lo = half + 0.02 - min(0, travel), hi = 1 - half - 0.02 - max(0, travel)
        return hi > lo ? rng.uniform(lo, hi) : (lo + hi) / 2
    }
}
