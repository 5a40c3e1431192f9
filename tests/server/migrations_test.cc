// Migrations: applied in order, each in its own transaction, re-open is a
// no-op, and a database newer than the binary is refused with a clear message.
// The migrations that rebuild a table keep every row, column and index.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "server/store/database.h"
#include "server/store/device_store.h"
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

// Every cell of `table`, row by row in seq order, as "<type>:<bytes>": text
// and blobs as their bytes, integers in decimal, reals as their bit pattern,
// so two snapshots are equal only when every value is byte for byte the same.
std::vector<std::vector<std::string>> Cells(Database& db, const std::string& table,
                                            const std::vector<std::string>& columns) {
  std::string select;
  for (const std::string& column : columns)
    select += (select.empty() ? "" : ", ") + ("typeof(" + column + "), " + column);
  Statement s = db.Prepare("SELECT " + select + " FROM " + table + " ORDER BY seq");
  std::vector<std::vector<std::string>> rows;
  while (s.Step()) {
    std::vector<std::string>& row = rows.emplace_back();
    for (int i = 0; i < static_cast<int>(columns.size()); ++i) {
      const std::string type = s.ColumnText(2 * i);
      const int value = 2 * i + 1;
      if (type == "integer") {
        row.push_back(type + ":" + std::to_string(s.ColumnInt(value)));
      } else if (type == "real") {
        row.push_back(type + ":" + std::to_string(std::bit_cast<uint64_t>(s.ColumnDouble(value))));
      } else if (type == "null") {
        row.push_back(type);
      } else {
        row.push_back(type + ":" + s.ColumnBlob(value));
      }
    }
  }
  EXPECT_TRUE(s.status().ok()) << s.status().ToString();
  return rows;
}

// What PRAGMA table_info says of each column: name, type, not null, default,
// primary key, in the table's order.
std::vector<std::string> ColumnDefinitions(Database& db, const std::string& table) {
  Statement s = db.Prepare("SELECT name, type, \"notnull\", COALESCE(dflt_value, 'none'), pk FROM pragma_table_info('" +
                           table + "') ORDER BY cid");
  std::vector<std::string> columns;
  while (s.Step()) {
    columns.push_back(s.ColumnText(0) + " " + s.ColumnText(1) + " notnull=" + s.ColumnText(2) +
                      " default=" + s.ColumnText(3) + " pk=" + s.ColumnText(4));
  }
  EXPECT_TRUE(s.status().ok()) << s.status().ToString();
  return columns;
}

// Index name -> its CREATE statement ("" for the automatic ones of UNIQUE).
std::map<std::string, std::string> Indexes(Database& db, const std::string& table) {
  Statement s = db.Prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1");
  s.Bind(1, table);
  std::map<std::string, std::string> indexes;
  while (s.Step()) indexes[s.ColumnText(0)] = s.ColumnText(1);
  EXPECT_TRUE(s.status().ok()) << s.status().ToString();
  return indexes;
}

