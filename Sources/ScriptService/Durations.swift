extension Duration {
    /// The duration in milliseconds, as a floating-point number.
    public var milliseconds: Double {
        let c = components
        return Double(c.seconds) * 1e3 + Double(c.attoseconds) * 1e-15
    }
}

/// Milliseconds of a duration.
public func ms(_ d: Duration) -> Double { d.milliseconds }
