import Foundation
import Synchronization

/// A progress line for work that can take more than a second: what is being done, how far it
/// is, its rate and the time left (`eval video: 12/48 runs (25%), 3.1 runs/s, 12.3 s left`).
///
/// It is drawn on standard error, and only when standard error is a terminal (`TERM` not
/// `dumb`) and the caller is not quiet: a pipe, a file or a log collector never gets a byte of
/// it, so what a command prints stays exactly as it was. It first appears after `delay` (short
/// work shows nothing), redraws at most every 100 ms as work advances, and every 250 ms while
/// it does not (so the elapsed time moves). Safe to call from any thread.
///
/// Use: `let p = ProgressLine("load", total: n, unit: .items("requests"), quiet: quiet)`, then
/// `p.advance()` per request, `p.stage(...)` when the work changes, `p.say(line)` or `p.hide()`
/// before printing to a terminal it shares, and `p.finish()` at the end (also on error paths:
/// `defer { p.finish() }`).
public final class ProgressLine: Sendable {
    /// What the count counts.
    public enum Unit: Sendable, Equatable {
        /// No count: the stage and the time it has taken.
        case none
        /// Things, named in the plural (`requests`, `runs`).
        case items(String)
        /// Bytes (`12.0 MB/30.0 MB`, `25.0 MB/s`).
        case bytes
    }

    private struct State {
        var title: String
        var done = 0
        var total: Int?
        var unit: Unit
        var detail: String?
        var stageStart: ContinuousClock.Instant
        var lastDraw: ContinuousClock.Instant?
        /// Whether the line is on the screen now.
        var drawn = false
        /// Hidden by `hide()` until the next update.
        var hidden = false
        var finished = false
    }

    private let state: Mutex<State>
    private let created: ContinuousClock.Instant
    private let delay: Duration
    private let write: @Sendable (String) -> Void
    private let columns: @Sendable () -> Int
    /// Whether anything is ever drawn (standard error is a terminal and not quiet).
    public let isEnabled: Bool

    /// - Parameters:
    ///   - title: what is being done (`eval video`, `sending 30 MB`).
    ///   - total: how many units the work has, when known (the percentage and time left need it).
    ///   - unit: what `advance` counts.
    ///   - quiet: draw nothing (a command's `--quiet`).
    ///   - delay: how long work runs before the line first appears.
    public convenience init(_ title: String, total: Int? = nil, unit: Unit = .none, quiet: Bool = false,
                            delay: Duration = .milliseconds(300)) {
        self.init(title, total: total, unit: unit, enabled: !quiet && Terminal.isTerminal(STDERR_FILENO), delay: delay,
                  columns: { Terminal.columns(STDERR_FILENO) },
                  write: { StandardStream.error.write($0) })
    }

    /// For tests: where the line goes and how wide the screen is are given.
    init(_ title: String, total: Int?, unit: Unit, enabled: Bool, delay: Duration, ticks: Bool = true,
         columns: @escaping @Sendable () -> Int, write: @escaping @Sendable (String) -> Void) {
        let now = ContinuousClock().now
        created = now
        self.delay = delay
        self.write = write
        self.columns = columns
        isEnabled = enabled
        state = Mutex(State(title: title, total: total, unit: unit, stageStart: now))
        if enabled && ticks { startTicking() }
    }

    /// Counts `n` more units done.
    public func advance(by n: Int = 1) {
        update { $0.done += n }
    }

    /// Sets how many units are done.
    public func update(done: Int) {
        update { $0.done = done }
    }

    /// Starts a new stage: a new title, what it counts, the count back to 0, and the rate
    /// measured from now.
    public func stage(_ title: String, total: Int? = nil, unit: Unit = .none) {
        update {
            $0.title = title
            $0.total = total
            $0.unit = unit
            $0.done = 0
            $0.detail = nil
            $0.stageStart = ContinuousClock().now
        }
    }

    /// Text after the figures (`3 errors`); nil removes it.
    public func detail(_ text: String?) {
        update { $0.detail = text }
    }

    /// Erases the line until the next update: call it before printing to the terminal.
    public func hide() {
        guard isEnabled else { return }
        state.withLock { s in
            erase(&s)
            s.hidden = true
        }
    }

