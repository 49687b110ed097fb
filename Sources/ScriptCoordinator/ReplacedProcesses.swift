/// Worker processes (by incarnation) that a later process of the same worker replaced, the
/// latest `capacity` of them: one that speaks again is alive after all, so two processes run as
/// one worker (the same name and data address), and it is refused rather than let in to replace
/// the other in turn, and so on for ever.
struct ReplacedProcesses {
    private var members: Set<Int> = []
    private var order: [Int] = []
    let capacity: Int

    init(capacity: Int = 4096) { self.capacity = capacity }

    mutating func insert(_ incarnation: Int) {
        guard members.insert(incarnation).inserted else { return }
        order.append(incarnation)
        if order.count > capacity { members.remove(order.removeFirst()) }
    }

    func contains(_ incarnation: Int) -> Bool { members.contains(incarnation) }
}
