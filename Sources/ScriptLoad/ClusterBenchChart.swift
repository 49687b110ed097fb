import ScriptProtocol
import ScriptService

/// An SVG chart of `bench --cluster`: for each case and configuration (workers, transfer), the
/// throughput with requests in flight, and the latency one at a time against in-process.
public enum ClusterBenchChart {
    /// The chart as an SVG document.
    public static func svg(_ points: [ClusterBench.Point]) -> String {
        let left = 190.0, width = 360.0, bar = 18.0, gap = 6.0, top = 60.0
        let rows = Double(points.count)
        let height = top + rows * (2 * bar + 3 * gap) + 60
        let maxRate = max(1, points.map(\.busy.throughput).max() ?? 1)
        let maxMs = max(1, points.map { max($0.single.percentile(50), $0.inProcessMs) }.max() ?? 1)
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(left + 2 * width + 140))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="10" y="24" font-size="15" font-weight="bold">Local cluster: throughput with 2 requests a worker in flight, and latency one at a time</text>
        <text x="\(left)" y="\(top - 12)" font-weight="bold">requests a second</text>
        <text x="\(left + width + 70)" y="\(top - 12)" font-weight="bold">p50 one at a time (grey: in-process)</text>

        """
        var y = top
        for p in points {
            let label = "\(p.kind), \(p.workers) worker\(p.workers == 1 ? "" : "s"), \(p.transfer.rawValue)\(p.sharedMemory ? ", shared memory" : "")"
            s += "<text x=\"10\" y=\"\(y + bar)\">\(label)</text>\n"
            let w = width * p.busy.throughput / maxRate
            s += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(w)\" height=\"\(bar)\" fill=\"#1f77b4\"/>\n"
            s += "<text x=\"\(left + w + 4)\" y=\"\(y + bar * 0.75)\">\(Units.rate(p.busy.throughput))</text>\n"
            let x2 = left + width + 70
            let l = width * p.single.percentile(50) / maxMs
            s += "<rect x=\"\(x2)\" y=\"\(y)\" width=\"\(l)\" height=\"\(bar)\" fill=\"#ff7f0e\"/>\n"
            s += "<text x=\"\(x2 + l + 4)\" y=\"\(y + bar * 0.75)\">\(Units.duration(milliseconds: p.single.percentile(50)))</text>\n"
            let g = width * p.inProcessMs / maxMs
            s += "<rect x=\"\(x2)\" y=\"\(y + bar + gap)\" width=\"\(g)\" height=\"\(bar / 2)\" fill=\"#999999\"/>\n"
            y += 2 * bar + 3 * gap
        }
        return s + "</svg>\n"
    }
}
