// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "AgentSessionManager",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AgentSessionManager", targets: ["AgentSessionManager"]),
        .library(name: "AgentSessionManagerTesting", targets: ["AgentSessionManagerTesting"]),
        .library(name: "AgentSessionManagerHTTP", targets: ["ASMHTTP"]),
        .library(name: "AgentSessionManagerPostgres", targets: ["ASMPostgres"]),
        .library(name: "AgentSessionManagerTelemetry", targets: ["ASMTelemetry"]),
        .executable(name: "asm", targets: ["asm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The only C: the system libsqlite3 through a module map and a header shim.
        .systemLibrary(
            name: "CASMSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),

        // Pure: values, payloads, codecs. Standard library and FoundationEssentials only.
        .target(name: "ASMCore", swiftSettings: swiftSettings),

        // Edge: the few operating system calls several targets share (monotonic time,
        // realpath, the temporary directory), so each is written once.
        .target(name: "ASMSystem", swiftSettings: swiftSettings),

        // The numbered SQL files, embedded in code so an installed `asm` carries them.
        .target(
            name: "ASMMigrations",
            path: "Migrations",
            exclude: [],
            resources: [
                .embedInCode("0001_events.sql"),
                .embedInCode("0002_projections.sql"),
                .embedInCode("0003_consumers.sql"),
                .embedInCode("0004_chain_versions.sql"),
                .embedInCode("0005_run_leases.sql"),
                .embedInCode("0006_approvals.sql"),
                .embedInCode("0007_session_forks.sql"),
                .embedInCode("0008_asm_search_source.sql"),
                .embedInCode("0009_session_parents.sql"),
                // PostgreSQL's, applied by the PostgreSQL store.
                .embedInCode("postgres/0001_log.sql"),
                .embedInCode("postgres/0002_import.sql"),
                .embedInCode("postgres/0003_set_append.sql"),
                .embedInCode("postgres/0004_session_forks.sql"),
                .embedInCode("postgres/0005_search_text.sql"),
                .embedInCode("postgres/0006_session_parents.sql"),
            ],
            swiftSettings: swiftSettings
        ),

        // Edge: the SQLite event store, projections, subscriptions, consumers.
        .target(
            name: "ASMStore",
            dependencies: [
                "ASMCore",
                "ASMMigrations",
                "ASMSystem",
                "CASMSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // Edge: provider CLIs as subprocesses. Argv builders, stream decoders, flag
        // compilation and redaction are pure files; the process runner is the edge.
        .target(
            name: "ASMProviders",
            dependencies: [
                "ASMCore",
                "ASMSystem",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),

        // Pure: policies, their merge and the evaluator (a reducer over a run's events).
        .target(
            name: "ASMPolicy",
            dependencies: ["ASMCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),

        // Edge: workspace snapshots (git and hash), diffs, restores, the artifact store.
        .target(
            name: "ASMWorkspace",
            dependencies: [
                "ASMCore",
                "ASMSystem",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),

        // Pure: the router's fold of the log, its decision and breaker state machine.
        .target(name: "ASMRouting", dependencies: ["ASMCore", "ASMPolicy"], swiftSettings: swiftSettings),

        // The engine: sessions, runs, policies, continuity, routing and replay; executes
        // provider runs and records them in the log.
        .target(
            name: "ASMRuntime",
            dependencies: [
                "ASMCore", "ASMStore", "ASMProviders", "ASMPolicy", "ASMRouting", "ASMWorkspace", "ASMSystem",
            ],
            swiftSettings: swiftSettings
        ),

        // The public facade.
        .target(
            name: "AgentSessionManager",
            dependencies: [
                "ASMCore", "ASMStore", "ASMProviders", "ASMPolicy", "ASMRouting", "ASMWorkspace", "ASMRuntime",
            ],
            swiftSettings: swiftSettings
        ),

        // Test kit for users and for this package's tests.
        .target(
            name: "AgentSessionManagerTesting",
            dependencies: [
                "AgentSessionManager", "ASMCore", "ASMStore", "ASMRouting", "ASMWorkspace", "ASMSystem",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),

        // CLI logic as a library, so tests parse commands without a process.
        // Edge: the log over HTTP (Hummingbird): its own target and product, so programs that
        // embed only the engine never compile NIO.
        .target(
            name: "ASMHTTP",
            dependencies: [
                "AgentSessionManager",
                "ASMCore",
                "ASMStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [
                .embedInCode("openapi.json"),
                .embedInCode("Web/index.html"),
                .embedInCode("Web/app.js"),
                .embedInCode("Web/app.css"),
            ],
            swiftSettings: swiftSettings
        ),

        // Edge: the log on a PostgreSQL server (postgres-nio): its own target and product, so
        // programs that use only SQLite never compile it.
        .target(
            name: "ASMPostgres",
            dependencies: [
                "ASMCore",
                "ASMMigrations",
                "ASMStore",
                "ASMSystem",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),

        // Edge: runs as OpenTelemetry traces, sent over OTLP/HTTP: its own target and product.
        .target(
            name: "ASMTelemetry",
            dependencies: [
                "ASMCore",
                "ASMStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(
            name: "ASMCommands",
            dependencies: [
                "AgentSessionManager",
                "ASMHTTP",
                "ASMTelemetry",
                "ASMCore",
                "ASMPostgres",
                "ASMStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "asm", dependencies: ["ASMCommands"], swiftSettings: swiftSettings),

        // `make bench`: the engine against the C anchor.
        .executableTarget(
            name: "asm-bench",
            dependencies: [
                "AgentSessionManager",
                "ASMHTTP",
                "ASMTelemetry",
                "ASMCore",
                "ASMPostgres",
                "ASMStore",
                "ASMSystem",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),

        // A child process for the tests: appends in a loop until killed, follows a log.
        .executableTarget(
            name: "asm-test-child",
            dependencies: ["AgentSessionManager", "ASMCore", "ASMStore"],
            path: "Tests/Support/asm-test-child",
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "ASMCoreTests",
            dependencies: ["ASMCore", "AgentSessionManagerTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASMStoreTests",
            dependencies: [
                "ASMCore",
                "ASMPostgres",
                "ASMStore",
                "ASMMigrations",
                "CASMSQLite",
                "AgentSessionManagerTesting",
                "asm-test-child",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASMProvidersTests",
            dependencies: ["ASMProviders", "ASMCore", "ASMStore", "AgentSessionManagerTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASMPolicyTests",
            dependencies: ["ASMPolicy", "ASMCore", "AgentSessionManagerTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASMRoutingTests",
            dependencies: ["ASMRouting", "ASMCore", "AgentSessionManagerTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASMWorkspaceTests",
            dependencies: [
                "ASMWorkspace", "ASMCore", "AgentSessionManagerTesting",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASMRuntimeTests",
            dependencies: [
                "ASMRuntime", "ASMProviders", "ASMCore", "ASMStore", "ASMPolicy", "ASMRouting", "ASMWorkspace",
                "AgentSessionManagerTesting",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ASMCommandsTests",
            dependencies: [
                "AgentSessionManager",
                "ASMCommands",
                "ASMTelemetry",
                "ASMCore",
                "ASMPostgres",
                "ASMStore",
                "AgentSessionManagerTesting",
                "asm",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

package.targets.append(
    .testTarget(
        name: "ASMHTTPTests",
        dependencies: [
            "ASMHTTP",
            "AgentSessionManager",
            "ASMCore",
            "ASMStore",
            "AgentSessionManagerTesting",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ],
        swiftSettings: swiftSettings
    )
)
