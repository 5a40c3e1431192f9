#!/usr/bin/env python3
"""Summarizes a search bench run (run_search_bench.sh) as Markdown.

Usage: summarize.py SEARCH_JSON SEED2_RESULT_JSON SEED3_RESULT_JSON [--svg FILE] [--seeds LABEL]

--svg FILE also writes the measured points as a two-panel SVG plot: mean
integer accuracy (bars: the seeds' min..max) against flash and against
measured latency, uniform and mixed configurations marked apart.

Seed 1 is the search's own verification (one job per configuration); seeds
2 and 3 are one job each over the same configurations, either QAT seeds from
the search's float model or job seeds that retrain it (--seeds LABEL names
which, in the table's header; run_search_bench.sh runs both). For every uniform
configuration u and mixed configuration c, c dominates u when it has no more
flash, no more measured latency, and a mean integer accuracy higher than u's
by more than u's spread over the seeds (max - min).

The two sensitivity measures are compared by how well each ranks the
verified configurations' mean QAT integer accuracy (Spearman): the PTQ-drop
prediction (predicted accuracy, a percentage) and, when the search has
Hessian traces (`predicted.hawqScore`, runs after the second-order measure
was added), minus the HAWQ score (sum over the layers of Omega(l, b_l); a
score, not a percentage; lower is predicted more accurate). The search's
`rankBy` says which of the two chose its candidates (searches without it
ranked by the PTQ drops); the header line and the table say so.
"""
import json
import statistics
import sys

args = sys.argv[1:]


def option(name, default=None):
    if name not in args:
        return default
    at = args.index(name)
    value = args[at + 1]
    del args[at:at + 2]
    return value


svg_path = option("--svg")
seeds_label = option("--seeds", "seeds 1/2/3")
search = json.load(open(args[0]))
seeds = [json.load(open(path)) for path in args[1:]]

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
        "hawq": v["predicted"].get("hawqScore"),
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

ranked_by_hawq = search.get("rankBy", "ptq") == "hawq"
ranking = ("the HAWQ score (sum of Omega; lower predicts more accurate; a score, not a percentage)" if ranked_by_hawq
           else "the PTQ drops (predicted accuracy: ptq_w8a8's minus the layers' PTQ drops)")
print(f'board {search["board"]} ({search["timingModel"]}{", emulated" if search["emulated"] else ""}); '
      f'{search["weightedLayers"]} weighted layers; search wall time {search["wallSeconds"]:.0f} s; '
      f'separability probe {search["separability"]["bits"]}: {search["separability"]["errorPercent"]:+.2f}% '
      f'latency error')
