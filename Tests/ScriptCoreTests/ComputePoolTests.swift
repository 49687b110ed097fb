import Dispatch
import Foundation
import Synchronization
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import ScriptCore

final class ComputePoolTests: XCTestCase {
    /// Every chunk runs exactly once, for loops of any size, nested or not, at any width.
    func testEveryChunkRunsOnceIncludingNestedLoops() {
        for width in [1, 2, 3, 8, 17] {
            let pool = ComputePool(width: width)
            for count in [0, 1, 2, 5, 64, 1000] {
                let box = Hits(count)
                pool.forEach(count) { i in box.add(i) }
                XCTAssertEqual(box.all(), [Int](repeating: 1, count: count), "width \(width) count \(count)")
            }
            // Nested: the inner loops share the team with the outer one.
            let inner = Hits(12 * 40)
            pool.forEach(12) { o in pool.forEach(40) { i in inner.add(o * 40 + i) } }
            XCTAssertEqual(inner.all(), [Int](repeating: 1, count: 12 * 40), "nested, width \(width)")
            XCTAssertEqual(pool.map(100) { $0 * $0 }, (0..<100).map { $0 * $0 })
        }
    }

    /// Loops started from several threads at once all complete.
    func testConcurrentCallersShareTheTeam() {
        let pool = ComputePool(width: 4)
        let total = Hits(4 * 200)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for round in 0..<10 { pool.forEach(20) { i in total.add(caller * 200 + round * 20 + i) } }
        }
        XCTAssertEqual(total.all(), [Int](repeating: 1, count: 800))
    }

    /// The quota is the tightest of the process's cgroup and every ancestor's (a container's
    /// limit often sits on a parent), read from a hierarchy laid out in a temporary directory.
    func testThreadCountTakesTheTightestQuotaUpTheCgroupTree() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cgroup-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let leaf = root.appendingPathComponent("pod/worker")
        try FileManager.default.createDirectory(at: leaf, withIntermediateDirectories: true)
        func write(_ text: String, _ path: String) throws {
            try text.write(to: root.appendingPathComponent(path), atomically: true, encoding: .utf8)
        }
        try write("0::/pod/worker\n", "self")
        func quota() -> Int? { ThreadCount.cgroupQuota(membership: root.appendingPathComponent("self").path, root: root.path) }
        XCTAssertNil(quota(), "no cpu.max anywhere")
        try write("max 100000\n", "pod/worker/cpu.max")
        try write("250000 100000\n", "pod/cpu.max")
        XCTAssertEqual(quota(), 3, "the parent's limit, rounded up")
        try write("100000 100000\n", "pod/worker/cpu.max")
        try write("400000 100000\n", "cpu.max")
        XCTAssertEqual(quota(), 1, "the tightest on the way up")
        try write("12:cpu,cpuacct:/pod\n", "self")
        XCTAssertNil(quota(), "cgroup v1 only")
    }

    func testThreadCountParsesQuotasAndRejectsBadCounts() throws {
        XCTAssertEqual(ThreadCount.quotaCPUs("max 100000\n"), nil)
        XCTAssertEqual(ThreadCount.quotaCPUs("200000 100000\n"), 2)
        XCTAssertEqual(ThreadCount.quotaCPUs("150000 100000"), 2)
        XCTAssertEqual(ThreadCount.quotaCPUs("50000 100000"), 1)
        XCTAssertGreaterThanOrEqual(ThreadCount.detected, 1)
        XCTAssertEqual(try ThreadCount.resolve(flag: 3), 3)
        XCTAssertThrowsError(try ThreadCount.resolve(flag: 0)) { error in
            XCTAssertEqual(error as? ThreadCountError, .notACount("0", source: "--threads"))
        }
        setenv(ThreadCount.environmentVariable, "5", 1)
        XCTAssertEqual(try ThreadCount.resolve(flag: nil), 5)
        for bad in ["many", "0", "-1", "1025", "99999", " 2", "1.5"] {
            setenv(ThreadCount.environmentVariable, bad, 1)
            XCTAssertThrowsError(try ThreadCount.resolve(flag: nil)) { error in
                XCTAssertEqual("\(error)", "SCRIPT_CLUSTER_THREADS \(bad): must be a whole number from 1 to 1024")
            }
        }
        setenv(ThreadCount.environmentVariable, "", 1)
        XCTAssertEqual(try ThreadCount.resolve(flag: nil), ThreadCount.detected, "empty is unset")
        unsetenv(ThreadCount.environmentVariable)
        XCTAssertEqual(try ThreadCount.resolve(flag: nil), ThreadCount.detected)
    }

    /// The BLAS in use computes correct products at the shapes the core calls.
    func testBLASProductsMatchADoubleReference() {
        XCTAssertFalse(BLAS.description.isEmpty)
        for (m, n, k, strided) in [(96, 96, 4096, true), (96, 48, 4096, true), (144, 144, 4096, false), (128, 320, 512, false),
                                   (5, 3, 17, false), (256, 6, 4096, false)] {
            let e = BLAS.check(m: m, n: n, k: k, strided: strided, sample: 5)
            XCTAssertLessThanOrEqual(e, 1, "\(m)x\(n)x\(k): \(e) of the rounding bound (\(BLAS.description))")
            XCTAssertGreaterThanOrEqual(e, 0)
        }
    }
}

/// Per-index counters that chunks of a loop bump.
private final class Hits: Sendable {
    private let counts: Mutex<[Int]>
    init(_ n: Int) { counts = Mutex([Int](repeating: 0, count: n)) }
    func add(_ i: Int) { counts.withLock { $0[i] += 1 } }
    func all() -> [Int] { counts.withLock { $0 } }
}
