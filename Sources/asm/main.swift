import ASMCommands

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

exit(await ASMCLI.run(Array(CommandLine.arguments.dropFirst())))
