import ArgumentParser
import Foundation
import Testing

@testable import ASMCommands

/// Help texts are paragraphs that the terminal's width wraps, never lines broken by hand.
@Suite struct HelpTests {
    static func commands(_ root: any ParsableCommand.Type = ASM.self) -> [any ParsableCommand.Type] {
        [root] + root.configuration.subcommands.flatMap { commands($0) }
    }

    @Test("every command's discussion breaks lines only between paragraphs")
    func paragraphs() {
        for command in Self.commands() {
            let text = command.configuration.discussion
            let paragraphs = text.components(separatedBy: "\n\n")
            for paragraph in paragraphs {
                let lines = paragraph.split(separator: "\n")
                // A list keeps one item per line.
                let isList =
                    lines.count > 1 && lines.dropFirst().allSatisfy { $0.hasPrefix("- ") || $0.hasPrefix("* ") }
                #expect(lines.count <= 1 || isList, "\(command._commandName): \(lines.first ?? "")")
            }
        }
    }

    @Test("help at 80 columns keeps sentences whole: no line is cut short before the paragraph ends")
    func wrapsAtEightyColumns() {
        let help = ASM.helpMessage(for: ASM.Run.self, columns: 80)
        let flattened = help.split(separator: "\n").map { $0.trimmingPrefix(while: { $0 == " " }) }.joined(
            separator: " "
        )
        #expect(flattened.contains("found on PATH or given by --executable"))
        for line in help.split(separator: "\n") { #expect(line.count <= 80, "\(line)") }
        #expect(!help.contains("found on PATH\n"))
    }
}
