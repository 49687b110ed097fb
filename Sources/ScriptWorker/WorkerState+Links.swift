import ScriptProtocol
import ScriptService
import ScriptTransport

/// A worker's links to its coordinators over time: registering, beats, what each link's
/// socket monitor saw, refusals, and the back-off before a fresh socket (Cluster/PROTOCOL.md,
/// "Lifecycle").
extension WorkerState {
    /// A coordinator's message (readable, of this version, not `refused`) is a sign of life; the
    /// first after an outage registers us.
    func heard(_ i: Int, now: ContinuousClock.Instant) -> [Action] {
        links[i].lastHeard = now
        guard !links[i].isConnected else { return [] }
        links[i].phase = .connected
        links[i].backoffMs = config.reconnectMinMs
        links[i].outageLogged = false
        links[i].refusal = nil
        links[i].trouble = nil
        return [.log(level: .info, message: "registered with coordinator \(links[i].endpoint)")]
    }

    /// The loop did not turn for `gap` (this process stopped, frozen or starved of CPU, or work
    /// held the loop): the coordinators' silence is counted from now, since what they sent
    /// meanwhile may still be inside libzmq; it was counted from before the gap, and a
    /// coordinator was said silent after a pause of this worker's. Said at most once a minute.
    public func resumed(after gap: LoopGap.Gap, now: ContinuousClock.Instant) -> [Action] {
        for i in links.indices {
            links[i].lastHeard = min(now, links[i].lastHeard + gap.wall)
            if case .connecting(let since) = links[i].phase { links[i].phase = .connecting(since: min(now, since + gap.wall)) }
        }
        guard let times = gaps.due(now) else { return [] }
        return [.log(level: .warning, message: "\(gap.said): the coordinators' silence is counted from now\(times)")]
    }

    func tickLink(_ i: Int, now: ContinuousClock.Instant) -> [Action] {
        switch links[i].phase {
        case .connected:
            if now - links[i].lastHeard > silence {
                return lose(i, now: now, why: "silent for \(Units.duration(now - links[i].lastHeard))")
            }
            if now - links[i].lastSent >= beat {
                links[i].lastSent = now
                return [.send(link: i, frames: BackendEnvelope.bare("heartbeat"))]
            }
        case .connecting(let since):
            if now - since > silence {
                return links[i].handshakeFailed ? refused(i, .handshake(curve: config.curve != nil), now: now) : lose(i, now: now, why: unanswered(links[i]))
            }
            if now - links[i].lastSent >= beat { return ready(i, now: now) }
        case .waiting(let until):
            if now >= until && !draining {
                links[i].phase = .connecting(since: now)
                links[i].lastHeard = now
                return [.open(link: i), .log(level: .debug, message: "connecting to coordinator \(links[i].endpoint) again")] + ready(i, now: now)
            }
        }
        return []
    }

    /// What link `i`'s socket monitor reported. A refused key or mechanism closes the link at
    /// once and says why (the monitor tells a mechanism mismatch even where libzmq saw only the
    /// connection closed during the handshake: `ZMTPGreetingProbe`). A handshake that failed
    /// otherwise is noted and libzmq tries again; a link that never gets an answer says its
    /// handshakes failed.
    public func linkEvents(_ i: Int, _ events: [ZMQMonitor.Event], now: ContinuousClock.Instant) -> [Action] {
        guard links.indices.contains(i), !links[i].isWaiting else { return [] }
        if events.contains(.authenticationFailed) { return refused(i, .key, now: now) }
        if events.contains(.mechanismMismatch) { return refused(i, config.curve == nil ? .curveRequired : .curveUnspoken, now: now) }
        if events.contains(.serverKeyMismatch) { return refused(i, .handshake(curve: true), now: now) }
        if events.contains(.handshakeFailed) { links[i].handshakeFailed = true }
        if events.contains(.handshakeSucceeded) { links[i].handshook = true }
        if events.contains(.connected) { links[i].connected = true }
        links[i].failedAttempts += events.filter { $0 == .connectRetried }.count
        return []
    }

    /// Why a link got no answer in time, from what its socket's monitor saw.
    private func unanswered(_ link: WorkerLink) -> String {
        if link.handshook { return "not answering" }
        if link.connected {
            return "not answering: connected, but what listens there never finished a ZeroMQ handshake (not a coordinator's backend, a coordinator that is stopped, or a proxy with nothing behind it)"
        }
        if link.failedAttempts > 0 {
            return "unreachable: \(link.failedAttempts) connection attempts failed (nothing listens there, or its name does not resolve from here)"
        }
        return "not answering: no connection made (packets dropped on the way: a firewall, or a host that is down)"
    }

    func refused(_ i: Int, _ refusal: LinkRefusal, now: ContinuousClock.Instant) -> [Action] {
        lose(i, now: now, why: refusal.explanation(workerKey: config.curve?.keyPair.publicKey.z85), refusal: refusal)
    }

    /// Why this worker is not registered, for readiness probes: why its first link in trouble
    /// was last lost.
    public var unregisteredReason: String {
        guard let i = links.indices.first(where: { links[$0].trouble != nil }) else { return "not registered with a coordinator" }
        return "not registered: coordinator \(links[i].endpoint) \(links[i].trouble!)"
    }

    /// Closes a link whose coordinator is silent or refused this worker, and waits out a
    /// back-off before a fresh socket. Each outage is logged once, and each new refusal.
    func lose(_ i: Int, now: ContinuousClock.Instant, why: String, refusal: LinkRefusal? = nil) -> [Action] {
        let delay = backoff.jittered(links[i].backoffMs, unit: random())
        links[i].backoffMs = backoff.next(after: links[i].backoffMs)
        links[i].phase = .waiting(until: now + .milliseconds(delay))
        (links[i].handshakeFailed, links[i].handshook, links[i].connected, links[i].failedAttempts) = (false, false, false, 0)
        links[i].trouble = why
        forget(link: i, now: now)
        var actions: [Action] = [.close(link: i)]
        let message = "coordinator \(links[i].endpoint) \(why); reconnecting in \(Units.duration(milliseconds: Double(delay)))"
        let loud = !links[i].outageLogged || (refusal != nil && refusal != links[i].refusal)
        actions.append(.log(level: loud ? .warning : .debug, message: message))
        links[i].outageLogged = true
        if refusal != nil { links[i].refusal = refusal }
        return actions
    }
}
