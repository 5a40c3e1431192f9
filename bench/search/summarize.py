#!/usr/bin/env python3
"""Summarizes a search bench run (run_search_bench.sh) as Markdown.

Usage: summarize.py SEARCH_JSON SEED2_RESULT_JSON SEED3_RESULT_JSON

Seed 1 is the search's own verification (one job per configuration); seeds
2 and 3 are one job each over the same configurations. For every uniform
configuration u and mixed configuration c, c dominates u when it has no more
flash, no more measured latency, and a mean integer accuracy higher than u's
by more than u's spread over the seeds (max - min).
"""
import json
import statistics
import sys

search = json.load(open(sys.argv[1]))
seeds = [json.load(open(path)) for path in sys.argv[2:]]

rows = []
for v in search["verified"]:
    accuracies = [v["measured"]["integerAccuracy"]]
    for result in seeds:
        for variant in result["result"]["variants"]:
            if variant["name"] == "qat_" + v["config"]:
                accuracies.append(variant["integerAccuracy"])
    rows.append({
        "config": v["config"],
        "uniform": v["uniform"],
        "bits": ",".join(str(b) for b in v["predicted"]["bits"]),
        "predicted": v["predicted"]["accuracy"],
        "accuracies": accuracies,
        "mean": statistics.mean(accuracies),
        "spread": max(accuracies) - min(accuracies),
        "flash": int(v["measured"]["flashBytes"]),
        "predicted_ms": v["predicted"]["latencyMs"],
        "ms": v["measured"].get("latencyMs", float("nan")),
        "error": v.get("latencyErrorPercent", float("nan")),
        "bit_exact": f'{v["measured"].get("bitExactInputs", 0)}/{v["measured"].get("checkedInputs", 0)}',
        "front": v["onMeasuredFront"],
    })

print(f'board {search["board"]} ({search["timingModel"]}{", emulated" if search["emulated"] else ""}); '
      f'{search["weightedLayers"]} weighted layers; search wall time {search["wallSeconds"]:.0f} s; '
      f'separability probe {search["separability"]["bits"]}: {search["separability"]["errorPercent"]:+.2f}% '
      f'latency error')
print()
print("| config | widths | predicted acc (PTQ drops) | QAT acc seeds 1/2/3 | mean | spread | flash B | predicted ms | measured ms "
      "| latency error | bit-exact | on measured front (seed 1) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f'| {r["config"]} | {r["bits"]} | {r["predicted"]:.2f} | {" / ".join(f"{a:.2f}" for a in r["accuracies"])} '
          f'| {r["mean"]:.2f} | {r["spread"]:.2f} | {r["flash"]} | {r["predicted_ms"]:.3f} | {r["ms"]:.3f} '
          f'| {r["error"]:+.2f}% | {r["bit_exact"]} | {"yes" if r["front"] else ""} |')
print()
def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2
        i = j + 1
    return result


def spearman(xs, ys):
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.mean(rx), statistics.mean(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    den = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return num / den if den else float("nan")


print(f'sensitivity (PTQ drop) as a predictor of QAT accuracy over the {len(rows)} verified configurations: '
      f'Spearman rank correlation {spearman([r["predicted"] for r in rows], [r["mean"] for r in rows]):.2f}')
if "sensitivityJobSeconds" in search:
    # The verified jobs start from the sensitivity job's float model
    # (baseline_job), so none of them is a single QAT job: the search's cost
    # in single-QAT-job units is run_search_cost_bench.sh's.
    job_seconds = [v["jobSeconds"] for v in search["verified"]]
    total = search["sensitivityJobSeconds"] + sum(job_seconds)
    print(f"job run times: sensitivity job {search['sensitivityJobSeconds']:.0f} s + {len(job_seconds)} QAT jobs "
          f"from its float model {sum(job_seconds):.0f} s = {total:.0f} s (wall, measurements not included; "
          f"the cost in single QAT jobs: run_search_cost_bench.sh)")
errors = [abs(r["error"]) for r in rows if not r["uniform"]]
print(f"candidates' latency error: max {max(errors):.2f}%, mean {statistics.mean(errors):.2f}%")
for u in (r for r in rows if r["uniform"]):
    matched = [c for c in rows if not c["uniform"] and c["flash"] <= u["flash"] and c["ms"] <= u["ms"]
               and c["mean"] >= u["mean"]]
    strictly = [c for c in matched if c["mean"] - u["mean"] > u["spread"]]
    text = f'{u["config"]} (mean {u["mean"]:.2f}, spread {u["spread"]:.2f}): '
    text += ("matched by " + ", ".join(f'{c["config"]} ({c["mean"]:.2f})' for c in matched)) if matched \
        else "no mixed configuration at least as accurate (mean) with no more flash and latency"
    if strictly:
        text += "; strictly dominated by more than the spread by " + ", ".join(c["config"] for c in strictly)
    print(f"- {text}")
