// examples/search_api.py against the real qatlab-server (no workers, no
// board: nothing here trains): what a user of the script sees when the
// server refuses a search or does not know the search it re-attaches to.
// The script's successful path runs in search_end_to_end_test.cc, on the
// search that test has run anyway.
#include <gtest/gtest.h>

#include <string>

#include "tests/client/running_service.h"

namespace qatlab::testing {
namespace {

using test_support::RunCommand;

constexpr const char* kJob = R"({
  "experiment": "search script",
  "model": {"preset": "cnn"},
  "data": {"source": "mnist", "trainLimit": 600, "testLimit": 200},
  "training": {"epochs": 1}
}
)";

CapturedRun RunScript(const RunningService& service, const std::vector<std::string>& arguments) {
  std::vector<std::string> argv = {"/usr/bin/python3", QATLAB_SEARCH_API_SCRIPT, "--server", service.address()};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  return RunCommand(argv, std::chrono::seconds(60), {{"PYTHONPATH", PythonStubsDir()}, {"QATLAB_TOKEN", ""}});
}

TEST(SearchApiScript, ARefusedSearchPrintsTheServersErrorAndExitsNonZero) {
  RunningService service({});
  ASSERT_TRUE(service.StartServer());
  const std::string job = service.WriteFile("job.json", kJob);

  // A flash budget no width assignment of the cnn can meet.
  const CapturedRun tight = RunScript(service, {"--max-flash", "100", job});

  EXPECT_EQ(tight.exit_status, 2) << tight.out << tight.err;
  EXPECT_NE(tight.err.find("search_api: error: SubmitSearch: INVALID_ARGUMENT: budgets.max_flash_bytes: 100 is "
                           "below the smallest flash this model can reach ("),
            std::string::npos)
      << tight.err;
  EXPECT_EQ(tight.out.find("submitted"), std::string::npos) << tight.out;

  // A board kind no agent registered: refused, and not as invalid.
  const CapturedRun no_board = RunScript(service, {"--board", "no-such-board", job});
  EXPECT_EQ(no_board.exit_status, 1) << no_board.out << no_board.err;
  EXPECT_NE(no_board.err.find("search_api: error: SubmitSearch: FAILED_PRECONDITION: board_kind: no agent has "
                              "registered a no-such-board board"),
            std::string::npos)
      << no_board.err;

  // A negative time limit reaches the server as timeout_seconds and is refused.
  const CapturedRun negative = RunScript(service, {"--time-limit", "-5", job});
  EXPECT_EQ(negative.exit_status, 2) << negative.out << negative.err;
  EXPECT_NE(negative.err.find("search_api: error: SubmitSearch: INVALID_ARGUMENT: timeout_seconds: -5 is outside 0.."),
            std::string::npos)
      << negative.err;

  // A job file that is not a JobSpec: refused before anything is sent.
  const CapturedRun bad_file = RunScript(service, {service.WriteFile("bad.json", R"({"modle": {}})")});
  EXPECT_EQ(bad_file.exit_status, 2) << bad_file.out << bad_file.err;
  EXPECT_NE(bad_file.err.find("search_api: error: "), std::string::npos) << bad_file.err;
  EXPECT_NE(bad_file.err.find("modle"), std::string::npos) << bad_file.err;
  EXPECT_TRUE(service.ListAllJobs().empty());
}

TEST(SearchApiScript, ReattachingToAnUnknownSearchPrintsNotFound) {
  RunningService service({});
  ASSERT_TRUE(service.StartServer());

  const CapturedRun run = RunScript(service, {"--id", "se-nosuchsearch0", "--wait", "10"});

  EXPECT_EQ(run.exit_status, 1) << run.out << run.err;
  EXPECT_NE(run.err.find("search_api: error: GetSearch se-nosuchsearch0: NOT_FOUND: "), std::string::npos) << run.err;
}

}  // namespace
}  // namespace qatlab::testing
