import Foundation
import ScriptCore
import ScriptFormats

/// Reads tensors from `.npy` / `.safetensors` into matrices and writes results.
enum TensorFiles {
    struct ShapeError: Error, CustomStringConvertible { let description: String }

    /// A 2-D (N x D) or 3-D (U x T x D, flattened to N = U*T) tensor as a matrix.
    static func loadMatrix(_ path: String, name: String?, role: String) throws -> Matrix {
        let tensor: Tensor
        if path.hasSuffix(".safetensors") {
            let all = try Safetensors.read(path: path, names: name.map { [$0] })
            if let name {
                tensor = all[name]!
            } else {
                guard all.count == 1, let only = all.first?.value else {
                    throw ShapeError(description: "\(path): holds \(all.count) tensors (\(all.keys.sorted().joined(separator: ", "))); pick one with --\(role)-name")
                }
                tensor = only
            }
        } else {
            tensor = try Npy.read(path: path)
        }
        let s = tensor.shape
        switch s.count {
        case 2: return Matrix(rows: s[0], cols: s[1], values: tensor.values)
        case 3: return Matrix(rows: s[0] * s[1], cols: s[2], values: tensor.values)
        case 1 where role == "query": return Matrix(rows: 1, cols: s[0], values: tensor.values)
        default:
            throw ShapeError(description: "\(path): \(role) must be 2-D (N x D) or 3-D (units x tokens x D), got shape \(s)")
        }
    }

    static func writeMatrix(_ m: Matrix, to path: String) throws {
        try Npy.write(m.values, shape: [m.rows, m.cols], to: path)
    }
}
