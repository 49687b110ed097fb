import Foundation
import XCTest
@testable import ScriptCore

/// A process's memory limit, read from cgroup hierarchies laid out in a temporary directory.
final class MemoryLimitTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("cgroup-\(UUID().uuidString)")
        for dir in ["pod/c", "memory/docker/abc"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    private func write(_ text: String, _ path: String) throws {
        try text.write(to: root.appendingPathComponent(path), atomically: true, encoding: .utf8)
    }

    private func limit() -> Int? {
        MemoryLimit.read(CgroupFiles(membership: root.appendingPathComponent("self").path, root: root.path))
    }

    func testV2TakesTheTightestLimitUpTheTree() throws {
        try write("0::/pod/c\n", "self")
        XCTAssertNil(limit(), "no memory.max anywhere")
        try write("max\n", "pod/c/memory.max")
        XCTAssertNil(limit(), "max is no limit")
        try write("3221225472\n", "pod/memory.max")
        XCTAssertEqual(limit(), 3 << 30, "the parent's")
        try write("1073741824\n", "pod/c/memory.max")
        XCTAssertEqual(limit(), 1 << 30, "the tightest on the way up")
    }

    /// A hybrid host (this test machine's kind): the v2 line names the root, which has no
    /// memory.max, and the v1 memory controller holds the limit, here on a parent (a container
    /// sees its own cgroup at the mount's root while its membership names the host's path).
    func testV1MemoryControllerWhereV2SetsNone() throws {
        try write("4:memory:/docker/abc\n2:cpu,cpuacct:/\n0::/\n", "self")
        try write("9223372036854771712\n", "memory/docker/abc/memory.limit_in_bytes")
        XCTAssertNil(limit(), "v1's 'no limit' (2^63 - 1 rounded to pages)")
        try write("536870912\n", "memory/memory.limit_in_bytes")
        XCTAssertEqual(limit(), 512 << 20)
        try write("4:cpu,memory:/docker/abc\n", "self")
        XCTAssertEqual(limit(), 512 << 20, "memory among the line's controllers")
        try write("4:cpu:/docker/abc\n", "self")
        XCTAssertNil(limit(), "no memory controller")
    }

    func testLimitFilesThatAreNotANumberSetNone() {
        XCTAssertNil(MemoryLimit.bytes(""))
        XCTAssertNil(MemoryLimit.bytes("-1\n"))
        XCTAssertNil(MemoryLimit.bytes("0\n"))
        XCTAssertEqual(MemoryLimit.bytes("4096 \n"), 4096)
    }
}
