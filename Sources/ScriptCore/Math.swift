#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// libm entry points the core uses, without pulling in Foundation.
enum Math {
    @inline(__always) static func exp(_ x: Float) -> Float { expf(x) }
    @inline(__always) static func log(_ x: Double) -> Double {
        #if canImport(Glibc)
        Glibc.log(x)
        #else
        Darwin.log(x)
        #endif
    }
}
