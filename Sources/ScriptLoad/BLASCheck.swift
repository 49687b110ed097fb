import Foundation
import ScriptCore

/// The BLAS products checked against a double-precision reference at the shapes the core
/// calls (every 7th entry of the larger ones).
public enum BLASCheck {
    static let shapes: [(m: Int, n: Int, k: Int, strided: Bool)] = [
        (96, 96, 4096, true), (96, 48, 4096, true), (144, 144, 4096, false), (128, 128, 4096, false),
        (128, 320, 4096, false), (392, 392, 3584, false), (256, 256, 3584, false), (256, 6, 4096, false),
    ]

    /// `correct, worst error ...` or `WRONG, ...`: the verdict over every shape.
    public static func summary() -> String {
        let worst = shapes.map { BLAS.check(m: $0.m, n: $0.n, k: $0.k, strided: $0.strided, sample: 7) }.max() ?? .nan
        let verdict = worst <= 1 ? "correct" : "WRONG"
        return "\(verdict), worst error \(String(format: "%.2g", worst)) of the float rounding bound over \(shapes.count) shapes"
    }
}
