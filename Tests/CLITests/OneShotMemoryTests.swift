import Foundation
import ScriptTestSupport
import XCTest

/// What a one-shot `prune` does with memory before it reads its request.
final class OneShotMemoryTests: CLITestCase {
    /// Its heap is grown at once, by a reserve that asks for transparent huge pages: every
    /// buffer of a one-shot request is fresh memory, each 4 KiB page of which faulted on first
    /// touch (a prune of the image sample: 2159 faults against 3959). Seen while `prune` waits
    /// to read its features from a named pipe.
    func testAOneShotPruneAsksForItsHeapInHugePages() throws {
        try XCTSkipUnless(MemoryMaps.hasHugePages, "this kernel has no transparent huge pages")
        let fifo = path("features.npy")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITestCase.executable)
        p.arguments = ["prune", "--features", fifo, "--budget", "3", "--threads", "1"]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer {
            p.terminate()
            p.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(20)
        var largest = 0
        while Date() < deadline && largest < 128 << 20 {
            largest = MemoryMaps.largestHugePageMapping(pid: p.processIdentifier)
            usleep(20_000)
        }
        XCTAssertGreaterThanOrEqual(largest, 128 << 20, "no mapping of 128 MiB or more asks for huge pages")
    }
}
