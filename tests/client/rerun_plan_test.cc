// PlanRerun and CompareRunRecords (client/rerun_plan.h) on messages built
// here: what a re-run submits, when it refuses, and how it reports.
#include "client/rerun_plan.h"

#include <string>

#include <gtest/gtest.h>

namespace qatlab {
namespace {

const std::string kSumA(64, 'a');
const std::string kSumB(64, 'b');

v1::GetResultsResponse SucceededJob() {
  v1::GetResultsResponse results;
  v1::Job* job = results.mutable_job();
  job->set_id("j-original");
  job->set_state(v1::SUCCEEDED);
  job->mutable_spec()->set_experiment("exp");
  (*job->mutable_spec()->mutable_labels())["team"] = "vision";
  job->mutable_spec()->set_seed(5);
  v1::RunRecord* run = results.mutable_result()->mutable_run();
  run->set_engine_version("0.1.0+gabc");
  v1::InputFileRecord* uploaded = run->add_inputs();
  uploaded->set_role("train_images");
  uploaded->set_source("dataset:digits");
  uploaded->set_sha256(kSumA);
  v1::InputFileRecord* local = run->add_inputs();
  local->set_role("test_images");
  local->set_source("/data/test.idx");
  local->set_sha256(kSumB);
  return results;
}

v1::Dataset StoredDataset(const std::string& name, const std::string& sha256) {
  v1::Dataset dataset;
  dataset.set_name(name);
  dataset.set_sha256(sha256);
  return dataset;
}

TEST(RerunPlan, KeepsTheSpecAndLabelsAndAddsRerunOf) {
  const RerunPlan plan = PlanRerun(SucceededJob(), {StoredDataset("digits", kSumA)}, {}, "0.1.0+gabc");
  EXPECT_TRUE(plan.changed.empty());
  EXPECT_EQ(plan.spec.experiment(), "exp");
  EXPECT_EQ(plan.spec.seed(), 5u);
  EXPECT_EQ(plan.spec.labels().at("team"), "vision");
  EXPECT_EQ(plan.spec.labels().at("rerun_of"), "j-original");
  // The worker's local file cannot be checked from here: a note says so.
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find("test_images: /data/test.idx is a file on the worker"), std::string::npos);
}

TEST(RerunPlan, AChangedDataSetIsNamedWithBothSums) {
  const RerunPlan plan = PlanRerun(SucceededJob(), {StoredDataset("digits", kSumB)}, {}, "0.1.0+gabc");
  ASSERT_EQ(plan.changed.size(), 1u);
  EXPECT_EQ(plan.changed[0],
            "train_images: data set 'digits' has changed: recorded sha256 " + kSumA + ", now " + kSumB);
}

TEST(RerunPlan, AMissingDataSetIsAChange) {
  const RerunPlan plan = PlanRerun(SucceededJob(), {StoredDataset("other", kSumA)}, {}, "0.1.0+gabc");
  ASSERT_EQ(plan.changed.size(), 1u);
  EXPECT_NE(plan.changed[0].find("data set 'digits' is no longer stored"), std::string::npos) << plan.changed[0];
}

TEST(RerunPlan, AnotherEngineVersionIsANote) {
  const RerunPlan plan = PlanRerun(SucceededJob(), {StoredDataset("digits", kSumA)}, {}, "0.2.0");
  EXPECT_TRUE(plan.changed.empty());
  ASSERT_EQ(plan.notes.size(), 2u);
  EXPECT_NE(plan.notes[1].find("was run by engine 0.1.0+gabc; this qatctl is 0.2.0"), std::string::npos);
}

TEST(RerunPlan, AJobWithoutARecordIsSubmittedUnchecked) {
  v1::GetResultsResponse failed;
  failed.mutable_job()->set_id("j-failed");
  failed.mutable_job()->set_state(v1::FAILED);
  const RerunPlan plan = PlanRerun(failed, {}, {}, "0.1.0");
  EXPECT_TRUE(plan.changed.empty());
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find("has no run record (it is FAILED)"), std::string::npos);
  EXPECT_EQ(plan.spec.labels().at("rerun_of"), "j-failed");
}

v1::RunRecord WithModels(std::initializer_list<std::pair<std::string, std::string>> models) {
  v1::RunRecord record;
  record.set_engine_version("e1");
  for (const auto& [name, sha256] : models) {
    v1::OutputFileRecord* model = record.add_models();
    model->set_name(name);
    model->set_sha256(sha256);
  }
  return record;
}

TEST(CompareRunRecords, IdenticalModels) {
  const RunComparison comparison = CompareRunRecords(WithModels({{"a.qmodel", kSumA}, {"b.qmodel", kSumB}}),
                                                     WithModels({{"b.qmodel", kSumB}, {"a.qmodel", kSumA}}));
  EXPECT_TRUE(comparison.identical_models);
  EXPECT_TRUE(comparison.same_inputs);
  EXPECT_TRUE(comparison.same_engine);
  ASSERT_EQ(comparison.lines.size(), 1u);
  EXPECT_EQ(comparison.lines[0], "models: 2 of 2 byte-identical");
}

TEST(CompareRunRecords, AModelThatDiffersOrIsMissing) {
  v1::RunRecord rerun = WithModels({{"a.qmodel", kSumB}});
  rerun.set_engine_version("e2");
  const RunComparison comparison = CompareRunRecords(WithModels({{"a.qmodel", kSumA}, {"b.qmodel", kSumB}}), rerun);
  EXPECT_FALSE(comparison.identical_models);
  EXPECT_FALSE(comparison.same_engine);
  EXPECT_EQ(comparison.lines.back(), "models: 0 of 2 byte-identical");
  EXPECT_EQ(comparison.lines[0], "engine differs: e1 then, e2 now");
  EXPECT_NE(comparison.lines[1].find("model a.qmodel: differs"), std::string::npos);
  EXPECT_EQ(comparison.lines[2], "model b.qmodel: missing from the re-run");
}

TEST(CompareRunRecords, AnExtraModelIsNotIdentical) {
  const RunComparison comparison =
      CompareRunRecords(WithModels({{"a.qmodel", kSumA}}), WithModels({{"a.qmodel", kSumA}, {"b.qmodel", kSumB}}));
  EXPECT_FALSE(comparison.identical_models);
}

}  // namespace
}  // namespace qatlab
