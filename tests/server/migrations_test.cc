// Migrations: applied in order, each in its own transaction, re-open is a
// no-op, and a database newer than the binary is refused with a clear message.
#include <gtest/gtest.h>

#include <cstdint>
#include <tuple>
#include <vector>

#include "server/store/database.h"
#include "server/store/job_store.h"
#include "server/store/migrations.h"
#include "test_support.h"
#include "tests/support/temp_dir.h"

namespace qatlab::server {
namespace {

using test_support::TempDir;

std::unique_ptr<Database> OpenDb(const std::string& path) {
  auto db = Database::Open(path);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return std::move(*db);
}

int64_t QueryInt(Database& db, const std::string& sql) {
  Statement s = db.Prepare(sql);
  EXPECT_TRUE(s.Step()) << s.status().ToString();
  return s.ColumnInt(0);
}

const std::vector<Migration> kTwoSteps = {
    {1, "0001_a.sql", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"},
    // Depends on 0001: fails if run first or alone.
    {2, "0002_b.sql", "ALTER TABLE a ADD COLUMN y INTEGER DEFAULT 7; INSERT INTO a (x) VALUES (2);"},
};

TEST(MigrationsTest, EmbeddedMigrationsAreNumberedFromOneWithoutGaps) {
  const auto& migrations = EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1) << migrations[i].name;
    EXPECT_FALSE(migrations[i].sql.empty()) << migrations[i].name;
  }
  EXPECT_EQ(migrations[0].name, "0001_jobs.sql");
}

TEST(MigrationsTest, FreshDatabaseGetsEveryMigrationInOrder) {
  TempDir dir;
  auto db = OpenDb(dir.File("m.db"));
  ASSERT_TRUE(ApplyMigrations(*db, kTwoSteps).ok());
  EXPECT_EQ(*SchemaVersion(*db), 2);
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM a"), 2);
  EXPECT_EQ(QueryInt(*db, "SELECT y FROM a WHERE x = 1"), 7);
}

TEST(MigrationsTest, ReopeningIsANoOp) {
  TempDir dir;
  {
    auto db = OpenDb(dir.File("m.db"));
    ASSERT_TRUE(ApplyMigrations(*db, kTwoSteps).ok());
  }
  auto db = OpenDb(dir.File("m.db"));
  ASSERT_TRUE(ApplyMigrations(*db, kTwoSteps).ok());
  // The INSERTs did not run a second time.
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM a"), 2);
  EXPECT_EQ(*SchemaVersion(*db), 2);
}

TEST(MigrationsTest, OlderDatabaseIsBroughtUpToDate) {
  TempDir dir;
  auto db = OpenDb(dir.File("m.db"));
  ASSERT_TRUE(ApplyMigrations(*db, {kTwoSteps[0]}).ok());
  EXPECT_EQ(*SchemaVersion(*db), 1);
  ASSERT_TRUE(ApplyMigrations(*db, kTwoSteps).ok());
  EXPECT_EQ(*SchemaVersion(*db), 2);
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM a"), 2);
}

TEST(MigrationsTest, NewerDatabaseIsRefusedWithAClearMessage) {
  TempDir dir;
  auto db = OpenDb(dir.File("m.db"));
  ASSERT_TRUE(ApplyMigrations(*db, kTwoSteps).ok());
  Status refused = ApplyMigrations(*db, {kTwoSteps[0]});
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("schema version 2"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("upgrade qatlab-server"), std::string::npos) << refused.message();
}

TEST(MigrationsTest, NewerButDeclaredCompatibleDatabaseIsAccepted) {
  TempDir dir;
  auto db = OpenDb(dir.File("m.db"));
  std::vector<Migration> additive = {kTwoSteps[0],
                                     {2, "0002_c.sql", "-- compatible_version: 1\nCREATE TABLE c (z INTEGER);"}};
  ASSERT_TRUE(ApplyMigrations(*db, additive).ok());
  EXPECT_TRUE(ApplyMigrations(*db, {kTwoSteps[0]}).ok());
  EXPECT_EQ(*SchemaVersion(*db), 2);
}

TEST(MigrationsTest, FailingMigrationLeavesTheLastGoodVersion) {
  TempDir dir;
  auto db = OpenDb(dir.File("m.db"));
  std::vector<Migration> broken = {kTwoSteps[0], {2, "0002_broken.sql", "CREATE TABLE half (q INTEGER); SELEKT 1;"}};
  Status failed = ApplyMigrations(*db, broken);
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("0002_broken.sql"), std::string::npos) << failed.message();
  EXPECT_EQ(*SchemaVersion(*db), 1);
  // The half-applied migration was rolled back with its transaction.
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'"), 0);
}

