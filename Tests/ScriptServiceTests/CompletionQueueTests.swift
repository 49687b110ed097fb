import Foundation
import ScriptService
import ScriptTransport
import XCTest

final class CompletionQueueTests: XCTestCase {
    /// Two threads post at once (a worker's reading lane and its compute thread do): every item
    /// reaches the loop, and the loop's poll wakes for each post, never waiting out its timeout
    /// while items wait in the queue.
    func testPostsFromTwoThreadsAllWakeTheLoop() throws {
        let context = ZMQContext(ioThreads: 1)
        let queue = try CompletionQueue<Int>(context: context, name: "test-\(UInt64.random(in: 0...UInt64.max))")
        defer { queue.close() }
        let perThread = 20_000
        let posters = DispatchGroup()
        for t in 0..<2 {
            DispatchQueue.global().async(group: posters) {
                for i in 0..<perThread { queue.post(t * perThread + i) }
            }
        }
        var seen = Set<Int>()
        var stalls = 0
        while seen.count < 2 * perThread {
            var poller = ZMQPoller()
            poller.add(queue.receiver)
            if try poller.poll(timeoutMilliseconds: 200).isEmpty {
                stalls += 1
                XCTAssertLessThan(stalls, 5, "the loop slept with \(2 * perThread - seen.count) items unseen")
                if stalls >= 5 { break }
                continue
            }
            for item in queue.drain() { XCTAssertTrue(seen.insert(item).inserted, "item \(item) delivered twice") }
        }
        posters.wait()
        XCTAssertEqual(seen.count, 2 * perThread)
        XCTAssertEqual(stalls, 0, "polls that timed out while posts were pending")
    }
}
