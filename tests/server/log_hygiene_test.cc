// What the server writes about values it did not choose: escaped and bounded
// in the log and in error messages; the files that hold secrets private; a
// token file others can read accepted with a warning; lease ids that do not
// repeat.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "server/rpc/auth.h"
#include "server/store/random_tokens.h"
#include "server_fixture.h"
#include "status/printable_value.h"

namespace qatlab::server::testing {
namespace {

// Captures what spdlog writes while alive.
class CapturedLog {
 public:
  CapturedLog() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~CapturedLog() { spdlog::default_logger()->sinks().pop_back(); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

int Mode(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return static_cast<int>(info.st_mode & 07777);
}

TEST(PrintableValueTest, EscapesWhatCouldEndALine) {
  EXPECT_EQ(PrintableValue("local-1"), "local-1");
  EXPECT_EQ(PrintableValue("a\nb\rc\td\\e"), "a\\nb\\rc\\td\\\\e");
  EXPECT_EQ(PrintableValue(std::string("x\0y\x1b[31m\x7f\xc3\xa9", 11)), "x\\x00y\\x1b[31m\\x7f\\xc3\\xa9");
}

TEST(PrintableValueTest, BoundsLongValuesAndSaysHowLongTheyWere) {
  const std::string value(100000, 'a');
  const std::string shown = PrintableValue(value);
  EXPECT_EQ(shown, std::string(kPrintableValueLimit, 'a') + "\u2026(100000 bytes)");
  // An escape is never cut in half.
  const std::string newlines(300, '\n');
  const std::string cut = PrintableValue(newlines, 5);
  EXPECT_EQ(cut, "\\n\\n\u2026(300 bytes)");
}

TEST(RandomTokenTest, DrawsBase32WithoutRepeats) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string token = RandomToken(20);
    ASSERT_EQ(token.size(), 20u);
    EXPECT_EQ(token.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567"), std::string::npos) << token;
    seen.insert(token);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

class LogHygieneTest : public ServerFixture {};

// A worker id with a newline cannot forge a line of the server's log.
TEST_F(LogHygieneTest, AWorkerIdWithANewlineCannotForgeALogLine) {
  StartServer();
  v1::Job job = Submit(SmallSpec("hygiene"));
  CapturedLog log;
  v1::LeaseJobResponse lease = Lease("evil\njob j-forged: RUNNING -> SUCCEEDED: by admin");
  ASSERT_EQ(lease.job().id(), job.id());
  const std::string text = log.text();
  EXPECT_NE(text.find("leased by evil\\njob j-forged"), std::string::npos) << text;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.rfind("job j-forged", 0), std::string::npos) << text;
  }
}

TEST_F(LogHygieneTest, AHugeWorkerIdIsRefused) {
  StartServer();
  v1::LeaseJobRequest request;
  request.set_worker_id(std::string(100000, 'w'));
  v1::LeaseJobResponse response;
  grpc::Status status = workers_->LeaseJob(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("worker_id: 100000 bytes"), std::string::npos) << status.error_message();
}

// An 8,000-character id is NOT_FOUND, its echo cut short: the message must
// fit gRPC's metadata, or the client would see RESOURCE_EXHAUSTED.
TEST_F(LogHygieneTest, AnEightThousandCharacterIdIsNotFoundWithATruncatedEcho) {
  StartServer();
  const std::string id = "j-" + std::string(7998, 'x');
  v1::GetJobRequest request;
  request.set_id(id);
  v1::Job job;
  grpc::Status status = experiments_->GetJob(Context().get(), request, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message().substr(0, 200);
  EXPECT_LE(status.error_message().size(), 1100u);
  EXPECT_NE(status.error_message().find("j-xxxx"), std::string::npos);
  EXPECT_NE(status.error_message().find("bytes)"), std::string::npos) << status.error_message();
}

TEST_F(LogHygieneTest, TheDataDirectoryAndDatabaseArePrivate) {
  options_.data_dir = dir_.path() + "/fresh/data";
  StartServer();
  EXPECT_EQ(Mode(options_.data_dir), 0700);
  EXPECT_EQ(Mode(options_.data_dir + "/qatlab.db"), 0600);
  Submit(SmallSpec("private"));  // the WAL exists once something was written
  EXPECT_EQ(Mode(options_.data_dir + "/qatlab.db-wal"), 0600);
}

TEST(TokenFileTest, ReadsRolesAndWarnsWhenOthersMayReadIt) {
  test_support::TempDir dir;
  const std::string path = dir.path() + "/tokens";
  {
    std::ofstream out(path);
    out << "# the qatlab tokens\n\nadmin a-1\nworker w-1\n  client c-1  \nbare-1\n";
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  CapturedLog log;
  StatusOr<std::vector<AccessToken>> tokens = ReadTokenFile(path);
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  ASSERT_EQ(tokens->size(), 4u);
  EXPECT_EQ((*tokens)[0].role, Role::kAdmin);
  EXPECT_EQ((*tokens)[0].token, "a-1");
  EXPECT_EQ((*tokens)[1].role, Role::kWorker);
  EXPECT_EQ((*tokens)[2].role, Role::kClient);
  EXPECT_EQ((*tokens)[2].token, "c-1");
  EXPECT_EQ((*tokens)[3].role, Role::kClient);  // a token alone: a client's
  EXPECT_NE(log.text().find("--token-file " + path + " has mode 0644"), std::string::npos) << log.text();

  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  CapturedLog quiet;
  ASSERT_TRUE(ReadTokenFile(path).ok());
  EXPECT_EQ(quiet.text().find("has mode"), std::string::npos) << quiet.text();
}

TEST(TokenFileTest, RefusesUnknownRolesAndTokensWithTwoRoles) {
  test_support::TempDir dir;
  auto read = [&](const std::string& contents) {
    const std::string path = dir.path() + "/tokens";
    std::ofstream(path) << contents;
    return ReadTokenFile(path);
  };
  StatusOr<std::vector<AccessToken>> unknown = read("root t-1\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("line 1"), std::string::npos) << unknown.status().message();
  StatusOr<std::vector<AccessToken>> twice = read("client t-1\nworker t-1\n");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("line 2"), std::string::npos) << twice.status().message();
  StatusOr<std::vector<AccessToken>> empty = read("# nothing\n\n");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("holds no token"), std::string::npos);
}

}  // namespace
}  // namespace qatlab::server::testing
