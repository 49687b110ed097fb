#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An SVG chart of recall against speed: for each kind of request, target share against time
/// (ms, log scale), one point per method and budget, a method's points joined in budget order.
public enum TradeoffChart {
    /// Methods drawn, with their colours (the ablation's variants are left to the tables).
    static let palette: [(String, String)] = [
        ("script+", "#d62728"), ("script+-sharded", "#ff9896"), ("script", "#1f77b4"), ("script-sharded", "#aec7e8"),
        ("cdpruner", "#2ca02c"), ("divprune", "#9467bd"), ("gsp", "#8c564b"), ("random", "#7f7f7f"), ("uniform", "#bcbd22"),
    ]

    public static func svg(_ rows: [EvalRow]) -> String {
        let kinds = EvalReport.orderedUnique(rows.map(\.kind))
        let panelW = 300.0, panelH = 220.0, left = 50.0, top = 50.0, gap = 50.0, columns = min(3, max(1, kinds.count))
        let panelRows = (kinds.count + columns - 1) / columns
        let width = left + Double(columns) * (panelW + gap) + 130
        let height = top + Double(panelRows) * (panelH + 70) + 10
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="24" font-size="15" font-weight="bold">Target share against time: a point per method and budget</text>

        """
        for (p, kind) in kinds.enumerated() {
            let x0 = left + Double(p % columns) * (panelW + gap), y0 = top + Double(p / columns) * (panelH + 70)
            s += panel(rows.filter { $0.kind == kind }, kind: kind, x0: x0, y0: y0, w: panelW, h: panelH)
        }
        let lx = left + Double(columns) * (panelW + gap)
        for (i, (name, color)) in palette.enumerated() where rows.contains(where: { $0.method == name }) {
            let y = top + 20 + Double(i) * 20
            s += "<line x1=\"\(lx)\" y1=\"\(y)\" x2=\"\(lx + 20)\" y2=\"\(y)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            s += "<circle cx=\"\(lx + 10)\" cy=\"\(y)\" r=\"3\" fill=\"\(color)\"/><text x=\"\(lx + 26)\" y=\"\(y + 4)\">\(name)</text>\n"
        }
        return s + "</svg>\n"
    }

    /// One kind's panel: log-scale time axis over the kind's range, share from 0 to 1.
    static func panel(_ mine: [EvalRow], kind: String, x0: Double, y0: Double, w: Double, h: Double) -> String {
        let times = mine.map { max($0.milliseconds, 0.01) }
        let lo = (times.min() ?? 1).log10Floor, hi = max(lo + 1, (times.max() ?? 10).log10Ceil)
        func x(_ ms: Double) -> Double { x0 + w * (log10(max(ms, 0.01)) - lo) / (hi - lo) }
        func y(_ share: Double) -> Double { y0 + h * (1 - share) }
        var s = "<text x=\"\(x0)\" y=\"\(y0 - 8)\" font-weight=\"bold\">\(kind)</text>\n"
        s += "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#999\"/>\n"
        for t in stride(from: 0.0, through: 1.0, by: 0.25) {
            s += "<line x1=\"\(x0)\" y1=\"\(y(t))\" x2=\"\(x0 + w)\" y2=\"\(y(t))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(x0 - 6)\" y=\"\(y(t) + 4)\" text-anchor=\"end\">\(t)</text>\n"
        }
        var e = lo
        while e <= hi + 1e-9 {
            let label = e >= 0 ? "\(Int(pow10(e)))" : "\(pow10(e))"
            s += "<line x1=\"\(x(pow10(e)))\" y1=\"\(y0)\" x2=\"\(x(pow10(e)))\" y2=\"\(y0 + h)\" stroke=\"#eee\"/>"
            s += "<text x=\"\(x(pow10(e)))\" y=\"\(y0 + h + 16)\" text-anchor=\"middle\">\(label)</text>\n"
            e += 1
        }
        s += "<text x=\"\(x0 + w / 2)\" y=\"\(y0 + h + 34)\" text-anchor=\"middle\" fill=\"#555\">ms (log scale); y: target share</text>\n"
        for (name, color) in palette {
            let pts = mine.filter { $0.method == name }.map { "\(x($0.milliseconds)),\(y($0.targetShare))" }
            guard !pts.isEmpty else { continue }
            s += "<polyline points=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"/>"
            for p in pts {
                let c = p.split(separator: ",")
                s += "<circle cx=\"\(c[0])\" cy=\"\(c[1])\" r=\"3.5\" fill=\"\(color)\"/>"
            }
            s += "\n"
        }
        return s
    }

    /// `10^e` for a whole `e`.
    static func pow10(_ e: Double) -> Double {
        var v = 1.0
        for _ in 0..<Int(abs(e).rounded()) { v *= 10 }
        return e < 0 ? 1 / v : v
    }
}

private extension Double {
    var log10Floor: Double { log10(self).rounded(.down) }
    var log10Ceil: Double { log10(self).rounded(.up) }
}
