/// Tables of evaluation rows, for people (aligned text, Markdown) and programs (JSON-ready).
public enum EvalReport {
    public static func markdown(_ rows: [EvalRow]) -> String {
        var s = "| kind | method | budget | hit rate | target share | objects kept | coverage | ms |\n|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            s += "| \(r.kind) | \(r.method) | \(r.budget) | \(f(r.hitRate)) | \(f(r.targetShare)) | \(f(r.objectsCovered)) | \(f(r.coverage)) | \(f(r.milliseconds, 1)) |\n"
        }
        return s
    }

    /// Script monolithic vs sharded, side by side, per kind and budget.
    public static func gap(_ rows: [EvalRow]) -> String {
        var s = "| kind | budget | hit rate mono / sharded | target share mono / sharded | coverage mono / sharded |\n|---|---|---|---|---|\n"
        for m in rows where m.method == "script" {
            guard let sh = rows.first(where: { $0.kind == m.kind && $0.budget == m.budget && $0.method == "script-sharded" }) else { continue }
            s += "| \(m.kind) | \(m.budget) | \(f(m.hitRate)) / \(f(sh.hitRate)) | \(f(m.targetShare)) / \(f(sh.targetShare)) | \(f(m.coverage)) / \(f(sh.coverage)) |\n"
        }
        return s
    }

    public static func dictionaries(_ rows: [EvalRow]) -> [[String: Any]] {
        rows.map { ["kind": $0.kind, "method": $0.method, "budget": $0.budget, "requests": $0.requests, "hit_rate": $0.hitRate,
                    "target_share": $0.targetShare, "objects_covered": $0.objectsCovered, "coverage": $0.coverage, "ms": $0.milliseconds] }
    }

    static func f(_ x: Double, _ digits: Int = 3) -> String {
        let p = (0..<digits).reduce(1.0) { r, _ in r * 10 }
        let v = (x * p).rounded() / p
        return "\(v)"
    }
}
