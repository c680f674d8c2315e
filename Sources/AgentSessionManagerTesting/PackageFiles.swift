public import FoundationEssentials

/// Files of this package's checkout (fixtures, migrations, the README), for tests.
public enum PackageFiles {
    /// The checkout's root: three levels above this file.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The absolute path of `relative` (`"Fixtures/logs/multi-provider.sqlite"`).
    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}
