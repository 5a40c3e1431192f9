// qatctl as a new user meets it, against a real server and worker: exit
// codes, --version, unknown commands, the config file, shell completion run
// in bash, several jobs watched at once, compare's settings that differ,
// and `watch` on a real terminal (tmux) at 80 and 50 columns.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/client/running_service.h"
#include "tests/support/wait_until.h"

namespace qatlab::testing {
namespace {

using test_support::RunCommand;
using test_support::WaitUntil;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) lines.push_back(line);
  return lines;
}

// Columns a line takes: UTF-8 continuation bytes take none.
size_t Columns(const std::string& line) {
  return static_cast<size_t>(
      std::count_if(line.begin(), line.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// qatctl with no server flag and a clean environment plus `environment`.
CapturedRun QatctlAlone(const std::vector<std::string>& arguments,
                        const std::map<std::string, std::string>& environment) {
  std::vector<std::string> argv = {QatctlBinary()};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  std::map<std::string, std::string> env = {{"QATLAB_TOKEN", ""},
                                            {"QATLAB_SERVER", ""},
                                            {"QATLAB_CONFIG", ""},
                                            {"XDG_CONFIG_HOME", ""},
                                            {"HOME", "/nonexistent"}};
  for (const auto& [key, value] : environment) env[key] = value;
  return RunCommand(argv, 30s, env);
}

TEST(QatctlCli, ExitCodesVersionAndUnknownCommands) {
  // Usage errors: 2, one line naming the problem, nothing sent.
  CapturedRun unknown = QatctlAlone({"artifact", "ls", "j-1"}, {});
  EXPECT_EQ(unknown.exit_status, 2) << unknown.err;
  EXPECT_NE(unknown.err.find("unknown command \"artifact\" for \"qatctl\"; did you mean \"artifacts\"?"),
            std::string::npos)
      << unknown.err;
  CapturedRun nested = QatctlAlone({"--server", "127.0.0.1:1", "datasets", "lss"}, {});
  EXPECT_EQ(nested.exit_status, 2);
  EXPECT_NE(nested.err.find("unknown command \"lss\" for \"qatctl datasets\"; did you mean \"ls\"?"), std::string::npos)
      << nested.err;
  for (const std::string limit : {"0", "-1"}) {
    CapturedRun bad_limit = QatctlAlone({"ls", "--limit", limit}, {});
    EXPECT_EQ(bad_limit.exit_status, 2) << limit;
    EXPECT_NE(bad_limit.err.find("--limit: must be at least 1, not " + limit), std::string::npos) << bad_limit.err;
  }
  CapturedRun no_command = QatctlAlone({"artifacts"}, {});
  EXPECT_EQ(no_command.exit_status, 2);
  EXPECT_NE(no_command.err.find("\"qatctl artifacts\" needs a command: ls, get"), std::string::npos) << no_command.err;
  CapturedRun missing = QatctlAlone({"show"}, {});
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_NE(missing.err.find("Run 'qatctl show --help'"), std::string::npos) << missing.err;

  // Help of a subcommand shows the global flags; --help exits 0.
  CapturedRun help = QatctlAlone({"show", "--help"}, {});
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_NE(help.out.find("Global flags"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--server"), std::string::npos) << help.out;

  // A server that cannot be reached: 3.
  CapturedRun unreachable = QatctlAlone({"--server", "127.0.0.1:1", "--timeout", "5", "ls"}, {});
  EXPECT_EQ(unreachable.exit_status, 3) << unreachable.err;
  EXPECT_NE(unreachable.err.find("UNAVAILABLE"), std::string::npos) << unreachable.err;

  // One version string, from one place, on every program.
  CapturedRun version = QatctlAlone({"--version"}, {});
  EXPECT_EQ(version.exit_status, 0);
  EXPECT_EQ(version.out.rfind("qatctl ", 0), 0u) << version.out;
  const std::string version_text = Trim(version.out).substr(std::string("qatctl ").size());
  EXPECT_FALSE(version_text.empty());
  for (const auto& [binary, name] : std::vector<std::pair<std::string, std::string>>{
           {QatlabServerBinary(), "qatlab-server"}, {QatlabWorkerBinary(), "qatlab-worker"}}) {
    CapturedRun other = RunCommand({binary, "--version"}, 30s);
    EXPECT_EQ(other.exit_status, 0) << name << other.err;
    EXPECT_EQ(Trim(other.out), name + " " + version_text);
  }
}

TEST(QatctlCli, BashCompletionCompletesCommandsFromTheCommandTree) {
  test_support::TempDir dir;
  CapturedRun script = QatctlAlone({"completion", "bash"}, {});
  ASSERT_EQ(script.exit_status, 0) << script.err;
  const std::string path = dir.path() + "/qatctl.bash";
  std::ofstream(path) << script.out;
  // What bash does on `qatctl ar<TAB>` and on `qatctl artifacts g<TAB>`.
  auto complete = [&](const std::string& words, int cword) {
    CapturedRun run = RunCommand({"bash", "-c",
                                  fmt::format("source {}; COMP_WORDS=({}); COMP_CWORD={}; _qatctl_complete; "
                                              "echo \"${{COMPREPLY[*]}}\"",
                                              path, words, cword)},
                                 30s);
    EXPECT_EQ(run.exit_status, 0) << run.err;
    return Trim(run.out);
  };
  EXPECT_EQ(complete("qatctl ar", 1), "artifacts");
  EXPECT_EQ(complete("qatctl artifacts g", 2), "get");
  EXPECT_EQ(complete("qatctl --server h:1 artifacts g", 4), "get");
  EXPECT_EQ(complete("qatctl ls --li", 2), "--limit");
  EXPECT_EQ(complete("qatctl show j-1 --ser", 3), "--server");  // global flags after a command

  CapturedRun zsh = QatctlAlone({"completion", "zsh"}, {});
  EXPECT_EQ(zsh.exit_status, 0);
  EXPECT_NE(zsh.out.find("#compdef qatctl"), std::string::npos);
  EXPECT_EQ(QatctlAlone({"completion", "fish"}, {}).exit_status, 2);
}

TEST(QatctlCli, ConfigFileGivesTheServerFlagsAndEnvironmentWin) {
  RunningService service({.local_workers = 0, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string config_dir = service.work_dir() + "/xdg/qatlab";
  std::filesystem::create_directories(config_dir);
  std::ofstream(config_dir + "/config.json")
      << fmt::format(R"({{"server": "{}", "timeout_seconds": 10}})", service.address());
  // Found at $XDG_CONFIG_HOME/qatlab/config.json.
  CapturedRun from_file = QatctlAlone({"ls"}, {{"XDG_CONFIG_HOME", service.work_dir() + "/xdg"}});
  EXPECT_EQ(from_file.exit_status, 0) << from_file.err;
  EXPECT_NE(from_file.out.find("STATE"), std::string::npos) << from_file.out;
  // The environment wins over the file, and a flag over both.
  CapturedRun env_wins = QatctlAlone(
      {"--timeout", "5", "ls"}, {{"XDG_CONFIG_HOME", service.work_dir() + "/xdg"}, {"QATLAB_SERVER", "127.0.0.1:1"}});
  EXPECT_EQ(env_wins.exit_status, 3) << env_wins.err;
  CapturedRun flag_wins =
      QatctlAlone({"--server", service.address(), "ls"},
                  {{"XDG_CONFIG_HOME", service.work_dir() + "/xdg"}, {"QATLAB_SERVER", "127.0.0.1:1"}});
  EXPECT_EQ(flag_wins.exit_status, 0) << flag_wins.err;

  // A bad file: exit 2, naming the file and what is wrong with it.
  const std::string bad = service.WriteFile("bad.json", "{\"server\": \"x\",\n \"sever\": 1}\n");
  CapturedRun unknown_key = QatctlAlone({"--config", bad, "ls"}, {});
  EXPECT_EQ(unknown_key.exit_status, 2);
  EXPECT_NE(unknown_key.err.find("config file " + bad + ": unknown key \"sever\""), std::string::npos)
      << unknown_key.err;
  const std::string broken = service.WriteFile("broken.json", "{\"server\": \n");
  CapturedRun not_json = QatctlAlone({"--config", broken, "ls"}, {});
  EXPECT_EQ(not_json.exit_status, 2);
  EXPECT_NE(not_json.err.find("config file " + broken + ": not valid JSON"), std::string::npos) << not_json.err;
  CapturedRun missing = QatctlAlone({"--config", service.work_dir() + "/none.json", "ls"}, {});
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_NE(missing.err.find("none.json: no such file"), std::string::npos) << missing.err;
}

// Runs `command` in a detached tmux session `columns` wide; returns the whole
// pane (history included, wrapped lines joined) once "EXIT=" shows.
std::string RunInTmux(const std::string& socket, const std::string& session, int columns, const std::string& command) {
  CapturedRun started = RunCommand({"tmux", "-S", socket, "new-session", "-d", "-s", session, "-x",
                                    std::to_string(columns), "-y", "50", command + "; echo EXIT=$?; sleep 600"},
                                   30s, {{"TMUX", ""}, {"TERM", "xterm"}});
  EXPECT_EQ(started.exit_status, 0) << started.err;
  std::string pane;
  auto capture = [&] {
    CapturedRun captured =
        RunCommand({"tmux", "-S", socket, "capture-pane", "-p", "-J", "-S", "-", "-t", session}, 30s, {{"TMUX", ""}});
    pane = captured.out;
    return pane.find("EXIT=") != std::string::npos;
  };
  EXPECT_TRUE(WaitUntil(capture, 180s, "qatctl to end in tmux")) << pane;
  return pane;
}

TEST(QatctlCli, WatchFitsTheTerminalAndFollowsSeveralJobs) {
  RunningService service({.local_workers = 1, .lease_seconds = 3, .token = ""});
  ASSERT_TRUE(service.StartServer());
  const std::string socket = service.work_dir() + "/tmux.sock";
  struct KillTmux {
    std::string socket;
    ~KillTmux() { RunCommand({"tmux", "-S", socket, "kill-server"}, 10s); }
  } kill_tmux{socket};

  const std::string first_file = service.WriteFile("first.json", TinyJobJson("cli-watch", 2, 1, 1));
  CapturedRun first = service.Qatctl({"submit", first_file});
  ASSERT_EQ(first.exit_status, 0) << first.err;
  const std::string first_id = Trim(first.out);

  // Live, on an 80-column terminal.
  const std::string watch_command = fmt::format("{} --server {} watch {}", QatctlBinary(), service.address(), first_id);
  const std::string pane = RunInTmux(socket, "w80", 80, watch_command);
  EXPECT_NE(pane.find("EXIT=0"), std::string::npos) << pane << service.Logs();
  for (const std::string& line : Lines(pane)) EXPECT_LE(Columns(line), 80u) << "too wide:\n" << line;
  // Redrawn in place: the header once, in its final state, then the result.
  size_t headers = 0;
  for (size_t at = pane.find("job " + first_id); at != std::string::npos; at = pane.find("job " + first_id, at + 1)) {
    ++headers;
  }
  EXPECT_EQ(headers, 1u) << pane;
  EXPECT_NE(pane.find("job " + first_id + " SUCCEEDED"), std::string::npos) << pane;
  EXPECT_NE(pane.find("qat_w8a8"), std::string::npos) << pane;
  EXPECT_NE(pane.find("ACCURACY"), std::string::npos) << pane;
  EXPECT_NE(pane.find("(not shown at 80 columns:"), std::string::npos) << pane;

  // Attached after the end, on a narrow terminal: every variant is done.
  const std::string narrow = RunInTmux(socket, "w50", 50, watch_command);
  for (const std::string& line : Lines(narrow)) EXPECT_LE(Columns(line), 50u) << "too wide:\n" << line;
  for (const std::string variant : {"float", "ptq_w8a8", "qat_w8a8"}) {
    EXPECT_NE(narrow.find(fmt::format("  {:<8}  done", variant)), std::string::npos) << variant << "\n" << narrow;
  }

  // Several jobs at once (piped: plain lines), the second with another seed.
  const std::string second_file = service.WriteFile("second.json", TinyJobJson("cli-watch", 2, 1, 2));
  CapturedRun second = service.Qatctl({"submit", second_file});
  ASSERT_EQ(second.exit_status, 0) << second.err;
  const std::string second_id = Trim(second.out);
  CapturedRun both = service.Qatctl({"watch", first_id, second_id}, 180s);
  EXPECT_EQ(both.exit_status, 0) << both.out << both.err << service.Logs();
  EXPECT_NE(both.out.find("2 jobs: 2 finished (2 succeeded, 0 failed, 0 cancelled)"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("best so far: "), std::string::npos) << both.out;
  EXPECT_EQ(both.out.find("\x1b["), std::string::npos) << "no ANSI codes off a terminal";

  // compare names what differs between the two: the seed, not the epochs.
  CapturedRun compared = service.Qatctl({"compare", first_id, second_id});
  EXPECT_EQ(compared.exit_status, 0) << compared.err;
  const size_t differ = compared.out.find("settings that differ:");
  ASSERT_NE(differ, std::string::npos) << compared.out;
  EXPECT_NE(compared.out.find("seed", differ), std::string::npos) << compared.out;
  EXPECT_EQ(compared.out.find("training.epochs", differ), std::string::npos) << compared.out;

  // artifacts ls --json: the artifact list, not the job's result.
  CapturedRun artifacts = service.Qatctl({"artifacts", "ls", first_id, "--json"});
  ASSERT_EQ(artifacts.exit_status, 0) << artifacts.err;
  nlohmann::json listed = nlohmann::json::parse(artifacts.out, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << artifacts.out;
  EXPECT_EQ(listed["jobId"], first_id);
  ASSERT_TRUE(listed["artifacts"].is_array()) << artifacts.out;
  ASSERT_FALSE(listed["artifacts"].empty()) << artifacts.out;
  EXPECT_EQ(listed["artifacts"][0]["sha256"].get<std::string>().size(), 64u) << artifacts.out;
  EXPECT_FALSE(listed.contains("variants")) << artifacts.out;

  // show of an unknown job: a runtime failure, 1.
  // Flags before the command, with and without values.
  CapturedRun flags_first = service.Qatctl({"--json", "--timeout", "10", "ls", "--limit", "1"});
  EXPECT_EQ(flags_first.exit_status, 0) << flags_first.err;
  CapturedRun unknown = service.Qatctl({"show", "j-none"});
  EXPECT_EQ(unknown.exit_status, 1) << unknown.err;
}

}  // namespace
}  // namespace qatlab::testing
