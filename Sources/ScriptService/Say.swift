import Foundation

/// Writes a line to standard output at once (no buffering), for lines other processes wait for.
public func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
