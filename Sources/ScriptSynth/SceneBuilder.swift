/// Places a scene's objects one kind at a time (the target, the harder cases' extra ground
/// truth, look-alikes, text and logos, large things), drawing from one seeded generator in a
/// fixed order: the same seed gives the same scene.
struct SceneBuilder {
    /// Where the target went, which the objects placed after it keep clear of.
    struct Target {
        let id: Int
        /// Its kind without its trait: what look-alikes share with it.
        let kind: [Float]
        let concept: [Float]
        let area: Float
        let shot: Int
        let frames: Range<Int>
        /// The box it sweeps over its frames.
        let sweep: (x0: Float, x1: Float, y0: Float, y1: Float)
    }

    var scene: SyntheticScene
    var space: ConceptSpace
    var rng: SynthRandom
    /// The family every object's concept belongs to.
    let thing: [Float]
    let video: Bool
    let gw: Float, gh: Float

    init(scene: SyntheticScene, video: Bool, thing: [Float], space: ConceptSpace, rng: SynthRandom) {
        self.scene = scene
        self.space = space
        self.rng = rng
        self.thing = thing
        self.video = video
        gw = Float(scene.grid.width)
        gh = Float(scene.grid.height)
    }

    mutating func concept() -> [Float] { space.member(of: thing, share: 0.4, &rng) }

    mutating func part() -> [Float] { ConceptSpace.normalized(rng.normals(space.dim)) }

    /// Half sizes for an area (view = 1) and a random aspect ratio, at least `minTokens` tokens a side.
    mutating func halves(_ area: Float, minTokens: Float = 2) -> (Float, Float) {
        let aspect = rng.uniform(0.6, 1.6)
        return (max((area * aspect).squareRoot(), minTokens / gw) / 2, max((area / aspect).squareRoot(), minTokens / gh) / 2)
    }

    mutating func add(_ o: SceneObject) -> Int {
        scene.objects.append(o)
        return scene.objects.count - 1
    }

    func frames(ofShot s: Int) -> Range<Int> { video ? scene.shots[s].frames : 0..<Int.max }

    static func isClear(_ cx: Float, _ cy: Float, _ hw: Float, _ hh: Float, of t: Target) -> Bool {
        cx + hw < t.sweep.x0 || cx - hw > t.sweep.x1 || cy + hh < t.sweep.y0 || cy - hh > t.sweep.y1
    }

    /// A centre inside the view keeping clear of the target when it can (30 tries).
    mutating func place(_ hw: Float, _ hh: Float, clearOf t: Target) -> (Float, Float) {
        var best = (Float(0.5), Float(0.5))
        for _ in 0..<30 {
            best = (rng.uniform(hw, max(hw + 0.001, 1 - hw)), rng.uniform(hh, max(hh + 0.001, 1 - hh)))
            if Self.isClear(best.0, best.1, hw, hh, of: t) { break }
        }
        return best
    }

    /// Like `place`, and apart from the objects `others` (30 more tries).
    mutating func place(_ hw: Float, _ hh: Float, clearOf t: Target, apartFrom others: [Int]) -> (Float, Float) {
        var spot = place(hw, hh, clearOf: t)
        for _ in 0..<30 where others.contains(where: { e in
            let o = scene.objects[e]
            return abs(o.cx - spot.0) < o.hw + hw + 0.02 && abs(o.cy - spot.1) < o.hh + hh + 0.02
        }) { spot = place(hw, hh, clearOf: t) }
        return spot
    }

    /// The target: ~1-3% of an image (a few tokens of each video frame it is in), with a trait
    /// of its own ("red") that the query names and look-alikes lack.
    mutating func makeTarget(_ scenario: SampleScenario) -> Target {
        let area = video ? rng.uniform(0.02, 0.04) : rng.uniform(0.012, 0.025)
        let many = scenario == .smallTargets
        let (hw, hh) = halves(many ? area / 4 : area, minTokens: many ? 1 : 2)
        let kind = concept()
        let targetConcept = ConceptSpace.normalized(ConceptSpace.sum([(1, kind), (0.5, scene.attributes[0])]))
        var t = SceneObject(shape: .rect, cx: 0.5, cy: 0.5, hw: hw, hh: hh, concept: targetConcept, part: part())
        let shot: Int
        if video {
            shot = move(&t, brief: scenario == .briefTarget)
        } else {
            shot = 0
            t.cx = rng.uniform(hw + 0.04, max(hw + 0.05, 0.96 - hw))
            t.cy = rng.uniform(hh + 0.04, max(hh + 0.05, 0.96 - hh))
        }
        let dt = Float(max(0, t.frames.count - 1))
        let sweep = (x0: min(t.cx, t.cx + t.vx * dt) - hw, x1: max(t.cx, t.cx + t.vx * dt) + hw,
                     y0: min(t.cy, t.cy + t.vy * dt) - hh, y1: max(t.cy, t.cy + t.vy * dt) + hh)
        return Target(id: add(t), kind: kind, concept: targetConcept, area: area, shot: shot, frames: t.frames, sweep: sweep)
    }

