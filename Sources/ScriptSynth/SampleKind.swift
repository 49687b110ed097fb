/// The request shapes inference farms feed: a LLaVA-1.5 image, a LLaVA-NeXT AnyRes image
/// (base view plus tiles), a video.
public enum SampleKind: String, CaseIterable, Sendable {
    case image, anyres, video
}
