import Foundation
import XCTest
@testable import ScriptTransport

/// Which endpoints get libzmq's IPv6 option, and real sockets over IPv6 loopback with it.
final class IPv6OptionTests: SocketTestCase {
    private static func address(_ family: Int32) -> SocketAddress { SocketAddress(family: family, bytes: []) }
    private static let v4 = address(AF_INET), v6 = address(AF_INET6)

    func testIPv6AddressesAndNamesWithOnlyIPv6AddressesGetTheOption() {
        let never: HostLookup.Resolver = { host, _ in XCTFail("\(host) looked up"); return [] }
        for (endpoint, connecting, wanted) in [("tcp://[::1]:5555", true, true), ("tcp://[::]:5555", false, true),
                                               ("tcp://[fd00::5]:*", false, true), ("tcp://[fd00::2];10.0.0.1:5555", true, true),
                                               ("tcp://127.0.0.1:5555", true, false), ("tcp://0.0.0.0:5555", false, false),
                                               ("tcp://*:5555", false, false), ("tcp://eth0:5555", false, false),
                                               ("ipc:///tmp/socket", true, false), ("tcp://", true, false)] {
            XCTAssertEqual(IPv6Option.wanted(for: endpoint, connecting: connecting, timeoutMs: 500, resolve: never), wanted, endpoint)
        }
        for (found, wanted) in [([Self.v6], true), ([Self.v6, Self.v6], true), ([Self.v6, Self.v4], false), ([Self.v4, Self.v6], false),
                                ([Self.v4], false), ([], false)] {
            let resolve: HostLookup.Resolver = { _, _ in found }
            XCTAssertEqual(IPv6Option.wanted(for: "tcp://coordinator:5556", connecting: true, timeoutMs: 500, resolve: resolve), wanted,
                           "a name with \(found.map(\.family))")
        }
        let start = ContinuousClock.now
        XCTAssertFalse(IPv6Option.wanted(for: "tcp://coordinator:5556", connecting: true, timeoutMs: 200) { _, _ in
            sleep(3)
            return [Self.v6]
        }, "a name not looked up in time stays IPv4")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1))
    }

    /// A ROUTER on IPv6 loopback answers a DEALER that connects to it; one on `[::]` takes
    /// connections over IPv4 too (libzmq's dual-stack listener).
    func testSocketsBindAndConnectOverIPv6() throws {
        try XCTSkipUnless(Self.hasIPv6Loopback(), "this machine has no IPv6 loopback (::1)")
        for bind in ["tcp://[::1]:*", "tcp://[::]:*"] {
            let router = try socket(.router)
            try router.bind(bind)
            let port = try XCTUnwrap(try router.lastEndpoint().split(separator: ":").last)
            for connect in ["tcp://[::1]:\(port)"] + (bind.contains("[::]") ? ["tcp://127.0.0.1:\(port)"] : []) {
                let dealer = try socket(.dealer)
                try dealer.connect(connect)
                try dealer.send([Array("hello".utf8)])
                let got = try XCTUnwrap(try router.receive(timeoutMilliseconds: 5000), "\(bind) from \(connect)")
                XCTAssertEqual(got.last, Array("hello".utf8))
            }
        }
    }

    private static func hasIPv6Loopback() -> Bool {
        let fd = Glibc.socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
        }
    }
}
