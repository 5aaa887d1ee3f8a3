#!/usr/bin/env python3
"""Markdown tables from `hifi simulate --json` reports (what the tables of docs/curation.md
shows): per budget, random's mean κ vs gold with its 95% interval over seeds, and each other
strategy's paired difference to random (95% t-interval; **better** / *worse* when it
excludes 0).

    python3 scripts/eval-table.py eval-results/wordnet.json [more.json …]
"""
import json
import os
import sys


def cell(d):
    if not d or d.get("mean") is None:
        return "–"
    lo, hi = d.get("ci") or (None, None)
    s = f"{d['mean']:+.3f}"
    if lo is not None:
        s += f" [{lo:+.2f}, {hi:+.2f}]"
    if d.get("verdict") == "better":
        s += " **better**"
    elif d.get("verdict") == "worse":
        s += " *worse*"
    return s


# Two-sided 95% t quantiles by degrees of freedom (1–30).
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
       2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def paired(rep, a, b, budget):
    """a − b on the same seeds from the per-seed rows, as the report's PairedDiff."""
    k = {(r["strategy"], r["seed"]): r.get("kappa") for r in rep["per_seed"] if r["budget"] == budget}
    seeds = sorted({s for (_, s) in k})
    d = [k[(a, s)] - k[(b, s)] for s in seeds if k.get((a, s)) is not None and k.get((b, s)) is not None]
    if len(d) < 2:
        return None
    n = len(d)
    m = sum(d) / n
    sd = (sum((x - m) ** 2 for x in d) / (n - 1)) ** 0.5
    h = T95[min(n - 2, len(T95) - 1)] * sd / n ** 0.5
    lo, hi = m - h, m + h
    return {"mean": m, "ci": [lo, hi], "verdict": "better" if lo > 0 else "worse" if hi < 0 else "no difference"}


def num(v):
    """A κ as the report writes it: a number, or an object with `kappa` or `mean`."""
    if isinstance(v, dict):
        v = v.get("kappa", v.get("mean"))
    return v if isinstance(v, (int, float)) else None


def paired_label(rep, a, b, budget, label):
    """a − b on one label's κ, paired by seed (multi-label reports)."""
    k = {}
    for r in rep["per_seed"]:
        if r["budget"] == budget and r.get("per_label"):
            k[(r["strategy"], r["seed"])] = num(r["per_label"].get(label))
    seeds = sorted({s for (_, s) in k})
    d = [k[(a, s)] - k[(b, s)] for s in seeds if k.get((a, s)) is not None and k.get((b, s)) is not None]
    if len(d) < 2:
        return None
    n = len(d)
    m = sum(d) / n
    sd = (sum((x - m) ** 2 for x in d) / (n - 1)) ** 0.5
    h = T95[min(n - 2, len(T95) - 1)] * sd / n ** 0.5
    lo, hi = m - h, m + h
    return {"mean": m, "ci": [lo, hi], "verdict": "better" if lo > 0 else "worse" if hi < 0 else "no difference"}


def label_table(rep, budgets, strategy="adaptive"):
    """Multi-label reports: per label, zero-shot κ, random's κ and `strategy` − random by budget."""
    zs = rep["zero_shot"].get("per_label") or {}
    labels = list(zs) or sorted({l for r in rep["per_seed"] for l in (r.get("per_label") or {})})
    if not labels:
        return ""
    out = [
        "",
        f"per label: zero-shot κ, then random's mean κ / {strategy} − random (95% t-interval over seeds) by budget",
        "",
        "| label | zero-shot κ | " + " | ".join(f"{b}: random · {strategy} − random" for b in budgets) + " |",
        "|---" * (2 + len(budgets)) + "|",
    ]
    for l in labels:
        z = num(zs.get(l))
        cells = []
        for b in budgets:
            ks = [num((r.get("per_label") or {}).get(l)) for r in rep["per_seed"] if r["budget"] == b and r["strategy"] == "random"]
            ks = [k for k in ks if k is not None]
            rk = f"{sum(ks) / len(ks):.3f}" if ks else "–"
            cells.append(f"{rk} · {cell(paired_label(rep, strategy, 'random', b, l))}")
        out.append(f"| {l} | {'–' if z is None else f'{z:.3f}'} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def table(path):
    rep = json.load(open(path, encoding="utf-8"))
    name = os.path.splitext(os.path.basename(path))[0]
    res = rep["results"]
    strategies = []
    for r in res:
        if r["strategy"] != "random" and r["strategy"] not in strategies:
            strategies.append(r["strategy"])
    budgets = sorted({r["budget"] for r in res})
    z, c = rep["zero_shot"].get("kappa"), rep["ceiling"].get("kappa")
    extra = [("adaptive", "margin")] if "adaptive" in strategies and "margin" in strategies else []
    out = [
        f"{name}: zero-shot κ {z:.2f}, all {rep['pool_size']} labels κ {c:.2f}; "
        f"{rep['pool_size']} to mine from, {rep['test_size']} held out, {rep['seeds']} seeds",
        "",
        "| budget | random κ | " + " | ".join(f"{s} − random" for s in strategies) + "".join(f" | {a} − {b}" for a, b in extra) + " |",
        "|---" * (2 + len(strategies) + len(extra)) + "|",
    ]
    for b in budgets:
        rnd = next((r for r in res if r["strategy"] == "random" and r["budget"] == b), None)
        rk = "–"
        if rnd and rnd.get("kappa") is not None:
            lo, hi = rnd.get("kappa_ci") or (None, None)
            rk = f"{rnd['kappa']:.3f}" + (f" [{lo:.2f}, {hi:.2f}]" if lo is not None else "")
        cells = [cell(next((r for r in res if r["strategy"] == s and r["budget"] == b), {}).get("vs_random")) for s in strategies]
        cells += [cell(paired(rep, x, y, b)) for x, y in extra]
        out.append(f"| {b} | {rk} | " + " | ".join(cells) + " |")
    if rep["zero_shot"].get("per_label") is not None and "adaptive" in strategies:
        out.append(label_table(rep, budgets))
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("\n\n".join(table(p) for p in sys.argv[1:]))