    /// Prints `line` to standard output, above the progress line (which is redrawn after it).
    public func say(_ line: String) {
        state.withLock { s in
            erase(&s)
            StandardStream.output.write(line + "\n")
            if !s.hidden && !s.finished { draw(&s, now: ContinuousClock().now, force: true) }
        }
    }

    /// Erases the line for good; later calls draw nothing.
    public func finish() {
        state.withLock { s in
            erase(&s)
            s.finished = true
        }
    }

    /// The line as it would be drawn now (for tests and for callers that log it instead).
    public var line: String {
        state.withLock { s in Self.render(s, now: ContinuousClock().now, columns: columns()) }
    }

    private func update(_ change: (inout State) -> Void) {
        state.withLock { s in
            change(&s)
            guard isEnabled, !s.finished else { return }
            s.hidden = false
            draw(&s, now: ContinuousClock().now, force: false)
        }
    }

    /// Draws when the delay has passed and the last draw is old enough (or `force`).
    private func draw(_ s: inout State, now: ContinuousClock.Instant, force: Bool) {
        guard isEnabled, !s.finished, !s.hidden, now - created >= delay else { return }
        if !force, let last = s.lastDraw, now - last < .milliseconds(100) { return }
        write("\r" + Self.render(s, now: now, columns: columns()) + "\u{1B}[K")
        s.lastDraw = now
        s.drawn = true
    }

    private func erase(_ s: inout State) {
        guard s.drawn else { return }
        write("\r\u{1B}[K")
        s.drawn = false
    }

    /// Redraws every 250 ms so the elapsed time and time left move while nothing advances; the
    /// thread ends at `finish()` or when the progress is released.
    private func startTicking() {
        Thread.detachNewThread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: 0.05)
                guard let p = self else { return }
                let running = p.state.withLock { s -> Bool in
                    guard !s.finished else { return false }
                    let now = ContinuousClock().now
                    if s.lastDraw.map({ now - $0 >= .milliseconds(250) }) ?? true { p.draw(&s, now: now, force: true) }
                    return true
                }
                if !running { return }
            }
        }
    }

    deinit {
        state.withLock { s in erase(&s) }
    }
}

extension ProgressLine {
    /// `title: 12/48 runs (25%), 3.1 runs/s, 12.3 s left`, cut to fit `columns`.
    private static func render(_ s: State, now: ContinuousClock.Instant, columns: Int) -> String {
        let elapsed = (now - s.stageStart).milliseconds
        let parts = figures(done: s.done, total: s.total, unit: s.unit, elapsedMs: elapsed) + (s.detail.map { [$0] } ?? [])
        let text = parts.isEmpty ? s.title : s.title + ": " + parts.joined(separator: ", ")
        let width = max(10, columns - 1)
        return text.count <= width ? text : String(text.prefix(width - 1)) + "…"
    }

    /// The count, the percentage, the rate, and the time left (or, with no total, the time taken).
    static func figures(done: Int, total: Int?, unit: Unit, elapsedMs: Double) -> [String] {
        var parts: [String] = []
        let amount = { (n: Int) -> String in unit == .bytes ? Units.bytes(n) : "\(n)" }
        if unit != .none {
            if let total, total > 0 {
                let percent = min(100, max(0, Int((100 * Double(done) / Double(total)).rounded(.down))))
                parts.append("\(amount(done))/\(amount(total))\(unitName(unit)) (\(percent)%)")
            } else {
                parts.append(amount(done) + unitName(unit))
            }
        }
        let rate = elapsedMs > 0 ? Double(done) / (elapsedMs / 1000) : 0
        let measured = unit != .none && done > 0 && elapsedMs >= 500
        if measured {
            switch unit {
            case .bytes: parts.append(Units.bytes(rate) + "/s")
            case .items(let name) where !name.isEmpty: parts.append(Units.rate(rate, unit: name + "/s"))
            default: parts.append(Units.significant(rate) + "/s")
            }
        }
        if measured, let total, total > done, rate > 0 {
            parts.append(Units.duration(milliseconds: Double(total - done) / rate * 1000) + " left")
        } else if elapsedMs >= 500 {
            parts.append(Units.duration(milliseconds: elapsedMs))
        }
        return parts
    }

    private static func unitName(_ unit: Unit) -> String {
        if case .items(let name) = unit, !name.isEmpty { return " " + name }
        return ""
    }
}
