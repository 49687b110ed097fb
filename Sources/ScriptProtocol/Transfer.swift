/// How a request's tensor bytes travel: inside the `prune` message, through the coordinator
/// (`inline`, the default: any client that reaches the coordinator can send), or from the client
/// straight to the workers the coordinator places its shards on (`direct`: the coordinator moves
/// no tensor bytes, so it never caps throughput; the client must reach the workers).
public enum Transfer: String, Sendable, CaseIterable {
    case inline, direct
}
