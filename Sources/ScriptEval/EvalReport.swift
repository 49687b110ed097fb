/// Tables of evaluation rows, for people (aligned text, Markdown) and programs (JSON-ready).
public enum EvalReport {
    public static func markdown(_ rows: [EvalRow]) -> String {
        var s = "| kind | method | budget | hit rate | target share | objects kept | coverage | ms |\n|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            s += "| \(r.kind) | \(r.method) | \(r.budget) | \(f(r.hitRate)) | \(f(r.targetShare)) | \(f(r.objectsCovered)) | \(f(r.coverage)) | \(f(r.milliseconds, 1)) |\n"
        }
        return s
    }

    /// `method` (Script by default) monolithic vs sharded, side by side, per kind and budget.
    public static func gap(_ rows: [EvalRow], method: String = "script") -> String {
        var s = "| kind | budget | hit rate mono / sharded | target share mono / sharded | coverage mono / sharded |\n|---|---|---|---|---|\n"
        for m in rows where m.method == method {
            guard let sh = row(rows, m.kind, m.budget, method + "-sharded") else { continue }
            s += "| \(m.kind) | \(m.budget) | \(f(m.hitRate)) / \(f(sh.hitRate)) | \(f(m.targetShare)) / \(f(sh.targetShare)) | \(f(m.coverage)) / \(f(sh.coverage)) |\n"
        }
        return s
    }

    /// Script+ beside itself with each idea switched off (the rows named `script+-IDEA`,
    /// `script+-sharded-IDEA`): target share / coverage / ms per variant, per kind and budget.
    public static func ablation(_ rows: [EvalRow]) -> String {
        let variants = orderedUnique(rows.map(\.method).filter { $0.hasPrefix("script+") && !$0.hasPrefix("script+-sharded") })
        let columns = variants.flatMap { [$0, "script+-sharded" + $0.dropFirst("script+".count)] }
        var s = "| kind | budget | " + columns.joined(separator: " | ") + " |\n|---|---|" + String(repeating: "---|", count: columns.count) + "\n"
        for key in orderedUnique(rows.map { "\($0.kind)\t\($0.budget)" }) {
            let parts = key.split(separator: "\t").map(String.init)
            let cells = columns.map { m in row(rows, parts[0], parts[1], m).map { "\(f($0.targetShare)) / \(f($0.coverage)) / \(f($0.milliseconds, 1))" } ?? "" }
            guard cells.contains(where: { !$0.isEmpty }) else { continue }
            s += "| \(parts[0]) | \(parts[1]) | " + cells.joined(separator: " | ") + " |\n"
        }
        return s
    }

    /// Script+ (monolithic and sharded) against the targets of issue 13, per kind and budget:
    /// target share at least CDPruner's, hit rate 1, time at most half of CDPruner's and 1.2x
    /// Script's (the same layout), coverage at least 99% of Script's, sharded target share at
    /// least 98% of monolithic. Cells read value (bound) and a mark.
    public static func targets(_ rows: [EvalRow]) -> String {
        var s = "| kind | budget | variant | target share (cdpruner) | hit | ms / cdpruner | ms / script | coverage (script) | sharded / mono share |\n|---|---|---|---|---|---|---|---|---|\n"
        for key in orderedUnique(rows.map { "\($0.kind)\t\($0.budget)" }) {
            let parts = key.split(separator: "\t").map(String.init)
            let (kind, budget) = (parts[0], parts[1])
            guard let cdp = row(rows, kind, budget, "cdpruner") else { continue }
            let mono = row(rows, kind, budget, "script+")
            for (variant, script) in [("script+", "script"), ("script+-sharded", "script-sharded")] {
                guard let p = row(rows, kind, budget, variant), let sc = row(rows, kind, budget, script) else { continue }
                var cells = ["\(f(p.targetShare)) (\(f(cdp.targetShare))) \(mark(p.targetShare >= cdp.targetShare))",
                             "\(f(p.hitRate)) \(mark(p.hitRate >= 1))",
                             "\(f(p.milliseconds / cdp.milliseconds, 2)) \(mark(p.milliseconds <= 0.5 * cdp.milliseconds))",
                             "\(f(p.milliseconds / sc.milliseconds, 2)) \(mark(p.milliseconds <= 1.2 * sc.milliseconds))",
                             "\(f(p.coverage)) (\(f(sc.coverage))) \(mark(p.coverage >= 0.99 * sc.coverage))"]
                if variant == "script+-sharded", let mono {
                    cells.append("\(f(p.targetShare / max(mono.targetShare, 1e-9))) \(mark(p.targetShare >= 0.98 * mono.targetShare))")
                } else {
                    cells.append("")
                }
                s += "| \(kind) | \(budget) | \(variant) | " + cells.joined(separator: " | ") + " |\n"
            }
        }
        return s
    }

    public static func dictionaries(_ rows: [EvalRow]) -> [[String: Any]] {
        rows.map { ["kind": $0.kind, "method": $0.method, "budget": $0.budget, "requests": $0.requests, "hit_rate": $0.hitRate,
                    "target_share": $0.targetShare, "objects_covered": $0.objectsCovered, "coverage": $0.coverage, "ms": $0.milliseconds] }
    }

    static func row(_ rows: [EvalRow], _ kind: String, _ budget: String, _ method: String) -> EvalRow? {
        rows.first { $0.kind == kind && $0.budget == budget && $0.method == method }
    }

    static func mark(_ ok: Bool) -> String { ok ? "yes" : "**no**" }

    static func orderedUnique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }

    static func f(_ x: Double, _ digits: Int = 3) -> String {
        let p = (0..<digits).reduce(1.0) { r, _ in r * 10 }
        let v = (x * p).rounded() / p
        return "\(v)"
    }
}
