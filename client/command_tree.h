// What qatctl derives from its own CLI11 command tree, so nothing is kept
// by hand beside it: the global flags in every subcommand's help, "unknown
// command X; did you mean Y?", and the bash and zsh completion scripts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace qatlab {

// Appends the top-level flags of `app` (those a subcommand accepts too, the
// app falling through to them) to the help of every subcommand, nested ones
// included.
void ShowGlobalFlagsInSubcommandHelp(CLI::App& app);

// The name in `names` closest to `word` (edit distance, a prefix counting as
// close), or nullopt when none is close enough to suggest.
std::optional<std::string> ClosestName(const std::string& word, const std::vector<std::string>& names);

// When `args` (argv without the program) name a command `app` does not have
// where a command is expected, the error to print: `unknown command "lis"
// for "qatctl"; did you mean "ls"?`. nullopt otherwise (CLI11 reports any
// other mistake). Flag values ("--server host") are skipped, not taken for
// commands. `command_path` (optional) receives the command that lacks it,
// "qatctl datasets", to point at its help.
std::optional<std::string> UnknownCommandError(const CLI::App& app, const std::vector<std::string>& args,
                                               std::string* command_path = nullptr);

// A CLI11 check that an integer option is at least `minimum`:
// "--limit: must be at least 1, not 0".
CLI::Validator AtLeast(long minimum);
// The same for a number that must be above zero.
CLI::Validator Positive();

// A bash completion script for `program` (`source <(qatctl completion
// bash)`): completes commands, nested commands and flags at each level, and
// file names elsewhere.
std::string BashCompletionScript(const CLI::App& app, const std::string& program);
// The same for zsh, through zsh's bash completion layer (bashcompinit).
std::string ZshCompletionScript(const CLI::App& app, const std::string& program);

}  // namespace qatlab
