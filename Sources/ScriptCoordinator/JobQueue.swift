/// Jobs waiting for a worker: reductions first (a request waits on each of them alone), then
/// everything else in the order it came; a job moved off a dead worker goes to the front.
struct JobQueue {
    private var urgent: [Int] = []
    private var normal: [Int] = []
    private var head = 0

    var count: Int { urgent.count + normal.count - head }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ job: Int) { normal.append(job) }
    mutating func appendUrgent(_ job: Int) { urgent.append(job) }
    mutating func requeue(_ jobs: [Int]) { normal.replaceSubrange(head..<head, with: jobs) }

    /// Jobs in the order they should be tried.
    var ordered: [Int] { urgent + normal[head...] }

    /// Removes the jobs for which `gone` holds.
    mutating func remove(where gone: (Int) -> Bool) {
        urgent.removeAll(where: gone)
        normal = Array(normal[head...].filter { !gone($0) })
        head = 0
    }
}
