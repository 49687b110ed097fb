/// Paints every token's latents from a scene, unit by unit (a tile or a frame): the shared
/// directions, the shot's tone, what covers each of four sub-samples of the token's area
/// (the topmost object, else the background material), smooth fields; then a few high-norm
/// artifact tokens a unit. Writes features' and query-space latents side by side.
struct LatentPainter {
    let spec: SampleSpec
    let scene: SyntheticScene
    private let shotOfFrame: [Int]
    private let tileCols: Int, tileRows: Int
    private let l = SampleGenerator.latentDim
    private static let offsets: [(Float, Float)] = [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)]

    init(spec: SampleSpec, scene: SyntheticScene) {
        self.spec = spec
        self.scene = scene
        var shotOfFrame = [Int](repeating: 0, count: scene.frameCount)
        for (s, shot) in scene.shots.enumerated() { for f in shot.frames { shotOfFrame[f] = s } }
        self.shotOfFrame = shotOfFrame
        let tiles = max(1, spec.units - 1)
        tileCols = SampleGenerator.ceilSqrt(tiles)
        tileRows = (tiles + tileCols - 1) / tileCols
    }

    /// Where a token writes its latents: the request's feature and query-space rows and the
    /// object each token shows, all indexed by token.
    struct Canvas {
        let features: UnsafeMutablePointer<Float>
        let embeddings: UnsafeMutablePointer<Float>
        let objectOf: UnsafeMutablePointer<Int32>
    }

    /// Unit `u`'s rectangle of the view and its view direction (AnyRes tiles after the base view).
    private func unitView(_ u: Int) -> (rect: (x: Float, y: Float, w: Float, h: Float), view: [Float]) {
        guard spec.kind == .anyres && u > 0 else { return ((0, 0, 1, 1), scene.baseView) }
        let q = u - 1
        return ((Float(q % tileCols) / Float(tileCols), Float(q / tileCols) / Float(tileRows),
                 1 / Float(tileCols), 1 / Float(tileRows)), scene.tileView)
    }

    /// Paints unit `u`'s tokens; `hits` is scratch of one count per object.
    func paintUnit(_ u: Int, on canvas: Canvas, hits: inout [Int]) {
        let (rect, view) = unitView(u)
        let (gw, gh) = spec.gridSize
        let frame = spec.kind == .video ? u : 0
        let shot = scene.shots[shotOfFrame[frame]]
        let cell = (w: rect.w / Float(gw), h: rect.h / Float(gh))
        for k in 0..<spec.tokensPerUnit {
            let t = u * spec.tokensPerUnit + k
            let x = rect.x + (Float(k % gw) + 0.5) * cell.w, y = rect.y + (Float(k / gw) + 0.5) * cell.h
            canvas.objectOf[t] = paintToken(canvas.features + t * l, canvas.embeddings + t * l, at: (x, y), cell: cell,
                                            frame: frame, shot: shot, view: view, hits: &hits)
        }
    }

    /// Paints one token centred at `at` (frame coordinates); returns the object covering at
    /// least half of it (the topmost on a tie), or -1.
    private func paintToken(_ f: UnsafeMutablePointer<Float>, _ e: UnsafeMutablePointer<Float>, at: (x: Float, y: Float),
                            cell: (w: Float, h: Float), frame: Int, shot: SceneShot, view: [Float], hits: inout [Int]) -> Int32 {
        let F = TokenLook.features, E = TokenLook.embeddings
        let cam = shot.camera(frame)
        add(f, F.global, scene.global); add(e, E.global, scene.global)
        add(f, F.view, view); add(e, E.view, view)
        add(f, F.tone, shot.tone); add(e, E.tone, shot.tone)
        for i in hits.indices { hits[i] = 0 }
        for (ox, oy) in Self.offsets {
            let sx = at.x + ox * cell.w, sy = at.y + oy * cell.h, wx = sx + cam.dx, wy = sy + cam.dy
            let material = shot.materials[shot.material(wx, wy)]
            if let (o, across) = topmost(at: sx, sy, world: wx, wy, frame: frame) {
                let obj = scene.objects[o]
                hits[o] += 1
                add(f, 0.25 * F.concept, obj.concept); add(e, 0.25 * E.concept, obj.concept)
                add(f, 0.25 * F.part * across, obj.part); add(e, 0.25 * E.part * across, obj.part)
                add(f, 0.25 * F.materialUnderObject, material); add(e, 0.25 * E.materialUnderObject, material)
            } else {
                add(f, 0.25 * F.material, material); add(e, 0.25 * E.material, material)
            }
        }
        for (field, direction) in zip(shot.fields, shot.fieldDirections) {
            let a = field(at.x + cam.dx, at.y + cam.dy)
            add(f, F.fields * a, direction); add(e, E.fields * a, direction)
        }
        var best = -1
        for o in scene.paintOrder where hits[o] >= 2 && (best < 0 || hits[o] > hits[best]) { best = o }
        return Int32(best)
    }

    /// The topmost object at a point of frame `frame` (frame and world coordinates), and where
    /// the point falls across it.
    private func topmost(at x: Float, _ y: Float, world wx: Float, _ wy: Float, frame: Int) -> (Int, Float)? {
        for o in scene.paintOrder {
            if let across = scene.objects[o].locate(x: x, y: y, wx: wx, wy: wy, frame: frame) { return (o, across) }
        }
        return nil
    }

    /// High-norm artifact tokens (ViTs without registers): a few background tokens of unit `u`
    /// carry a shared global signal instead of their patch.
    func addArtifacts(_ u: Int, on canvas: Canvas, _ rng: inout SynthRandom) {
        let perUnit = spec.tokensPerUnit
        let expected = Float(perUnit) / 300
        var count = Int(expected)
        if rng.chance(expected - Float(count)) { count += 1 }
        for _ in 0..<count {
            let t = u * perUnit + rng.int(0..<perUnit)
            guard canvas.objectOf[t] < 0 else { continue }
            for (buf, scale) in [(canvas.features, Float(2.2)), (canvas.embeddings, Float(1.6))] {
                let row = buf + t * l
                for i in 0..<l { row[i] = 0.35 * row[i] + scale * scene.artifact[i] }
            }
        }
    }

    @inline(__always)
    private func add(_ row: UnsafeMutablePointer<Float>, _ s: Float, _ v: [Float]) {
        if s != 0 { for i in 0..<l { row[i] += s * v[i] } }
    }
}
