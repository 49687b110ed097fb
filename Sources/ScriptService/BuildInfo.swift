/// What this build of Script Cluster is: `script-cluster --version` and the
/// `script_cluster_build_info` metric print it.
public enum BuildInfo {
    /// Semantic version of the executable and its wire protocol's implementation.
    public static let version = "0.1.0"
}
