// The library's public surface: the event vocabulary, the event store, the provider
// adapters and the engine that records runs.
@_exported public import ASMCore
@_exported public import ASMPolicy
@_exported public import ASMProviders
@_exported public import ASMRouting
@_exported public import ASMRuntime
@_exported public import ASMStore
@_exported public import ASMWorkspace