    /// Puts a video's target on screen for a few consecutive frames of one shot, moving across
    /// it; returns the shot.
    private mutating func move(_ t: inout SceneObject, brief: Bool) -> Int {
        let frameCount = scene.frameCount, shots = scene.shots
        let shown = brief ? min(2, frameCount)
            : frameCount >= 4 ? max(2, Int((Float(frameCount) * 0.08).rounded())) : frameCount
        let fitting = shots.indices.filter { shots[$0].frames.count >= shown + 2 }
        let shot = fitting.isEmpty ? 0 : fitting[rng.int(0..<fitting.count)]
        let sf = shots[shot].frames
        let slack = sf.count - shown
        let start = sf.lowerBound + (slack >= 2 ? 1 + rng.int(0..<(slack - 1)) : max(0, slack) / 2)
        t.frames = start..<min(sf.upperBound, start + shown)
        let speed = rng.uniform(0.035, 0.07), steps = Float(max(1, t.frames.count - 1))
        t.vx = (rng.chance(0.5) ? 1 : -1) * speed * rng.uniform(0.7, 1)
        t.vy = (rng.chance(0.5) ? 1 : -1) * speed * rng.uniform(0, 0.5)
        t.cx = Self.start(half: t.hw, velocity: &t.vx, steps: steps, &rng)
        t.cy = Self.start(half: t.hh, velocity: &t.vy, steps: steps, &rng)
        return shot
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

    /// The harder cases' extra ground truth, clear of the target and of each other: three more
    /// small instances of it, or the second object a two-object query names.
    mutating func makeHarderCases(_ scenario: SampleScenario, _ target: Target) -> [Int] {
        var extra: [Int] = []
        if scenario == .smallTargets {
            for _ in 0..<3 {
                let (hw, hh) = halves(target.area / 4, minTokens: 1)
                let (cx, cy) = place(hw, hh, clearOf: target, apartFrom: extra)
                var o = SceneObject(shape: .rect, cx: cx, cy: cy, hw: hw, hh: hh, concept: target.concept, part: part())
                o.frames = target.frames
                extra.append(add(o))
            }
        }
        if scenario == .twoObjects {
            scene.secondTrait = space.fresh(&rng)
            let concept2 = ConceptSpace.normalized(ConceptSpace.sum([(1, concept()), (0.5, scene.secondTrait)]))
            let (hw, hh) = halves(target.area)
            let (cx, cy) = place(hw, hh, clearOf: target, apartFrom: extra)
            var o = SceneObject(shape: .rect, cx: cx, cy: cy, hw: hw, hh: hh, concept: concept2, part: part())
            o.frames = frames(ofShot: target.shot)
            o.anchoredToWorld = true
            if video {
                let cam = scene.shots[target.shot].camera(target.frames.lowerBound)
                o.cx += cam.dx; o.cy += cam.dy
            }
            extra.append(add(o))
        }
        return extra
    }

    /// Look-alikes (concept cosine 0.6-0.8 to the target, all of it through the target's kind,
    /// none through its trait): one where the target is, one elsewhere in a video.
    mutating func makeLookAlikes(_ target: Target) -> [Int] {
        var lookAlikes: [Int] = []
        for (i, cosine) in [rng.uniform(0.7, 0.8), rng.uniform(0.6, 0.7)].enumerated() {
            let (hw, hh) = halves(target.area * rng.uniform(1, i == 0 ? 2 : 3))
            let (cx, cy) = place(hw, hh, clearOf: target)
            let others = scene.shots.indices.filter { $0 != target.shot }
            let shot = i == 0 || others.isEmpty ? target.shot : others[rng.int(0..<others.count)]
            let toKind = min(1, cosine / ConceptSpace.dot(target.kind, target.concept))
            var d = SceneObject(shape: rng.chance(0.5) ? .rect : .ellipse, cx: cx, cy: cy, hw: hw, hh: hh,
                                concept: ConceptSpace.near(target.kind, cosine: toKind, other: concept()), part: part())
            d.frames = frames(ofShot: shot)
            d.anchoredToWorld = true
            if video {
                // World position of the placed spot at the target's first frame, or mid-shot.
                let sf = scene.shots[shot].frames
                let cam = scene.shots[shot].camera(shot == target.shot ? target.frames.lowerBound : sf.lowerBound + sf.count / 2)
                d.cx += cam.dx; d.cy += cam.dy
            }
            lookAlikes.append(add(d))
        }
        return lookAlikes
    }

    /// Text and logos: 2-6 tokens of the base grid, aligned to it. In a video: a caption for a
    /// quarter of the clip, a channel logo throughout, a sign in one shot.
    mutating func makeTextAndLogos(writing: [Float], _ target: Target) -> [Int] {
        (0..<3).map { i in
            let logo = i == 2
            let wTok = logo ? Float(rng.int(1..<3)) : Float(rng.int(2..<6)), hTok: Float = logo ? Float(rng.int(1..<3)) : 1
            let wTokens = logo && wTok * hTok < 2 ? 2 : wTok
            let (cx, cy) = placeOnGrid(wTokens: wTokens, hTokens: hTok, clearOf: target)
            var o = SceneObject(shape: .rect, cx: cx, cy: cy, hw: wTokens / gw / 2 * 0.999, hh: hTok / gh / 2 * 0.999,
                                concept: logo ? concept() : space.member(of: writing, share: 0.8, &rng), part: part())
            if video { showText(&o, i) }
            return add(o)
        }
    }

    /// A centre aligned to the base grid for `wTokens x hTokens` tokens, clear of the target when
    /// it can be (30 tries).
    private mutating func placeOnGrid(wTokens: Float, hTokens: Float, clearOf target: Target) -> (Float, Float) {
        let hw = wTokens / gw / 2, hh = hTokens / gh / 2
        let grid = scene.grid
        var cx: Float = 0.5, cy: Float = 0.5
        for _ in 0..<30 {
            cx = (Float(rng.int(0..<max(1, grid.width - Int(wTokens) + 1))) + wTokens / 2) / gw
            cy = (Float(rng.int(0..<max(1, grid.height - Int(hTokens) + 1))) + hTokens / 2) / gh
            if Self.isClear(cx, cy, hw, hh, of: target) { break }
        }
        return (cx, cy)
    }

    /// When text `i` of a video shows: a caption (0) for a quarter of the clip, a sign (1) in
    /// one shot, a logo (2) throughout.
    private mutating func showText(_ o: inout SceneObject, _ i: Int) {
        let frameCount = scene.frameCount
        switch i {
        case 0:
            let length = max(1, frameCount / 4)
            let start = rng.int(0..<(frameCount - length + 1))
            o.frames = start..<(start + length)
        case 1:
            let s = rng.int(0..<scene.shots.count)
            o.frames = scene.shots[s].frames
            o.anchoredToWorld = true
        default: break
        }
    }

    /// Large and medium things: three per image, per shot in a video.
    mutating func makeLargeThings() -> [Int] {
        var large: [Int] = []
        for s in scene.shots.indices {
            for i in 0..<3 {
                let (hw, hh) = halves(i == 2 ? rng.uniform(0.03, 0.05) : rng.uniform(0.06, 0.15), minTokens: 3)
                var o = SceneObject(shape: .ellipse, cx: rng.uniform(0.05, 0.95), cy: rng.uniform(0.05, 0.95), hw: hw, hh: hh,
                                    concept: concept(), part: part())
                o.frames = frames(ofShot: s)
                o.anchoredToWorld = true
                if video {
                    let cam = scene.shots[s].camera(scene.shots[s].frames.lowerBound + scene.shots[s].frames.count / 2)
                    o.cx += cam.dx; o.cy += cam.dy
                    o.vx = rng.uniform(-0.004, 0.004)
                }
                large.append(add(o))
            }
        }
        return large
    }
}