TEST(MigrationsTest, GapsInVersionsAreRejected) {
  TempDir dir;
  auto db = OpenDb(dir.File("m.db"));
  Status gap = ApplyMigrations(*db, {kTwoSteps[0], {3, "0003_x.sql", "SELECT 1;"}});
  EXPECT_EQ(gap.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(gap.message().find("0003_x.sql"), std::string::npos);
}

TEST(MigrationsTest, JobStoreRefusesADatabaseFromANewerServer) {
  TempDir dir;
  const std::string path = dir.File("qatlab.db");
  {
    auto db = OpenDb(path);
    ASSERT_TRUE(ApplyMigrations(*db, EmbeddedMigrations()).ok());
    // What a future server would leave behind.
    ASSERT_TRUE(db->Exec("UPDATE schema_meta SET version = 999, compatible_version = 999").ok());
  }
  SystemClock clock;
  JobNotifier notifier;
  auto store = JobStore::Open(path, clock, notifier);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("schema version 999"), std::string::npos) << store.status().message();
}

TEST(MigrationsTest, ADatabaseFromBeforeLeaseBindingKeepsItsJobsAndTheirLeasesAreUnbound) {
  TempDir dir;
  const std::string path = dir.File("qatlab.db");
  const std::vector<Migration>& all = EmbeddedMigrations();
  ASSERT_GE(all.size(), 7u);
  {
    // A server of schema 6 with one job queued and one RUNNING under a lease.
    auto db = OpenDb(path);
    ASSERT_TRUE(ApplyMigrations(*db, std::vector<Migration>(all.begin(), all.begin() + 6)).ok());
    const std::string spec = testing::SmallSpec().SerializeAsString();
    for (const auto& [id, state, lease] :
         std::vector<std::tuple<std::string, int, std::string>>{{"j-queued", 1, ""}, {"j-running", 2, "l-old"}}) {
      Statement insert = db->Prepare(
          "INSERT INTO jobs (id, experiment, state, priority, spec, max_attempts, created_unix_ms, attempt, "
          "worker_id, lease_id, lease_deadline_unix_ms) VALUES (?1, 'test', ?2, 0, ?3, 3, 1, ?4, ?5, ?6, ?7)");
      insert.Bind(1, id).Bind(2, state).BindBlob(3, spec).Bind(4, state == 2 ? 1 : 0);
      insert.Bind(5, state == 2 ? "worker-a" : "").Bind(6, lease).Bind(7, state == 2 ? INT64_MAX / 2 : 0);
      ASSERT_TRUE(insert.Run().ok());
    }
  }
  ManualClock clock(1000);
  JobNotifier notifier;
  auto store = JobStore::Open(path, clock, notifier);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(*SchemaVersion(*OpenDb(path)), static_cast<int>(all.size()));
  EXPECT_EQ(*(*store)->CountJobs(), 2);
  EXPECT_EQ((*store)->Get("j-queued")->state(), v1::QUEUED);
  EXPECT_EQ((*store)->Get("j-running")->state(), v1::RUNNING);
  EXPECT_EQ((*store)->Get("j-running")->spec().experiment(), "test");
  // Granted before the binding existed: whoever holds the lease id may use it.
  EXPECT_TRUE((*store)->CheckLease("j-running", {"l-old", std::string(64, 'b')}).ok());
  // New leases are bound.
  auto lease = (*store)->LeaseNext("worker-c", std::string(64, 'c'));
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ((*store)->CheckLease("j-queued", {(*lease)->lease_id, std::string(64, 'b')}).code(),
            StatusCode::kPermissionDenied);
}

TEST(DatabaseTest, OpensInWalMode) {
  TempDir dir;
  auto db = OpenDb(dir.File("w.db"));
  Statement s = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(s.Step());
  EXPECT_EQ(s.ColumnText(0), "wal");
}

TEST(DatabaseTest, TransactionRollsBackUnlessCommitted) {
  TempDir dir;
  auto db = OpenDb(dir.File("t.db"));
  ASSERT_TRUE(db->Exec("CREATE TABLE t (v INTEGER)").ok());
  {
    Transaction transaction(*db);
    ASSERT_TRUE(transaction.status().ok());
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (1)").ok());
  }
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM t"), 0);
  {
    Transaction transaction(*db);
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (2)").ok());
    ASSERT_TRUE(transaction.Commit().ok());
  }
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM t"), 1);
}

TEST(DatabaseTest, BadSqlIsAnErrorNamingTheStatement) {
  TempDir dir;
  auto db = OpenDb(dir.File("e.db"));
  Statement s = db->Prepare("SELECT nope FROM nowhere");
  EXPECT_FALSE(s.Step());
  EXPECT_FALSE(s.status().ok());
  EXPECT_NE(s.status().message().find("nowhere"), std::string::npos) << s.status().message();
}

}  // namespace
}  // namespace qatlab::server
