import CPlatform

/// Little-endian element bytes to Float32, without per-element overhead.
public enum ElementDecoder {
    /// A fresh array of the elements (in huge pages where it holds whole ones: a feature
    /// matrix is megabytes, written once here).
    public static func decode(_ raw: UnsafeRawBufferPointer, dtype: DType, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = script_advise_huge_pages(buffer.baseAddress, UInt(count * MemoryLayout<Float>.stride))
            decode(raw, dtype: dtype, count: count, into: buffer)
            initialized = count
        }
    }

    /// Decodes `count` elements of `raw` into the start of `dst`.
    public static func decode(_ raw: UnsafeRawBufferPointer, dtype: DType, count: Int, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(raw.count >= count * dtype.size && dst.count >= count, "decode of \(count) elements out of bounds")
        guard count > 0 else { return }
        switch dtype {
        case .f32:
            #if _endian(little)
            UnsafeMutableRawBufferPointer(dst).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(4 * count)]))
            #else
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            #endif
        case .f16:
            HalfPrecision.decode(raw, into: dst, count: count)
        case .bf16:
            for i in 0..<count { dst[i] = HalfPrecision.float(fromBFloat16Bits: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .f64:
            for i in 0..<count { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case .i64:
            for i in 0..<count { dst[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .i32:
            for i in 0..<count { dst[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        }
    }
}
