/// What makes a synthetic request hard beyond the standard scene (which every kind has): the
/// harder cases the evaluation adds. A standard request's bytes do not depend on this type.
public enum SampleScenario: String, CaseIterable, Sendable {
    /// One small target, look-alikes, text, large things (the standard scene).
    case standard
    /// Four small instances of the asked-about object (a quarter of the target's area each),
    /// apart from each other: all of them are the ground truth.
    case smallTargets = "small-targets"
    /// Video: the target is on screen for 2 frames only.
    case briefTarget = "brief-target"
    /// The query names two objects, the target and a second small object of another kind with
    /// a trait of its own; both are the ground truth.
    case twoObjects = "two-objects"
}