TEST(MigrationsTest, TheMeasurementsRebuildKeepsEveryRowColumnAndIndexAndMarksCancelledRowsCancelled) {
  TempDir dir;
  const std::string path = dir.File("qatlab.db");
  const std::vector<Migration>& all = EmbeddedMigrations();
  ASSERT_GE(all.size(), 10u);
  ASSERT_EQ(all[9].name, "0010_measurement_cancelled.sql");
  const std::string binding = "l-running " + std::string(64, 'a');
  // A measurement result as the server stores it: bytes that are not text.
  v1::MeasurementResult result;
  result.set_timing_model("qemu icount shift=0");
  result.set_median_cycles(0x00ff00ff00ffULL);
  result.set_median_us(1536.25);  // a double whose bytes hold zeros
  const std::string result_bytes = result.SerializeAsString();
  ASSERT_NE(result_bytes.find('\0'), std::string::npos);

  struct Row {
    int64_t seq;
    std::string id, origin, state, device_id, error;
    bool cancelled;  // what 0010 must turn into CANCELLED
  };
  // One row in each state, the two kinds of cancellation 0009's code wrote,
  // and FAILED rows that only resemble them (they stay FAILED). Sparse seqs:
  // the queue order must survive as it was.
  const std::vector<Row> rows = {
      {3, "m-queued", "request", "QUEUED", "", "lease of device d-old expired (attempt 1 of 3)", false},
      {7, "m-running", "measure_on", "RUNNING", "d-board", "", false},
      {8, "m-succeeded", "measure_on", "SUCCEEDED", "d-board", "", false},
      {12, "m-failed", "request", "FAILED", "d-board", "the board reset during inference", false},
      {13, "m-cancelled-queued", "request", "FAILED", "", "cancelled before it ran", true},
      {20, "m-cancelled-running", "request", "FAILED", "d-board", "cancelled while it ran on d-board", true},
      {21, "m-other-device", "request", "FAILED", "d-board", "cancelled while it ran on d-elsewhere", false},
      {30, "m-plain-cancelled", "request", "FAILED", "d-board", "cancelled", false},
  };
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> before;
  std::map<std::string, std::string> indexes_before;
  std::vector<std::string> definitions_before;
  {
    auto db = OpenDb(path);
    ASSERT_TRUE(ApplyMigrations(*db, std::vector<Migration>(all.begin(), all.begin() + 9)).ok());
    ASSERT_EQ(*SchemaVersion(*db), 9);
    Statement job = db->Prepare(
        "INSERT INTO jobs (seq, id, experiment, state, priority, spec, max_attempts, created_unix_ms) "
        "VALUES (5, 'j-measured', 'test', 3, 0, ?1, 3, 1000)");
    job.BindBlob(1, testing::SmallSpec().SerializeAsString());
    ASSERT_TRUE(job.Run().ok());
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& row = rows[i];
      const bool ran = !row.device_id.empty();
      Statement insert = db->Prepare(
          "INSERT INTO measurements (seq, id, job_seq, variant, board_kind, requested_device_id, device_id, origin, "
          "state, attempt, max_attempts, lease_id, lease_deadline_unix_ms, error, result, median_us, bit_exact, "
          "created_unix_ms, started_unix_ms, finished_unix_ms, lease_binding) VALUES (?1, ?2, 5, ?3, 'mps2-an386', "
          "?4, ?5, ?6, ?7, ?8, 3, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)");
      insert.Bind(1, row.seq).Bind(2, row.id).Bind(3, "qat_w" + std::to_string(i + 1) + "a8");
      insert.Bind(4, i % 2 == 0 ? "d-wanted" : "").Bind(5, row.device_id).Bind(6, row.origin).Bind(7, row.state);
      insert.Bind(8, ran ? 1 : 0).Bind(9, ran ? "l-" + row.id : "").Bind(10, ran ? 1000 + row.seq : 0);
      insert.Bind(11, row.error);
      if (row.state == "SUCCEEDED") {
        insert.BindBlob(12, result_bytes).Bind(13, result.median_us()).Bind(14, 1);
      } else {
        insert.BindNull(12).BindNull(13).BindNull(14);
      }
      insert.Bind(15, 100 + row.seq).Bind(16, ran ? 200 + row.seq : 0);
      insert.Bind(17, row.state == "QUEUED" || row.state == "RUNNING" ? 0 : 300 + row.seq);
      insert.Bind(18, row.state == "RUNNING" ? binding : "");
      ASSERT_TRUE(insert.Run().ok()) << row.id;
    }
    Statement names = db->Prepare("SELECT name FROM pragma_table_info('measurements') ORDER BY cid");
    while (names.Step()) columns.push_back(names.ColumnText(0));
    ASSERT_TRUE(names.status().ok());
    ASSERT_EQ(columns.back(), "lease_binding");  // 0007's column is part of the table
    before = Cells(*db, "measurements", columns);
    indexes_before = Indexes(*db, "measurements");
    definitions_before = ColumnDefinitions(*db, "measurements");
    ASSERT_EQ(before.size(), rows.size());
    ASSERT_EQ(indexes_before.size(), 5u);  // four of 0002's and UNIQUE(id)'s
  }

  ManualClock clock(1'000'000);
  auto store = DeviceStore::Open(path, clock);  // applies 0010
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto db = OpenDb(path);
  EXPECT_EQ(*SchemaVersion(*db), static_cast<int>(all.size()));

  // Every cell as it was, but the state of the rows cancellation wrote.
  std::vector<std::vector<std::string>> expected = before;
  const size_t state_column = std::find(columns.begin(), columns.end(), "state") - columns.begin();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].cancelled) expected[i][state_column] = "text:CANCELLED";
  }
  EXPECT_EQ(Cells(*db, "measurements", columns), expected);
  EXPECT_EQ(ColumnDefinitions(*db, "measurements"), definitions_before);
  // The same indexes, created by the same statements (the automatic index of
  // UNIQUE(id) renamed with its table).
  EXPECT_EQ(Indexes(*db, "measurements"), indexes_before);
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'measurements_0010%'"), 0);
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
  Statement integrity = db->Prepare("PRAGMA integrity_check");
  ASSERT_TRUE(integrity.Step());
  EXPECT_EQ(integrity.ColumnText(0), "ok");

  // The store reports what the rows say; the new CHECK takes CANCELLED and
  // still refuses a state nobody knows.
  for (const Row& row : rows) {
    auto m = (*store)->GetMeasurement(row.id);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->state(), row.cancelled ? "CANCELLED" : row.state) << row.id;
    EXPECT_EQ(m->error(), row.error) << row.id;
  }
  EXPECT_TRUE(db->Exec("UPDATE measurements SET state = 'CANCELLED' WHERE id = 'm-queued'").ok());
  EXPECT_FALSE(db->Exec("UPDATE measurements SET state = 'PAUSED' WHERE id = 'm-queued'").ok());
  // The job's rows still go with it.
  ASSERT_TRUE(db->Exec("DELETE FROM jobs WHERE seq = 5").ok());
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM measurements"), 0);
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
