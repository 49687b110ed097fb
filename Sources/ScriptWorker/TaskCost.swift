/// What one step of a job cost the compute thread: wall time, and CPU time of the threads that
/// computed it.
public struct TaskCost: Sendable, Equatable {
    public var wall: Duration
    public var cpu: Duration

    public init(wall: Duration = .zero, cpu: Duration = .zero) {
        self.wall = wall
        self.cpu = cpu
    }
}
