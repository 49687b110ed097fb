/// One object of a synthetic scene: where it is (a rectangle or an ellipse, in scene units),
/// when (video frames), how it moves, and what it looks like (a concept vector, plus a part
/// vector that varies across it so its tokens are alike but not identical).
struct SceneObject {
    enum Shape { case rect, ellipse }

    var shape: Shape
    /// Centre and half sizes at the first frame it is shown, in scene units ([0, 1) is the view).
    var cx: Float, cy: Float, hw: Float, hh: Float
    /// Motion per frame.
    var vx: Float = 0, vy: Float = 0
    var frames: Range<Int> = 0..<Int.max
    /// Fixed in the world (moves with the camera's pan) or on screen (captions, logos, a
    /// subject the camera follows).
    var anchoredToWorld = false
    let concept: [Float]
    let part: [Float]

    /// Where a point of frame `f` falls across the object, -1 ... 1 from its left edge to its
    /// right, or nil when the object is not there. `(x, y)` are frame coordinates, `(wx, wy)`
    /// world coordinates.
    @inline(__always)
    func locate(x: Float, y: Float, wx: Float, wy: Float, frame f: Int) -> Float? {
        guard frames.contains(f) else { return nil }
        let dt = Float(f - frames.lowerBound)
        let ox = (anchoredToWorld ? wx : x) - (cx + vx * dt), oy = (anchoredToWorld ? wy : y) - (cy + vy * dt)
        let u = ox / hw, v = oy / hh
        switch shape {
        case .rect: guard abs(u) < 1 && abs(v) < 1 else { return nil }
        case .ellipse: guard u * u + v * v < 1 else { return nil }
        }
        return u
    }

    /// Area in scene units (a view is 1).
    var area: Float { shape == .rect ? 4 * hw * hh : Float.pi * hw * hh }
}