print(f"candidates ranked by {ranking}")
print()
ptq_header = "predicted acc % (PTQ drops)" + ("" if ranked_by_hawq else ", ranked by")
hawq_header = "HAWQ score" + (", ranked by" if ranked_by_hawq else "")
print(f"| config | widths | {ptq_header} | {hawq_header} | QAT acc, {seeds_label} | mean | spread | flash B "
      "| predicted ms | measured ms | latency error | bit-exact | on measured front (seed 1) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    hawq_text = "-" if r["hawq"] is None else f'{r["hawq"]:.4g}'
    print(f'| {r["config"]} | {r["bits"]} | {r["predicted"]:.2f} | {hawq_text} '
          f'| {" / ".join(f"{a:.2f}" for a in r["accuracies"])} '
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


means = [r["mean"] for r in rows]
ptq_rho = spearman([r["predicted"] for r in rows], means)
print(f'sensitivity (PTQ drop) as a predictor of QAT accuracy over the {len(rows)} verified configurations: '
      f'Spearman rank correlation {ptq_rho:.2f}')
if rows and all(r["hawq"] is not None for r in rows):
    hawq_rho = spearman([-r["hawq"] for r in rows], means)
    print(f'sensitivity (Hessian trace, HAWQ score; lower predicts more accurate) as a predictor of QAT accuracy '
          f'over the same configurations: Spearman rank correlation {hawq_rho:.2f}')
    print("HAWQ scores: " + ", ".join(f'{r["config"]} {r["hawq"]:.3g}' for r in rows))
    if abs(ptq_rho - hawq_rho) < 1e-9:
        verdict = "both measures rank the measured accuracy equally well"
    elif ptq_rho > hawq_rho:
        verdict = f"the PTQ drop ranks the measured accuracy better ({ptq_rho:.2f} against {hawq_rho:.2f})"
    else:
        verdict = f"the HAWQ score ranks the measured accuracy better ({hawq_rho:.2f} against {ptq_rho:.2f})"
    print(f"which measure works better here: {verdict}")
else:
    print("no HAWQ scores in this search (run before the second-order measure): PTQ drop only")
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


def write_svg(path):
    """Two panels, accuracy against flash and against measured latency; stdlib only."""
    width, height, margin = 460, 380, 60
    # The axis spans the configurations within 10 points of the best mean; the others are named below it.
    best = max(r["mean"] for r in rows)
    shown = [r for r in rows if r["mean"] >= best - 10]
    hidden = [r for r in rows if r["mean"] < best - 10]
    lo = min(min(r["accuracies"]) for r in shown)
    hi = max(max(r["accuracies"]) for r in shown)
    pad = (hi - lo) * 0.05 or 1
    lo, hi = lo - pad, hi + pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height + 40}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="{width}" y="18" text-anchor="middle" font-size="14">{search["board"]}: measured '
             f'configurations, mean integer accuracy, {seeds_label} (bars: min..max)</text>']
    for panel, (key, title) in enumerate((("flash", "flash (bytes)"), ("ms", "measured latency (ms)"))):
        x0 = panel * width
        xs = [r[key] for r in shown]
        xlo, xhi = min(xs), max(xs)
        xpad = (xhi - xlo) * 0.08 or 1
        xlo, xhi = xlo - xpad, xhi + xpad

        def px(v):
            return x0 + margin + (v - xlo) / (xhi - xlo) * (width - margin - 20)

        def py(v):
            return 30 + (hi - v) / (hi - lo) * (height - margin)

        bottom = 30 + height - margin
        parts.append(f'<line x1="{x0 + margin}" y1="{bottom}" x2="{x0 + width - 20}" y2="{bottom}" stroke="#444"/>')
        parts.append(f'<line x1="{x0 + margin}" y1="30" x2="{x0 + margin}" y2="{bottom}" stroke="#444"/>')
        parts.append(f'<text x="{x0 + (width + margin) / 2}" y="{bottom + 32}" text-anchor="middle">{title}</text>')
        parts.append(f'<text transform="translate({x0 + 16},{(30 + bottom) / 2}) rotate(-90)" '
                     f'text-anchor="middle">integer accuracy (%)</text>')
        for i in range(5):
            v = lo + (hi - lo) * i / 4
            parts.append(f'<text x="{x0 + margin - 4}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
            xv = xlo + (xhi - xlo) * i / 4
            parts.append(f'<text x="{px(xv):.1f}" y="{bottom + 16}" text-anchor="middle">{xv:.5g}</text>')
        for r in shown:
            color = "#d62728" if r["uniform"] else "#1f77b4"
            x = px(r[key])
            parts.append(f'<line x1="{x:.1f}" y1="{py(max(min(r["accuracies"]), lo)):.1f}" x2="{x:.1f}" '
                         f'y2="{py(max(r["accuracies"])):.1f}" stroke="{color}"/>')
            shape = (f'<rect x="{x - 4:.1f}" y="{py(r["mean"]) - 4:.1f}" width="8" height="8" fill="{color}"/>'
                     if r["uniform"] else f'<circle cx="{x:.1f}" cy="{py(r["mean"]):.1f}" r="4" fill="{color}"/>')
            parts.append(shape)
            parts.append(f'<text x="{x + 6:.1f}" y="{py(r["mean"]) - 5:.1f}" fill="{color}">{r["config"]} '
                         f'({r["bits"]})</text>' if r["uniform"] else
                         f'<text x="{x + 6:.1f}" y="{py(r["mean"]) + 12:.1f}" fill="{color}">{r["config"]}</text>')
    parts.append(f'<text x="{margin}" y="{height + 34}" fill="#1f77b4">&#9679; mixed candidates</text>')
    parts.append(f'<text x="{margin + 140}" y="{height + 34}" fill="#d62728">&#9632; uniform</text>')
    if hidden:
        names = ", ".join(f'{r["config"]} ({r["mean"]:.1f}%)' for r in hidden)
        parts.append(f'<text x="{margin + 240}" y="{height + 34}">not drawn, more than 10 points below the best: '
                     f'{names}</text>')
    parts.append('</svg>')
    with open(path, "w") as out:
        out.write("\n".join(parts) + "\n")


if svg_path:
    write_svg(svg_path)
