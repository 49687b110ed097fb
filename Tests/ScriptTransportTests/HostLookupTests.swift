import XCTest
@testable import ScriptTransport

/// Lookups bounded in time, on threads that lookups which hang cannot use up.
final class HostLookupTests: XCTestCase {
    /// Eight lookups that hang (more than this machine's cores) each cost their caller its
    /// bound, and the next lookup is still answered at once.
    func testLookupsThatHangLeaveTheNextOneItsThread() {
        let start = ContinuousClock.now
        for i in 0..<8 {
            let found = HostLookup.addresses("hangs\(i).example", "5555", deadline: HostLookup.monotonicMs() + 50) { _, _ in
                sleep(2)
                return [SocketAddress(family: AF_INET, bytes: [])]
            }
            XCTAssertTrue(found.isEmpty, "not answered within its bound")
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1.5))
        let found = HostLookup.addresses("answers.example", "5555", deadline: HostLookup.monotonicMs() + 1000) { _, _ in
            [SocketAddress(family: AF_INET6, bytes: [])]
        }
        XCTAssertEqual(found.map(\.family), [AF_INET6], "answered while the others still hang")
    }
}
