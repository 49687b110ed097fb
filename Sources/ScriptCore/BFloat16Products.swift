import CBF16

/// oneDNN's bfloat16 products (`CBF16`), for features that carry their bfloat16 rounding
/// (`Matrix.withBFloat16`).
public enum BFloat16Products {
    /// Library, version and kernels, or why they cannot run here (loads the library).
    public static var description: String {
        unavailableReason.map { "unavailable: " + $0 } ?? String(cString: script_bf16_description())
    }

    /// Why bfloat16 products cannot run here (no library, a CPU that would emulate bfloat16,
    /// wrong products), or nil when they can (loads the library).
    public static var unavailableReason: String? {
        script_bf16_load() == 0 ? nil : String(cString: script_bf16_error())
    }

    /// Loaded and checked, or `PruneError.unavailable` saying why.
    public static func requireReady() throws(PruneError) {
        if let reason = unavailableReason { throw .unavailable(name: "similarity", value: "bf16", reason: reason) }
    }

    /// Rounds `count` floats to bfloat16 bit patterns.
    static func round(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        script_bf16_round(count, src, dst)
    }

    /// `C[m x n] = A[m x k] * B[n x k]^T` from bfloat16 rows (leading dimensions in elements).
    static func gemmABt(m: Int, n: Int, k: Int, a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                        c: UnsafeMutablePointer<Float>, ldc: Int) {
        let status = script_bf16_gemm_abt(Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(ldb), c, Int32(ldc))
        precondition(status == 0, "bfloat16 product \(m)x\(n)x\(k): \(String(cString: script_bf16_error()))")
    }
}
