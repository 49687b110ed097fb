import ScriptTransport

/// Answers kept by request id, with the fingerprint of the request each answers, so that a
/// client retrying an id gets the same answer without a second computation. Bounded by count and
/// by bytes (an answer with kept features is megabytes); the oldest go first.
struct ResultCache {
    /// One answer, and the request it answers.
    struct Entry {
        let fingerprint: RequestFingerprint
        let frames: [Frame]
        var bytes: Int { frames.reduce(0) { $0 + $1.count } }
    }

    let maxEntries: Int
    let maxBytes: Int
    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var head = 0
    private(set) var bytes = 0

    init(maxEntries: Int, maxBytes: Int) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    subscript(id: String) -> Entry? { entries[id] }

    var count: Int { entries.count }

    mutating func insert(_ frames: [Frame], answering fingerprint: RequestFingerprint, for id: String) {
        let entry = Entry(fingerprint: fingerprint, frames: frames)
        guard maxEntries > 0, entry.bytes <= maxBytes else { return }
        if let old = entries.updateValue(entry, forKey: id) {
            bytes -= old.bytes
        } else {
            order.append(id)
        }
        bytes += entry.bytes
        while entries.count > maxEntries || bytes > maxBytes {
            let oldest = order[head]
            head += 1
            if let gone = entries.removeValue(forKey: oldest) { bytes -= gone.bytes }
        }
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
