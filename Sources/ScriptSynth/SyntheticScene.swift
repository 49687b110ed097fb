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

    /// The objects, in the generator's order: target, the harder cases' extra ground truth,
    /// look-alikes, text and logos, large things.
    private mutating func makeObjects(_ kind: SampleKind, _ scenario: SampleScenario, thing: [Float], writing: [Float],
                                      space: inout ConceptSpace, rng: inout SynthRandom) {
        var b = SceneBuilder(scene: self, video: kind == .video, thing: thing, space: space, rng: rng)
        let placed = b.makeTarget(scenario)
        let extra = b.makeHarderCases(scenario, placed)
        let lookAlikes = b.makeLookAlikes(placed)
        let small = b.makeTextAndLogos(writing: writing, placed)
        let large = b.makeLargeThings()
        self = b.scene
        space = b.space
        rng = b.rng
        target = placed.id
        targets = [placed.id] + extra
        distractors = lookAlikes
        paintOrder = [placed.id] + extra + small + lookAlikes + large
    }
}
