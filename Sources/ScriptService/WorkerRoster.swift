import Foundation
import ScriptTransport
import Synchronization

/// The workers a coordinator has registered, as its loop last published them (each second):
/// what `/workers` on its operations port serves, so that an operator of a pool of mixed workers
/// sees which ones are in, with what credit, threads, memory limit and kernels (BLAS, bfloat16),
/// whose shared memory they read, and which are silent or straggling. Written by the loop, read from any thread.
public final class WorkerRoster: Sendable {
    /// One registered worker.
    public struct Entry: Sendable, Equatable, Codable {
        public var name: String
        /// Jobs it takes at once (0 while it drains).
        public var credit: Int
        public var threads: Int
        /// Jobs it holds that wait on it.
        public var jobs: Int
        /// Bytes it may hold, as it said (nil: it did not).
        public var memoryBytes: Int?
        /// Bytes this coordinator's jobs there hold at the least: their features, and the
        /// largest graph block among its shards.
        public var bytesHeld: Int
        /// Its data endpoint (nil: inline transfers only).
        public var data: String?
        /// Its BLAS build and kernels, as it said.
        public var blas: String?
        /// Its bfloat16 products' library and kernel, as it said (nil: it has none): only such
        /// workers take requests in similarity bf16.
        public var bf16: String?
        /// Whose shared memory it reads in place, as it said (nil: none; it is sent the bytes).
        public var sharedMemory: SharedMemoryScope?
        /// Silent for over a beat and a half: its jobs are copied, it gets none.
        public var silent: Bool
        /// A copy of one of its jobs finished first: it is left out for a while.
        public var straggling: Bool

        public init(name: String, credit: Int, threads: Int, jobs: Int, memoryBytes: Int?, bytesHeld: Int = 0, data: String?, blas: String?,
                    bf16: String? = nil, sharedMemory: SharedMemoryScope? = nil, silent: Bool, straggling: Bool) {
            self.name = name; self.credit = credit; self.threads = threads; self.jobs = jobs; self.memoryBytes = memoryBytes
            self.bytesHeld = bytesHeld
            self.data = data; self.blas = blas; self.bf16 = bf16; self.sharedMemory = sharedMemory
            self.silent = silent; self.straggling = straggling
        }

        enum CodingKeys: String, CodingKey {
            case name, credit, threads, jobs, memoryBytes = "memory_bytes", bytesHeld = "bytes_held", data, blas, bf16,
                 sharedMemory = "shared_memory", silent, straggling
        }
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    /// Replaces what is served with `entries`.
    public func publish(_ entries: [Entry]) {
        self.entries.withLock { $0 = entries }
    }

    public var current: [Entry] { entries.withLock { $0 } }

    /// `{"workers": [...]}`, one object a worker, its fields named as in `Entry.CodingKeys`.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(["workers": current])) ?? Data("{\"workers\":[]}".utf8)
    }
}
