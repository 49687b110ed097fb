import Foundation
import ScriptCore
import ScriptFormats
import ScriptService

/// Reads tensors from `.npy` / `.safetensors` into matrices and writes results; a refusal names
/// the flag and the file.
enum TensorFiles {
    /// A 2-D (N x D) or 3-D (U x T x D, flattened to N = U*T) tensor as a matrix; with `vector`
    /// (by default for a query), also 1-D, as one row.
    /// - Parameter role: the flag the file came from, without dashes (`features`, `mask`).
    static func loadMatrix(_ path: String, name: String?, role: String, vector: Bool? = nil) throws -> Matrix {
        let flag = "--\(role)"
        let tensor: Tensor
        do {
            if path.hasSuffix(".safetensors") {
                let all = try Safetensors.read(path: path, names: name.map { [$0] })
                if let name, let named = all[name] {
                    tensor = named
                } else if name == nil, all.count == 1, let only = all.first?.value {
                    tensor = only
                } else {
                    throw InputError(flag, path, "holds \(all.count) tensors (\(all.keys.sorted().joined(separator: ", "))); pick one with \(flag)-name")
                }
            } else {
                tensor = try Npy.read(path: path)
            }
        } catch let e as FormatError {
            throw InputError(flag, nil, e.description)
        }
        let s = tensor.shape
        switch s.count {
        case 2: return Matrix(rows: s[0], cols: s[1], values: tensor.values)
        case 3: return Matrix(rows: s[0] * s[1], cols: s[2], values: tensor.values)
        case 1 where vector ?? (role == "query"): return Matrix(rows: 1, cols: s[0], values: tensor.values)
        default:
            throw InputError(flag, path, "must be 2-D (N x D) or 3-D (units x tokens x D), got shape \(s)")
        }
    }

    /// Values of a 1-D (or N x 1) file, one per token (`--mask`, `--objects`).
    static func loadVector(_ path: String, role: String, count: Int) throws -> [Float] {
        let values = try loadMatrix(path, name: nil, role: role, vector: true).values
        guard values.count == count else {
            throw InputError("--\(role)", path, "has \(values.count) values for \(count) tokens (one a token is needed)")
        }
        return values
    }

    /// `features.npy (180 MB)`: a file as a progress line names it.
    static func label(_ path: String) -> String {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        return (path as NSString).lastPathComponent + (size.map { " (\(Units.bytes($0)))" } ?? "")
    }

    static func writeMatrix(_ m: Matrix, to path: String, flag: String = "--kept-features") throws {
        try OutputFile.write(to: path, flag: flag) { try Npy.write(m.values, shape: [m.rows, m.cols], to: path) }
    }
}
