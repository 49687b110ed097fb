import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import ScriptTransport

/// Who reads whose shared memory: the same PID namespace and the same user (a worker running as
/// root reads no other user's memory).
final class SharedMemoryScopeTests: XCTestCase {
    func testOnlyTheSameNamespaceAndUserRead() throws {
        let client = SharedMemoryScope(pidNamespace: 7, uid: 1000)
        XCTAssertTrue(SharedMemoryScope(pidNamespace: 7, uid: 1000).reads(from: client))
        XCTAssertFalse(SharedMemoryScope(pidNamespace: 7, uid: 0).reads(from: client), "root reads only its own")
        XCTAssertFalse(SharedMemoryScope(pidNamespace: 7, uid: 1001).reads(from: client))
        XCTAssertFalse(SharedMemoryScope(pidNamespace: 8, uid: 0).reads(from: client))
        let here = try XCTUnwrap(SharedMemoryScope.current)
        XCTAssertEqual(here.uid, Int(geteuid()))
        XCTAssertTrue(here.reads(from: here))
    }
}
