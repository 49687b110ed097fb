import ScriptCore
import ScriptWire

/// `PruneOptions` as the protocol's `options` map. `similarity` is sent only when it is not
/// the default f32, so a request in f32 reads as it did before the key existed.
enum OptionsCodec {
    static let keys: Set<String> = ["method", "tau", "gamma", "kmin", "gsp_ratio", "theta", "query_keep", "relevance_sign", "alpha", "seed",
                                      "unit_graph", "discount", "floor_relevance", "similarity"]

    static func encode(_ o: PruneOptions) -> MessagePackValue {
        let precision: [(String, MessagePackValue)] = o.similarity == .f32 ? [] : [("similarity", .string(o.similarity.rawValue))]
        return Envelope.mapValue([
            ("method", .string(o.method.rawValue)), ("tau", .float(Double(o.tau))), ("gamma", .float(Double(o.gamma))),
            ("kmin", .int(Int64(o.kmin))), ("gsp_ratio", .float(o.gspRatio)), ("theta", .float(Double(o.theta))),
            ("query_keep", .float(o.queryKeep)), ("relevance_sign", .float(Double(o.relevanceSign))), ("alpha", .float(o.alpha)),
            ("seed", .uint(o.seed)), ("unit_graph", .bool(o.unitGraph)), ("discount", .int(Int64(o.discount))),
            ("floor_relevance", .float(o.floorRelevance)),
        ] + precision)
    }

    /// Reads the fields present over the defaults, and validates the result.
    static func decode(_ m: Envelope) throws -> PruneOptions {
        try m.only(keys)
        var o = PruneOptions()
        if m.has("method") {
            let name = try m.string("method")
            guard let method = PruneMethod(rawValue: name) else {
                throw ProtocolError(.badOption, "options.method '\(name)' is not one of \(PruneMethod.allCases.map(\.rawValue))")
            }
            o.method = method
        }
        if m.has("tau") { o.tau = Float(try m.double("tau")) }
        if m.has("gamma") { o.gamma = Float(try m.double("gamma")) }
        if m.has("kmin") { o.kmin = try m.int("kmin") }
        if m.has("gsp_ratio") { o.gspRatio = try m.double("gsp_ratio") }
        if m.has("theta") { o.theta = Float(try m.double("theta")) }
        if m.has("query_keep") { o.queryKeep = try m.double("query_keep") }
        if m.has("relevance_sign") { o.relevanceSign = Float(try m.double("relevance_sign")) }
        if m.has("alpha") { o.alpha = try m.double("alpha") }
        if m.has("seed") { o.seed = UInt64(max(0, try m.int("seed"))) }
        if m.has("unit_graph") { o.unitGraph = try m.bool("unit_graph") }
        if m.has("discount") { o.discount = try m.int("discount") }
        if m.has("floor_relevance") { o.floorRelevance = try m.double("floor_relevance") }
        if m.has("similarity") { o.similarity = try similarity(m) }
        do { try o.validate() } catch let e as PruneError { throw ProtocolError(e) }
        return o
    }

    /// The precision of a request's cosines: "f32" or "bf16".
    static func similarity(_ m: Envelope) throws -> SimilarityPrecision {
        let name = try m.string("similarity")
        guard let precision = SimilarityPrecision(rawValue: name) else {
            throw ProtocolError(.badOption, "options.similarity '\(name)' is not one of \(SimilarityPrecision.allCases.map(\.rawValue))")
        }
        return precision
    }
}
