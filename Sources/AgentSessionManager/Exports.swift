// The library's public surface: the event vocabulary and the event store.
@_exported public import ASMCore
@_exported public import ASMStore
