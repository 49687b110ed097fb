import ScriptTransport

extension Envelope {
    /// A CurveZMQ public key field: 40 characters of Z85 text.
    public func curveKey(_ key: String) throws -> CurveKey {
        let text = try string(key)
        do { return try CurveKey(z85: text, source: "field '\(key)'") } catch {
            throw ProtocolError(.badRequest, error.description)
        }
    }
}
