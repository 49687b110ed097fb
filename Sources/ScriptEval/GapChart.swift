/// An SVG chart of what sharding costs Script: for each kind of request, target share, hit rate
/// and coverage against the budget, monolithic (solid) beside sharded (dashed).
public enum GapChart {
    public static func svg(_ rows: [EvalRow]) -> String {
        let kinds = orderedUnique(rows.map(\.kind))
        let panelW = 300.0, panelH = 220.0, left = 50.0, top = 50.0, gap = 40.0
        let width = left + Double(kinds.count) * (panelW + gap) + 150
        let height = top + panelH + 70
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="24" font-size="15" font-weight="bold">Script: monolithic (solid) vs sharded (dashed)</text>

        """
        let series: [(String, KeyPath<EvalRow, Double>, String)] = [
            ("target share", \.targetShare, "#d62728"), ("hit rate", \.hitRate, "#1f77b4"), ("coverage", \.coverage, "#2ca02c"),
        ]
        for (p, kind) in kinds.enumerated() {
            let x0 = left + Double(p) * (panelW + gap)
            let mine = rows.filter { $0.kind == kind }
            let budgets = orderedUnique(mine.map(\.budget))
            s += "<text x=\"\(x0)\" y=\"\(top - 8)\" font-weight=\"bold\">\(kind)</text>\n"
            s += "<rect x=\"\(x0)\" y=\"\(top)\" width=\"\(panelW)\" height=\"\(panelH)\" fill=\"none\" stroke=\"#999\"/>\n"
            for t in stride(from: 0.0, through: 1.0, by: 0.25) {
                let y = top + panelH * (1 - t)
                s += "<line x1=\"\(x0)\" y1=\"\(y)\" x2=\"\(x0 + panelW)\" y2=\"\(y)\" stroke=\"#eee\"/>"
                s += "<text x=\"\(x0 - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(t)</text>\n"
            }
            let xs = budgets.indices.map { x0 + panelW * (Double($0) + 0.5) / Double(max(1, budgets.count)) }
            for (i, b) in budgets.enumerated() {
                s += "<text x=\"\(xs[i])\" y=\"\(top + panelH + 16)\" text-anchor=\"middle\">\(b)</text>\n"
            }
            s += "<text x=\"\(x0 + panelW / 2)\" y=\"\(top + panelH + 34)\" text-anchor=\"middle\" fill=\"#555\">budget (tokens kept, or share of N)</text>\n"
            for (_, key, color) in series {
                for (method, dash) in [("script", ""), ("script-sharded", " stroke-dasharray=\"6,4\"")] {
                    let pts = budgets.enumerated().compactMap { i, b -> String? in
                        guard let r = mine.first(where: { $0.method == method && $0.budget == b }) else { return nil }
                        return "\(xs[i]),\(top + panelH * (1 - r[keyPath: key]))"
                    }
                    guard !pts.isEmpty else { continue }
                    s += "<polyline points=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>\n"
                    for p in pts {
                        let c = p.split(separator: ",")
                        s += "<circle cx=\"\(c[0])\" cy=\"\(c[1])\" r=\"3\" fill=\"\(color)\"/>"
                    }
                    s += "\n"
                }
            }
        }
        let lx = left + Double(kinds.count) * (panelW + gap)
        for (i, (name, _, color)) in series.enumerated() {
            let y = top + 20 + Double(i) * 22
            s += "<line x1=\"\(lx)\" y1=\"\(y)\" x2=\"\(lx + 24)\" y2=\"\(y)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(lx + 30)\" y=\"\(y + 4)\">\(name)</text>\n"
        }
        s += "<line x1=\"\(lx)\" y1=\"\(top + 100)\" x2=\"\(lx + 24)\" y2=\"\(top + 100)\" stroke=\"#333\" stroke-width=\"2\"/><text x=\"\(lx + 30)\" y=\"\(top + 104)\">monolithic</text>\n"
        s += "<line x1=\"\(lx)\" y1=\"\(top + 122)\" x2=\"\(lx + 24)\" y2=\"\(top + 122)\" stroke=\"#333\" stroke-width=\"2\" stroke-dasharray=\"6,4\"/><text x=\"\(lx + 30)\" y=\"\(top + 126)\">sharded</text>\n"
        s += "</svg>\n"
        return s
    }

    private static func orderedUnique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}
