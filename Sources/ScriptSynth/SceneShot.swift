/// The background of one shot (an image has one, a video a few): regions of a few materials
/// (the nearest of a handful of seeds), smooth fields over them, and a slow camera pan. Large
/// regions of one material are what make real backgrounds so redundant.
struct SceneShot {
    let frames: Range<Int>
    /// Seeds in world coordinates, each with an index into `materials`.
    let seeds: [(x: Float, y: Float, material: Int)]
    let materials: [[Float]]
    /// Smooth scalar fields, each scaling one latent direction of `fieldDirections`.
    let fields: [ValueNoise]
    let fieldDirections: [[Float]]
    /// The shot's look (colour grade, lighting), shared by all its tokens.
    let tone: [Float]
    /// Camera pan, scene units per frame.
    let panX: Float, panY: Float

    /// Camera offset at frame `f`: frame point (x, y) shows world point (x + dx, y + dy).
    func camera(_ f: Int) -> (dx: Float, dy: Float) {
        let t = Float(f - frames.lowerBound)
        return (panX * t, panY * t)
    }

    func material(_ wx: Float, _ wy: Float) -> Int {
        var best = 0, bestD = Float.infinity
        for (i, s) in seeds.enumerated() {
            let dx = wx - s.x, dy = wy - s.y, d = dx * dx + dy * dy
            if d < bestD { bestD = d; best = i }
        }
        return seeds[best].material
    }
}
