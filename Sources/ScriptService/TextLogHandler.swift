import Logging

/// swift-log's text handler (`StreamLogHandler`, on standard error), one line an event: the
/// label's and the message's control characters are escaped (`PrintableText`), so a name or an
/// endpoint a peer sent cannot break a log line or forge one (a worker named "a\n2026-..." did).
public struct TextLogHandler: LogHandler {
    private var inner: StreamLogHandler

    public init(label: String) {
        inner = StreamLogHandler.standardError(label: PrintableText.escaped(label))
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var e = event
        e.message = "\(PrintableText.escaped(event.message.description))"
        inner.log(event: e)
    }
}
