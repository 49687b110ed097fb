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
        MemoryLimit.read(CgroupFiles(membership: root.appendingPathComponent("self").path, root: root.path), physical: nil)?.bytes
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

    /// The machine's memory where it is less than the cgroup's limit, or where none is set.
    func testTheMachinesMemoryWhereItIsLess() throws {
        let files = CgroupFiles(membership: root.appendingPathComponent("self").path, root: root.path)
        try write("0::/pod/c\n", "self")
        XCTAssertEqual(MemoryLimit.read(files, physical: 8 << 30), MemoryLimit(bytes: 8 << 30, source: "the machine's memory"))
        try write("1073741824\n", "pod/memory.max")
        XCTAssertEqual(MemoryLimit.read(files, physical: 8 << 30), MemoryLimit(bytes: 1 << 30, source: "its cgroup"))
        XCTAssertEqual(MemoryLimit.read(files, physical: 512 << 20), MemoryLimit(bytes: 512 << 20, source: "the machine's memory"))
        XCTAssertGreaterThan(MemoryLimit.physicalMemory() ?? 0, 0)
    }

    func testLimitFilesThatAreNotANumberSetNone() {
        XCTAssertNil(MemoryLimit.bytes(""))
        XCTAssertNil(MemoryLimit.bytes("-1\n"))
        XCTAssertNil(MemoryLimit.bytes("0\n"))
        XCTAssertEqual(MemoryLimit.bytes("4096 \n"), 4096)
    }
}

/// The least a shard job holds: its features and the similarity block of its graph stage.
final class ShardMemoryTests: XCTestCase {
    func testScriptsBipartiteMatrixAndScriptPlusPieces() {
        // The fault tests' poison shard: 26,000 tokens of width 8, a 13,000 x 13,000 graph.
        XCTAssertEqual(ShardMemory.leastBytes(tokens: 26_000, width: 8, options: PruneOptions(), unitTokens: nil), 4 * (26_000 * 8 + 13_000 * 13_000))
        XCTAssertEqual(ShardMemory.leastBytes(tokens: 7, width: 2, options: PruneOptions(), unitTokens: nil), 4 * (14 + 4 * 3))
        let parts = ShardMemory.parts(tokens: 7, width: 2, options: PruneOptions(), unitTokens: nil)
        XCTAssertEqual([parts.features, parts.graph], [4 * 14, 4 * 4 * 3])
        var plus = PruneOptions()
        plus.method = .scriptPlus
        XCTAssertEqual(ShardMemory.leastBytes(tokens: 1568, width: 8, options: plus, unitTokens: 196), 4 * (1568 * 8 + 196 * 196), "one frame pair's piece")
        XCTAssertEqual(ShardMemory.leastBytes(tokens: 196, width: 8, options: plus, unitTokens: 196), 4 * (196 * 8 + 98 * 98), "one unit: Script's graph")
        plus.unitGraph = false
        XCTAssertEqual(ShardMemory.leastBytes(tokens: 1568, width: 8, options: plus, unitTokens: 196), 4 * (1568 * 8 + 784 * 784))
        // The bfloat16 rounding of the features beside them.
        var half = PruneOptions()
        half.similarity = .bf16
        XCTAssertEqual(ShardMemory.leastBytes(tokens: 7, width: 2, options: half, unitTokens: nil), 4 * 14 + 2 * 7 * 64 + 4 * 4 * 3,
                       "rows of the rounding a cache line wider than the width, rounded up to one")
        XCTAssertEqual(ShardMemory.leastBytes(tokens: 7, width: 2, options: half, unitTokens: nil, float32Read: false), 2 * 7 * 64 + 4 * 4 * 3,
                       "the rounding alone where nothing reads the float32 values")
        XCTAssertEqual(ShardMemory.leastBytes(tokens: 4097, width: 2, options: half, unitTokens: nil, float32Read: false),
                       4 * 4097 * 2 + 2 * 4097 * 64 + 4 * 2049 * 2048, "past the dense limit the greedy reads the float32 values")
        plus.similarity = .bf16
        XCTAssertEqual(ShardMemory.leastBytes(tokens: 1568, width: 8, options: plus, unitTokens: 196, float32Read: false),
                       4 * 1568 * 8 + 2 * 1568 * 64 + 4 * 784 * 784, "Script+ reads them")
    }
}
