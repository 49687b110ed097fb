import Foundation

/// Which CPU a benchmark ran on, from `/proc/cpuinfo`: its name, vendor, family and model, and
/// the vector extensions the kernels care about that the CPU (as the OS or a hypervisor shows
/// it) offers. Figures from two machines are only comparable when these agree; `bench` prints
/// them and writes them to `--json`.
public struct CPUIdentity: Equatable, Sendable {
    /// "Intel(R) Xeon(R) Processor", "AMD EPYC 9B14", or for Arm "implementer 0x41 part 0xd40".
    public var name: String
    /// "GenuineIntel family 6 model 207", "AuthenticAMD family 25 model 17"; empty on Arm.
    public var model: String
    /// The extensions among `Self.watched` the CPU offers, in that order.
    public var extensions: [String]

    /// Vector extensions that decide which kernels run (x86: AVX2 to AMX; Arm: NEON to SVE).
    public static let watched = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "asimd", "sve", "sve2"]

    /// The first processor's entry of a `/proc/cpuinfo` text; nil when it names no processor.
    public static func parse(cpuinfo text: String) -> CPUIdentity? {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                if !fields.isEmpty { break }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            if fields[key] == nil { fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        let flags = Set((fields["flags"] ?? fields["features"] ?? "").split(separator: " ").map(String.init))
        let model = [fields["vendor_id"], fields["cpu family"].map { "family \($0)" }, fields["model"].map { "model \($0)" }]
            .compactMap { $0 }.joined(separator: " ")
        let name = fields["model name"]
            ?? [fields["cpu implementer"].map { "implementer \($0)" }, fields["cpu part"].map { "part \($0)" }]
            .compactMap { $0 }.joined(separator: " ")
        guard !name.isEmpty || !model.isEmpty else { return nil }
        return CPUIdentity(name: name, model: model, extensions: watched.filter(flags.contains))
    }

    /// This machine's, or nil where `/proc/cpuinfo` cannot be read (not Linux).
    public static func current() -> CPUIdentity? {
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)).flatMap { parse(cpuinfo: $0) }
    }

    /// `cpu`'s `description`, or that it is unknown (`current()` found none).
    public static func describe(_ cpu: CPUIdentity?) -> String { cpu?.description ?? "unknown (no /proc/cpuinfo)" }

    /// `cpu`'s `dictionary`, or null, for `--json`.
    public static func json(_ cpu: CPUIdentity?) -> Any { cpu?.dictionary ?? NSNull() }

    /// "Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 207; avx2 fma avx512f)".
    public var description: String {
        let detail = [model, extensions.joined(separator: " ")].filter { !$0.isEmpty }.joined(separator: "; ")
        return detail.isEmpty ? name : "\(name) (\(detail))"
    }

    /// For `--json`.
    public var dictionary: [String: Any] { ["name": name, "model": model, "extensions": extensions] }
}
