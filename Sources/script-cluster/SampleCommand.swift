import ArgumentParser
import Foundation
import ScriptFormats
import ScriptSynth

/// `sample`: writes a deterministic synthetic request with ground truth.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sample", 
        abstract: "Write a deterministic synthetic request (features, embeddings, query, layout, ground truth) as .npy files.")

    @Option(help: "image (LLaVA-1.5, 576 x 4096), anyres (5 x 576 x 4096) or video (64 frames x 196 x 3584).")
    var kind: String = "image"

    @Option(help: "Output directory (created).")
    var out: String

    @Option(help: "Seed: the same seed gives the same bytes on every machine.")
    var seed: UInt64 = 1

    @Flag(help: "Small shapes (for tests and quick looks).")
    var small = false

    @Option(help: "Override: units (tiles incl. base view, or frames).") var units: Int?
    @Option(name: .customLong("tokens-per-unit"), help: "Override: tokens per unit.") var tokensPerUnit: Int?
    @Option(name: .customLong("feature-dim"), help: "Override: feature width D.") var featureDim: Int?
    @Option(name: .customLong("embedding-dim"), help: "Override: query-space width Dq.") var embeddingDim: Int?
    @Option(name: .customLong("query-tokens"), help: "Override: query tokens M.") var queryTokens: Int?
    @Option(name: .customLong("segment-frames"), help: "Override: frames per shard (video).") var segmentFrames: Int?

    @Option(help: "Feature dtype on disk: f32 or f16.")
    var dtype: String = "f32"

    func run() throws {
        guard let k = SampleKind(rawValue: kind) else {
            throw ValidationError("--kind must be image, anyres or video, got \(kind)")
        }
        guard dtype == "f32" || dtype == "f16" else { throw ValidationError("--dtype must be f32 or f16, got \(dtype)") }
        var spec = small ? SampleSpec.small(k, seed: seed) : SampleSpec.defaults(for: k, seed: seed)
        if let units { spec.units = units }
        if let tokensPerUnit { spec.tokensPerUnit = tokensPerUnit }
        if let featureDim { spec.featureDim = featureDim }
        if let embeddingDim { spec.embeddingDim = embeddingDim }
        if let queryTokens { spec.queryTokens = queryTokens }
        if let segmentFrames { spec.segmentFrames = segmentFrames }
        let sample = try SampleWriter.write(spec, to: out, halfPrecision: dtype == "f16")
        print("wrote \(sample.n) tokens (\(spec.kind.rawValue), D=\(sample.featureDim), Dq=\(sample.embeddingDim), M=\(spec.queryTokens), \(sample.shards.count) shards, target: \(sample.targetMask.filter { $0 }.count) tokens) to \(out)")
    }
}

/// Writes a synthetic request as the files `prune`, `submit` and `eval` read.
enum SampleWriter {
    @discardableResult
    static func write(_ spec: SampleSpec, to dir: String, halfPrecision: Bool = false) throws -> SyntheticRequest {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let s = SampleGenerator.make(spec)
        let p = { (name: String) in (dir as NSString).appendingPathComponent(name) }
        if halfPrecision {
            try Npy.writeFloat16(s.features, shape: [s.n, s.featureDim], to: p("features.npy"))
        } else {
            try Npy.write(s.features, shape: [s.n, s.featureDim], to: p("features.npy"))
        }
        try Npy.write(s.embeddings, shape: [s.n, s.embeddingDim], to: p("embeddings.npy"))
        try Npy.write(s.query, shape: [spec.queryTokens, s.embeddingDim], to: p("query.npy"))
        try Npy.writeInt64(s.targetMask.map { $0 ? 1 : 0 }, shape: [s.n], to: p("target_mask.npy"))
        try Npy.writeInt64(s.objectOfToken.map { Int($0) }, shape: [s.n], to: p("objects.npy"))
        let layout = LayoutFile(kind: spec.kind.rawValue, tokens: s.n,
                                units: s.units.map { [$0.lowerBound, $0.upperBound] },
                                shards: s.shards.map { [$0.lowerBound, $0.upperBound] })
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(layout).write(to: URL(fileURLWithPath: p("layout.json")))
        return s
    }
}
