#include "client/command_tree.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace qatlab {
namespace {

std::vector<const CLI::App*> NamedSubcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) { return !sub->get_name().empty(); });
}

const CLI::App* FindSubcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : NamedSubcommands(app)) {
    if (sub->get_name() == name) return sub;
  }
  return nullptr;
}

// The option `token` ("--server", "--server=x", "-o") names in `app` or, as
// the app falls through, in its parents; null when none.
const CLI::Option* FindOption(const CLI::App& app, const std::string& token) {
  const std::string name = token.substr(0, token.find('='));
  for (const CLI::App* level = &app; level != nullptr; level = level->get_parent()) {
    if (const CLI::Option* option = level->get_option_no_throw(name); option != nullptr) return option;
  }
  return nullptr;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::string CommandPath(const CLI::App& app) {
  std::string path = app.get_name();
  for (const CLI::App* parent = app.get_parent(); parent != nullptr; parent = parent->get_parent()) {
    path = parent->get_name() + " " + path;
  }
  return path;
}

// The commands to offer at one level.
std::vector<std::string> Commands(const CLI::App& app) {
  std::vector<std::string> words;
  for (const CLI::App* sub : NamedSubcommands(app)) words.push_back(sub->get_name());
  return words;
}

// The flags to offer at one level: its own, then those of the levels above
// (accepted here too, the app falling through to them).
std::vector<std::string> Flags(const CLI::App& app) {
  std::vector<std::string> words;
  for (const CLI::App* level = &app; level != nullptr; level = level->get_parent()) {
    for (const CLI::Option* option : level->get_options()) {
      std::vector<std::string> names;
      for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
      for (const std::string& name : option->get_snames()) names.push_back("-" + name);
      for (const std::string& name : names) {
        if (std::find(words.begin(), words.end(), name) == words.end()) words.push_back(name);
      }
    }
  }
  return words;
}

// Every command below `app` with the path of names that reaches it.
void Walk(const CLI::App& app, const std::string& path,
          const std::function<void(const CLI::App&, const std::string&)>& visit) {
  visit(app, path);
  for (const CLI::App* sub : NamedSubcommands(app)) Walk(*sub, path + "/" + sub->get_name(), visit);
}

std::string FunctionName(const std::string& program) {
  std::string name = "_";
  for (char c : program) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name + "_complete";
}

}  // namespace

void ShowGlobalFlagsInSubcommandHelp(CLI::App& app) {
  std::string text = "Global flags (accepted after any command):\n";
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_lnames().empty() || option->get_lnames().front() == "help") continue;
    std::string name = option->get_name(false, true);
    if (option->get_items_expected_min() > 0 && !option->get_type_name().empty()) name += " " + option->get_type_name();
    text += fmt::format("  {:<28}{}\n", name, option->get_description());
  }
  std::function<void(CLI::App&)> add = [&](CLI::App& level) {
    for (CLI::App* sub : level.get_subcommands([](CLI::App* s) { return !s->get_name().empty(); })) {
      sub->footer(text);
      add(*sub);
    }
  };
  add(app);
}

std::optional<std::string> ClosestName(const std::string& word, const std::vector<std::string>& names) {
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const std::string& name : names) {
    size_t distance = name.rfind(word, 0) == 0 ? 1 : EditDistance(word, name);
    if (!best || distance < best_distance) {
      best = name;
      best_distance = distance;
    }
  }
  if (best && best_distance <= std::max<size_t>(2, word.size() / 3)) return best;
  return std::nullopt;
}

std::optional<std::string> UnknownCommandError(const CLI::App& app, const std::vector<std::string>& args,
                                               std::string* command_path) {
  const CLI::App* level = &app;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& token = args[i];
    if (token == "--") return std::nullopt;
    if (token.size() > 1 && token[0] == '-') {
      const CLI::Option* option = FindOption(*level, token);
      // A flag's value is the next word unless written --flag=value.
      if (option != nullptr && option->get_items_expected_min() > 0 && token.find('=') == std::string::npos) ++i;
      continue;
    }
    std::vector<const CLI::App*> subs = NamedSubcommands(*level);
    if (subs.empty()) return std::nullopt;  // a command's own arguments from here on
    if (const CLI::App* sub = FindSubcommand(*level, token); sub != nullptr) {
      level = sub;
      continue;
    }
    if (level->get_require_subcommand_min() == 0) return std::nullopt;
    std::vector<std::string> names;
    for (const CLI::App* sub : subs) names.push_back(sub->get_name());
    if (command_path != nullptr) *command_path = CommandPath(*level);
    std::string message = fmt::format("unknown command \"{}\" for \"{}\"", token, CommandPath(*level));
    if (std::optional<std::string> closest = ClosestName(token, names)) {
      message += fmt::format("; did you mean \"{}\"?", *closest);
    }
    return message;
  }
  return std::nullopt;
}

std::string BashCompletionScript(const CLI::App& app, const std::string& program) {
  std::string paths;  // the case patterns of every command path
  std::string words;  // the case arms: path -> commands and flags to offer
  Walk(app, "", [&](const CLI::App& level, const std::string& path) {
    if (!path.empty()) paths += (paths.empty() ? "" : "|") + path;
    words += fmt::format("    \"{}\") commands=\"{}\" flags=\"{}\" ;;\n", path, fmt::join(Commands(level), " "),
                         fmt::join(Flags(level), " "));
  });
  const std::string function = FunctionName(program);
  return fmt::format(
      R"(# bash completion for {program}, generated from its command tree by `{program} completion bash`.
# Load it with:  source <({program} completion bash)
{function}() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" commands="" flags="" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${{COMP_WORDS[i]}}"
    case "$path/$word" in
      {paths}) path="$path/$word" ;;
    esac
  done
  case "$path" in
{words}  esac
  # Flags after a dash, else the commands of this level; with neither, the
  # shell completes file names (-o default).
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ -n "$commands" ]]; then
    COMPREPLY=($(compgen -W "$commands" -- "$cur"))
  fi
}}
complete -o default -F {function} {program}
)",
      fmt::arg("program", program), fmt::arg("function", function), fmt::arg("paths", paths), fmt::arg("words", words));
}

std::string ZshCompletionScript(const CLI::App& app, const std::string& program) {
  return fmt::format(
      "#compdef {program}\n"
      "# zsh completion for {program}, generated by `{program} completion zsh`: the bash script,\n"
      "# through zsh's bash completion layer. Load it with:  source <({program} completion zsh)\n"
      "autoload -U +X compinit && compinit\n"
      "autoload -U +X bashcompinit && bashcompinit\n"
      "{script}",
      fmt::arg("program", program), fmt::arg("script", BashCompletionScript(app, program)));
}

CLI::Validator AtLeast(long minimum) {
  return CLI::Validator(
      [minimum](std::string& value) -> std::string {
        char* end = nullptr;
        long number = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0') return fmt::format("must be a whole number, not \"{}\"", value);
        if (number < minimum) return fmt::format("must be at least {}, not {}", minimum, value);
        return "";
      },
      fmt::format("N>={}", minimum));
}

CLI::Validator Positive() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        char* end = nullptr;
        double number = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0') return fmt::format("must be a number, not \"{}\"", value);
        if (!(number > 0)) return fmt::format("must be above 0, not {}", value);
        return "";
      },
      "N>0");
}

}  // namespace qatlab
