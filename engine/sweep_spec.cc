#include "engine/sweep_spec.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>

#include "engine/job_spec.h"

namespace qatlab {
namespace {

std::string JoinedAxisNames() {
  std::string out;
  for (const std::string& name : SweepAxisNames()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::string Compact(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.0e", value);
  std::string text = buffer;
  // "3e-04" reads as well as any; keep what printf gives unless it loses
  // digits, then print all of them.
  if (std::stod(text) != value) {
    std::snprintf(buffer, sizeof buffer, "%g", value);
    text = buffer;
  }
  return text;
}

// An axis's values, or the base spec's value alone when the axis is not
// given. Built by push_back: GCC 12 warns falsely (-Wfree-nonheap-object) on
// the range constructor from a RepeatedField here.
template <typename T, typename Values>
std::vector<T> ValuesOr(const Values& values, T fallback) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(values.size()) + 1);
  for (const auto& value : values) out.push_back(static_cast<T>(value));
  if (out.empty()) out.push_back(std::move(fallback));
  return out;
}

// One value of the bit-width axis.
struct Bits {
  int uniform = 0;
  std::vector<int> per_layer;
};

}  // namespace

StatusOr<SweepPlan> ExpandSweep(const v1::SweepSpec& input) {
  const v1::SweepGrid& grid = input.grid();
  v1::JobSpec base = input.base();
  if (base.configs_size() > 1) {
    return Status::InvalidArgument("base.configs: a sweep's base has at most one config (the grid varies it); got " +
                                   std::to_string(base.configs_size()));
  }
  ApplyJobSpecDefaults(&base);
  if (!base.baseline_job().empty() && grid.seed_size() > 0) {
    return Status::InvalidArgument("grid.seed: base.baseline_job " + base.baseline_job() +
                                   " fixes the float model and its seed; drop the seed axis or the baseline_job");
  }

  std::vector<Bits> bits;
  for (int b : grid.weight_bits()) bits.push_back(Bits{b, {}});
  for (const v1::LayerBits& list : grid.layer_weight_bits()) {
    if (list.bits_size() == 0) return Status::InvalidArgument("grid.layer_weight_bits: an empty list");
    Bits per_layer;
    for (int layer_bits : list.bits()) per_layer.per_layer.push_back(layer_bits);
    bits.push_back(std::move(per_layer));
  }
  const bool vary_bits = !bits.empty();
  if (!vary_bits) bits.push_back(Bits{});
  const std::vector<bool> per_tensor = ValuesOr<bool>(grid.per_tensor(), base.configs(0).per_tensor());
  const std::vector<bool> symmetric =
      ValuesOr<bool>(grid.symmetric_activations(), base.configs(0).symmetric_activations());
  const std::vector<std::string> methods = ValuesOr<std::string>(grid.ptq_method(), base.ptq().method());
  const std::vector<double> rates = ValuesOr<double>(grid.qat_learning_rate(), base.qat().learning_rate());
  const std::vector<int32_t> epochs = ValuesOr<int32_t>(grid.qat_epochs(), base.qat().epochs());
  const std::vector<uint64_t> seeds = ValuesOr<uint64_t>(grid.seed(), base.seed());
  for (int32_t value : epochs) {
    if (value < 1) return Status::InvalidArgument("grid.qat_epochs: " + std::to_string(value) + " (give 1 or more)");
  }

  const int64_t axes_given = (vary_bits ? 1 : 0) + grid.per_tensor_size() + grid.symmetric_activations_size() +
                             grid.ptq_method_size() + grid.qat_learning_rate_size() + grid.qat_epochs_size() +
                             grid.seed_size();
  if (axes_given == 0) {
    return Status::InvalidArgument("grid is empty: give at least one axis with values (" + JoinedAxisNames() + ")");
  }
  // Counted with a cap so a huge grid cannot overflow.
  int64_t points = 1;
  for (size_t size :
       {bits.size(), per_tensor.size(), symmetric.size(), methods.size(), rates.size(), epochs.size(), seeds.size()}) {
    points *= static_cast<int64_t>(size);
    if (points > kMaxSweepPoints) break;
  }
  if (points > kMaxSweepPoints) {
    int64_t exact = 1;
    bool overflow = false;
    for (size_t size : {bits.size(), per_tensor.size(), symmetric.size(), methods.size(), rates.size(), epochs.size(),
                        seeds.size()}) {
      if (exact > INT64_MAX / static_cast<int64_t>(size)) overflow = true;
      if (!overflow) exact *= static_cast<int64_t>(size);
    }
    return Status::InvalidArgument("grid has " + (overflow ? std::string("too many") : std::to_string(exact)) +
                                   " points; a sweep may have at most " + std::to_string(kMaxSweepPoints));
  }
  {
    std::set<uint64_t> distinct(seeds.begin(), seeds.end());
    if (distinct.size() != seeds.size()) return Status::InvalidArgument("grid.seed: a seed is listed twice");
  }

  SweepPlan plan;
  plan.name = input.name().empty() ? base.experiment() : input.name();
  plan.points = points;
  for (uint64_t seed : seeds) {
    SweepGroup group;
    if (base.baseline_job().empty()) {
      group.baseline = base;
      group.baseline.set_seed(seed);
      group.baseline.clear_configs();
      group.baseline.set_skip_ptq(true);
      group.baseline.set_skip_qat(true);
      group.baseline.clear_measure_on();
      (*group.baseline.mutable_labels())["sweep-role"] = "baseline";
      ApplyJobSpecDefaults(&group.baseline);
      if (Status s = ValidateJobSpec(group.baseline); !s.ok()) {
        return Status::InvalidArgument("baseline (seed " + std::to_string(seed) + "): " + s.message());
      }
    } else {
      group.new_baseline = false;
    }
    for (const Bits& b : bits) {
      for (bool pt : per_tensor) {
        for (bool sym : symmetric) {
          for (const std::string& method : methods) {
            for (double rate : rates) {
              for (int32_t epoch_count : epochs) {
                v1::JobSpec job = base;
                job.set_seed(seed);
                v1::QuantConfig* config = job.mutable_configs(0);
                config->clear_name();
                if (vary_bits) {
                  config->clear_layer_weight_bits();
                  if (b.per_layer.empty()) {
                    config->set_weight_bits(b.uniform);
                  } else {
                    for (int layer_bits : b.per_layer) config->add_layer_weight_bits(layer_bits);
                  }
                }
                config->set_per_tensor(pt);
                config->set_symmetric_activations(sym);
                job.mutable_ptq()->set_method(method);
                job.mutable_qat()->set_learning_rate(rate);
                job.mutable_qat()->set_epochs(epoch_count);
                ApplyJobSpecDefaults(&job);  // names the config by its bits
                std::string name = config->name();
                if (grid.per_tensor_size() > 1) name.append(pt ? "_pt" : "_pc");
                if (grid.symmetric_activations_size() > 1) name.append(sym ? "_sym" : "_asym");
                if (grid.ptq_method_size() > 1) name.append("_").append(method);
                if (grid.qat_learning_rate_size() > 1) name.append("_lr").append(Compact(rate));
                if (grid.qat_epochs_size() > 1) name.append("_e").append(std::to_string(epoch_count));
                if (grid.seed_size() > 1) name.append("_s").append(std::to_string(seed));
                config->set_name(name);
                (*job.mutable_labels())["sweep-point"] = name;
                if (Status s = ValidateJobSpec(job); !s.ok()) {
                  return Status::InvalidArgument("grid point " + name + ": " + s.message());
                }
                group.jobs.push_back(std::move(job));
              }
            }
          }
        }
      }
    }
    plan.groups.push_back(std::move(group));
  }
  return plan;
}

}  // namespace qatlab
