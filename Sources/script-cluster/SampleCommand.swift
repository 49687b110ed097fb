import ArgumentParser
import Foundation
import ScriptFormats
import ScriptService
import ScriptSynth

/// `sample`: writes a deterministic synthetic request with ground truth.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sample", 
        abstract: "Write a deterministic synthetic request (features, embeddings, query, layout, ground truth) as .npy files.")

    @Option(help: "image (LLaVA-1.5, 576 x 4096), anyres (5 x 576 x 4096) or video (64 frames x 196 x 3584).")
    var kind: String = "image"

    @Option(help: "Output directory (created).")
    var out: String

    @Option(parsing: .unconditional, help: "Seed: the same seed gives the same bytes on every machine.")
    var seed: UInt64 = 1

    @Flag(help: "Small shapes (for tests and quick looks).")
    var small = false

    @Option(parsing: .unconditional, help: "Override: units (tiles incl. base view, or frames).") var units: Int?
    @Option(name: .customLong("tokens-per-unit"), parsing: .unconditional, help: "Override: tokens per unit.") var tokensPerUnit: Int?
    @Option(name: .customLong("feature-dim"), parsing: .unconditional, help: "Override: feature width D.") var featureDim: Int?
    @Option(name: .customLong("embedding-dim"), parsing: .unconditional, help: "Override: query-space width Dq.") var embeddingDim: Int?
    @Option(name: .customLong("query-tokens"), parsing: .unconditional, help: "Override: query tokens M (0: no query).") var queryTokens: Int?
    @Option(name: .customLong("segment-frames"), parsing: .unconditional, help: "Override: frames per shard (video).") var segmentFrames: Int?

    @Option(help: "Feature dtype on disk: f32 or f16.")
    var dtype: String = "f32"

    @OptionGroup var progress: ProgressOptions

    /// The cluster's default limits (`coordinator --max-tokens --max-width`): larger samples
    /// could not be served anyway.
    static let maxTokens = 1_000_000, maxWidth = 65_536

    func validate() throws {
        try FlagValue.choice(kind, "--kind", SampleKind.allCases.map(\.rawValue))
        try FlagValue.choice(dtype, "--dtype", ["f32", "f16"])
        try FlagValue.count(units, "--units", to: Self.maxTokens)
        try FlagValue.count(tokensPerUnit, "--tokens-per-unit", to: Self.maxTokens)
        try FlagValue.count(featureDim, "--feature-dim", to: Self.maxWidth)
        try FlagValue.count(embeddingDim, "--embedding-dim", to: Self.maxWidth)
        try FlagValue.count(queryTokens, "--query-tokens", from: 0, to: Self.maxTokens)
        try FlagValue.count(segmentFrames, "--segment-frames")
        let s = spec
        guard s.units * s.tokensPerUnit <= Self.maxTokens else {
            throw InputError("--units x --tokens-per-unit", "\(s.units) x \(s.tokensPerUnit)",
                             "must make at most \(Self.maxTokens) tokens").validation
        }
    }

    /// The shape asked for: the kind's defaults (or small shapes), with the overrides.
    private var spec: SampleSpec {
        let k = SampleKind(rawValue: kind) ?? .image
        var spec = small ? SampleSpec.small(k, seed: seed) : SampleSpec.defaults(for: k, seed: seed)
        if let units { spec.units = units }
        if let tokensPerUnit { spec.tokensPerUnit = tokensPerUnit }
        if let featureDim { spec.featureDim = featureDim }
        if let embeddingDim { spec.embeddingDim = embeddingDim }
        if let queryTokens { spec.queryTokens = queryTokens }
        if let segmentFrames { spec.segmentFrames = segmentFrames }
        return spec
    }

    func run() throws {
        let spec = self.spec
        let line = progress.line("sample: generating \(spec.units * spec.tokensPerUnit) tokens of width \(spec.featureDim)")
        defer { line.finish() }
        let sample: SyntheticRequest
        do { sample = try SampleWriter.write(spec, to: out, halfPrecision: dtype == "f16") } catch {
            var isDirectory: ObjCBool = false
            let isFile = FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) && !isDirectory.boolValue
            throw InputError("--out", out, isFile ? "is a file; give a directory" : "cannot be written: \(Self.reason(error))")
        }
        line.finish()
        let bytes = sample.n * sample.featureDim * (dtype == "f16" ? 2 : 4) + sample.n * sample.embeddingDim * 4
        say("wrote \(sample.n) tokens (\(spec.kind.rawValue), D=\(sample.featureDim), Dq=\(sample.embeddingDim), M=\(spec.queryTokens), \(sample.shards.count) shards, target: \(sample.targetMask.filter { $0 }.count) tokens; \(Units.bytes(bytes))) to \(out)")
    }

    /// The system's reason a sample could not be written (`Permission denied`).
    private static func reason(_ error: Error) -> String {
        if let e = error as? FormatError, case .unwritable(let why) = e.problem { return why }
        if let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? Error {
            let posix = underlying as NSError
            if posix.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(posix.code))) }
        }
        return "no permission, or no space left"
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
        try FileOutput.write(enc.encode(layout), to: p("layout.json"))
        return s
    }
}
