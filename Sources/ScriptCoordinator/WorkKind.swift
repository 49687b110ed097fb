import ScriptCore

/// What the coordinator keeps requests' and reduces' times apart by: the method and the
/// precision of the similarity. A token costs each kind its own time (bf16 runs 1.3-1.6x faster
/// a token than f32, CDPruner slower than Script, the methods without products next to nothing),
/// so one kind's pace, blended into another's, would end that kind's waiting requests too early
/// or too late under overload (`shedLate`), or move its reduces too soon (`moveLateReduces`).
struct WorkKind: Hashable, Sendable {
    let method: PruneMethod
    let similarity: SimilarityPrecision

    init(_ options: PruneOptions) {
        method = options.method
        similarity = options.similarity
    }
}
