/// A socket address as the kernel takes it: its family (`AF_INET`, `AF_INET6`, `AF_UNIX`) and
/// bytes (a `sockaddr_in`, `sockaddr_in6` or `sockaddr_un`).
struct SocketAddress: Sendable {
    let family: Int32
    let bytes: [UInt8]
}
