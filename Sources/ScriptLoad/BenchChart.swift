import Foundation
import ScriptService

/// An SVG chart of a `bench` run: one panel a case, each on its own scale, with Script's total
/// as a bar of its stages beside the BLAS bound and the numpy reference.
public enum BenchChart {
    static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// The chart as an SVG document.
    public static func svg(_ report: BenchReport) -> String {
        let left = 130.0, barsWidth = 440.0, barHeight = 22.0, gap = 8.0, panelGap = 50.0, top = 60.0
        let stageNames = orderedUnique(report.cases.flatMap { $0.stagesMs.map(\.name) }.filter { $0 != "total" })
        let rowsPerCase = report.cases.map { $0.numpyMs == nil ? 2.0 : 3.0 }
        let panelHeights = rowsPerCase.map { $0 * (barHeight + gap) + 30 }
        let height = top + panelHeights.reduce(0, +) + Double(max(0, report.cases.count - 1)) * panelGap + 20
        let width = left + barsWidth + 200
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="10" y="24" font-size="15" font-weight="bold">Script core: median of \(report.repeats) runs, \(report.threads) threads, sgemm \(Units.significant(report.sgemmGFLOPS)) GFLOP/s</text>

        """
        var y = top
        for (i, c) in report.cases.enumerated() {
            let scale = niceMax(max(c.totalMs, c.boundMs, c.numpyMs ?? 0))
            let x = { (ms: Double) in left + barsWidth * ms / scale }
            s += text(10, y - 10, c.name, bold: true)
            // Script: its stages stacked, then what the stages do not account for.
            s += text(10, y + barHeight * 0.7, "Script")
            var at = 0.0
            for stage in c.stagesMs where stage.name != "total" {
                let color = colors[(stageNames.firstIndex(of: stage.name) ?? 0) % colors.count]
                s += rect(x(at), y, x(at + stage.ms) - x(at), barHeight, color, title: "\(stage.name) \(Units.duration(milliseconds: stage.ms))")
                at += stage.ms
            }
            if c.totalMs > at { s += rect(x(at), y, x(c.totalMs) - x(at), barHeight, "#cccccc", title: "other") }
            s += text(x(max(at, c.totalMs)) + 6, y + barHeight * 0.7, Units.duration(milliseconds: c.totalMs))
            var row = y + barHeight + gap
            s += text(10, row + barHeight * 0.7, "BLAS bound")
            s += rect(left, row, x(c.boundMs) - left, barHeight, "#555555", title: "BLAS-bound")
            s += text(x(c.boundMs) + 6, row + barHeight * 0.7, "\(Units.duration(milliseconds: c.boundMs)) (total / bound \(Units.fixed(c.totalMs / c.boundMs, decimals: 2))x)")
            if let n = c.numpyMs {
                row += barHeight + gap
                s += text(10, row + barHeight * 0.7, "numpy")
                s += rect(left, row, x(n) - left, barHeight, "#bcbd22", title: "numpy reference")
                let same = c.sameIndicesAsNumpy.map { $0 ? ", same indices" : ", different indices" } ?? ""
                s += text(x(n) + 6, row + barHeight * 0.7, "\(Units.duration(milliseconds: n)) (\(Units.fixed(n / c.totalMs, decimals: 1))x Swift\(same))")
            }
            let axis = row + barHeight + 14
            let ticks = tickCount(scale)
            for t in 0...ticks {
                let ms = scale * Double(t) / Double(ticks)
                s += "<line x1=\"\(r(x(ms)))\" y1=\"\(r(y - 4))\" x2=\"\(r(x(ms)))\" y2=\"\(r(axis - 10))\" stroke=\"#ddd\"/>"
                s += text(x(ms), axis + 2, t == 0 ? "0" : tick(Units.duration(milliseconds: ms)), anchor: "middle")
            }
            y += panelHeights[i] + panelGap
        }
        let lx = left + barsWidth + 90
        for (i, name) in stageNames.enumerated() {
            let ly = top + Double(i) * 20
            s += rect(lx, ly, 14, 14, colors[i % colors.count], title: name) + text(lx + 20, ly + 11, name)
        }
        return s + "</svg>\n"
    }

    /// 1, 2, 2.5 or 5 times a power of ten, at least `x`.
    static func niceMax(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return 1 }
        var p = 1.0
        while p * 10 <= x { p *= 10 }
        while p > x { p /= 10 }
        return [1, 2, 2.5, 5, 10].map { $0 * p }.first { $0 >= x } ?? 10 * p
    }

    /// Ticks that fall on round numbers: quarters of 1 and 2, fifths of 2.5 and 5 (times 10^n).
    static func tickCount(_ scale: Double) -> Int {
        var m = scale
        while m >= 10 { m /= 10 }
        while m < 1 { m *= 10 }
        return abs(m - 2.5) < 1e-6 || abs(m - 5) < 1e-6 ? 5 : 4
    }

    /// An axis label without trailing zeros (`5 ms`, `2.5 s`): its value is round by construction.
    static func tick(_ label: String) -> String {
        let parts = label.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].contains(".") else { return label }
        var number = String(parts[0])
        while number.hasSuffix("0") { number.removeLast() }
        if number.hasSuffix(".") { number.removeLast() }
        return number + " " + parts[1]
    }

    private static func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, _ fill: String, title: String) -> String {
        "<rect x=\"\(r(x))\" y=\"\(r(y))\" width=\"\(r(max(0, w)))\" height=\"\(r(h))\" fill=\"\(fill)\"><title>\(escape(title))</title></rect>\n"
    }

    private static func text(_ x: Double, _ y: Double, _ s: String, bold: Bool = false, anchor: String = "start") -> String {
        "<text x=\"\(r(x))\" y=\"\(r(y))\" text-anchor=\"\(anchor)\"\(bold ? " font-weight=\"bold\"" : "")>\(escape(s))</text>\n"
    }

    private static func r(_ x: Double) -> String { Units.fixed(x, decimals: 1) }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    private static func orderedUnique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}
