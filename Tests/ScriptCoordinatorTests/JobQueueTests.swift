import XCTest
@testable import ScriptCoordinator

/// The coordinator's queue of jobs: urgent ones (reduces) before all others, jobs moved from a
/// worker that left ahead of those still waiting, otherwise first in, first out.
final class JobQueueTests: XCTestCase {
    func testUrgentFirstThenRequeuedThenTheRestInOrder() {
        var q = JobQueue()
        q.append(1)
        q.append(2)
        q.appendUrgent(9)
        q.append(3)
        XCTAssertEqual(q.ordered, [9, 1, 2, 3])
        q.remove { $0 == 1 || $0 == 9 }
        XCTAssertEqual(q.ordered, [2, 3])
        q.requeue([7, 8])
        XCTAssertEqual(q.ordered, [7, 8, 2, 3], "moved jobs waited longest")
        q.appendUrgent(5)
        XCTAssertEqual(q.ordered, [5, 7, 8, 2, 3])
        XCTAssertEqual(q.count, 5)
        q.remove { _ in true }
        XCTAssertTrue(q.isEmpty)
    }
}
