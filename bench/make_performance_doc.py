#!/usr/bin/env python3
"""Write ``docs/PERFORMANCE.md`` (and its figures) from benchmark results.

Reads the JSON that ``bench/compare.py`` wrote (``bench/results/compare.json``
by default) and, when present, the one of ``bench/bench_epoch.py``
(``bench/results/epoch.json``), and writes:

* ``docs/PERFORMANCE.md``: a generated header (which command made the
  numbers, when, on what machine and BLAS, under what load), the target
  checklist with the measured ratios, the comparison tables, the limit
  (GEMM throughput, arithmetic bound, BLAS floor), the scaling checks and
  the bench_epoch key ratios;
* ``docs/performance/time_vs_hidden.png`` and ``time_vs_batch.png``: seconds
  per epoch against the hidden layer's width and against the mini-batch
  size (one thread), every framework, with the arithmetic bound.

``--extra PATH ...`` adds a section for each further ``compare.py`` run (a
shorter one repeated on a quieter machine, say).  Nothing here measures
anything: run ``bench/compare.py`` first. ::

    python bench/compare.py --slow-at-batch-1
    python bench/make_performance_doc.py [--extra bench/results/compare-quiet.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))
import compare  # noqa: E402
import bench_epoch as be  # noqa: E402

REPO_DIR = BENCH_DIR.parent
DEFAULT_OUT = REPO_DIR / "docs" / "PERFORMANCE.md"
FIG_DIR_NAME = "performance"

#: Line styles per framework in the figures.
_STYLE = {
    "nncore": dict(color="C0", marker="o"),
    "numpy": dict(color="C1", marker="s"),
    "per-example": dict(color="C4", marker="v"),
    "torch": dict(color="C3", marker="^"),
    "sklearn": dict(color="C2", marker="D"),
    "floor": dict(color="0.45", marker="x"),
}


def _rel(path: Path) -> str:
    return be._display_path(Path(path))


def _hidden(sizes) -> str:
    return "-".join(str(s) for s in sizes[1:-1])


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

def _finish(plt, fig, axes, title, rect, path):
    """One legend for the panels (from the first), the title, and the file."""
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_lines(ax, blocks, xof, dtypes):
    for fw in compare.FRAMEWORKS:
        for dt in dtypes:
            if fw != "nncore" and dt != "float64":
                continue   # float32 only for nncore, to keep the figure readable
            xs, ys, hollow = [], [], []
            for b in blocks:
                row = compare._rowof(b, fw, dt)
                if row is None:
                    continue
                xs.append(xof(b))
                ys.append(row["median"])
                hollow.append(row["extrapolated"])
            if not xs:
                continue
            style = dict(_STYLE[fw])
            ls = "-" if dt == "float64" else "--"
            label = compare.FRAMEWORKS[fw] + ("" if dt == "float64" else " float32")
            ax.plot(xs, ys, ls=ls, color=style["color"], lw=1.4, label=label)
            for x, y, h in zip(xs, ys, hollow):
                ax.plot([x], [y], ls="none", marker=style["marker"], color=style["color"],
                        markerfacecolor="white" if h else style["color"], markersize=5)
    # the arithmetic bound, float64
    xs, ys = [], []
    for b in blocks:
        bd = b.get("bound", {}).get("float64")
        if bd:
            xs.append(xof(b))
            ys.append(bd["seconds"])
    if xs:
        ax.plot(xs, ys, ls=":", color="black", lw=1.2, label="arithmetic alone (float64)")
    from matplotlib.ticker import NullFormatter
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)


def make_figures(results, fig_dir: Path) -> list:
    """Write the two figures; return their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sec = compare._section(results, 1) or results["sections"][0]
    threads = sec["threads"]
    dtypes = results["config"]["dtypes"]
    fig_dir.mkdir(parents=True, exist_ok=True)
    written = []
    stamp = (f"{results['machine']['cpu_model']}, {threads} thread"
             f"{'s' if threads > 1 else ''}, results of {results['created'][:16].replace('T', ' ')} "
             f"UTC\nsolid: float64; dashed: nncore float32; hollow markers: sampled and "
             f"scaled to the epoch")

    batches = sorted({b["mini_batch_size"] for b in sec["configs"]})
    cols = min(2, len(batches))
    rows = -(-len(batches) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 4.3 * rows), squeeze=False)
    for ax, mbs in zip(axes.flat, batches):
        blocks = sorted([b for b in sec["configs"] if b["mini_batch_size"] == mbs],
                        key=lambda b: sum(b["sizes"][1:-1]))
        _plot_lines(ax, blocks, lambda b: sum(b["sizes"][1:-1]), dtypes)
        ax.set_title(f"mini-batch {mbs}")
        ax.set_xlabel("hidden neurons (784-h-10)")
        ax.set_ylabel("seconds per epoch (50,000 images)")
        ticks = [sum(b["sizes"][1:-1]) for b in blocks]
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
    for ax in list(axes.flat)[len(batches):]:
        ax.axis("off")
    written.append(_finish(plt, fig, axes, "Time per epoch against hidden size\n" + stamp,
                           (0, 0.07, 1, 0.93), fig_dir / "time_vs_hidden.png"))

    sizes = []
    for b in sec["configs"]:
        if list(b["sizes"]) not in sizes:
            sizes.append(list(b["sizes"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.0 * len(sizes), 4.4), squeeze=False)
    for ax, sz in zip(axes.flat, sizes):
        blocks = sorted([b for b in sec["configs"] if list(b["sizes"]) == sz],
                        key=lambda b: b["mini_batch_size"])
        _plot_lines(ax, blocks, lambda b: b["mini_batch_size"], dtypes)
        ax.set_title(be._sizes_text(sz))
        ax.set_xlabel("mini-batch size")
        ax.set_ylabel("seconds per epoch (50,000 images)")
        ticks = [b["mini_batch_size"] for b in blocks]
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
    written.append(_finish(plt, fig, axes, "Time per epoch against mini-batch size\n" + stamp,
                           (0, 0.1, 1, 0.9), fig_dir / "time_vs_batch.png"))
    return written


# --------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------

def _summary_table(results) -> list:
    """The headline table: 1 thread, the two smaller nets at mini-batch 10 and
    100, every framework, both dtypes."""
    sec = compare._section(results, 1)
    if sec is None:
        return []
    sizes = [s for s in results["config"]["sizes"] if list(s) != [784, 800, 10]] or None
    lines, flags = compare.main_table(sec, sizes=sizes, batch_sizes=[10, 100])
    return lines


def _epoch_lines(epoch) -> list:
    """Key ratios of bench_epoch.py's results, when there are any."""
    if not epoch:
        return []
    out = ["## From `bench/bench_epoch.py`", "",
           f"Its own run ({epoch['created'][:16].replace('T', ' ')} UTC, "
           f"{epoch['config']['repeats']} repetitions, "
           f"{epoch['data']['train_size']:,} images): native against the matrix reference, "
           "the per-example reference and the BLAS floor. Medians (fastest runs in brackets).",
           ""]
    for section in epoch["sections"]:
        loads = [x for b in section["configs"] for x in b.get("loadavg_1min", []) if x]
        out += [f"BLAS threads: {section['threads']}"
                + (f" (load average {min(loads):.2f}–{max(loads):.2f})" if loads else ""), ""]
        out += be._summary_table(section) + [""]
    return out


def _same_core_text(extra, main) -> str:
    """Whether a further run timed the main run's compiled core."""
    cores = [(r.get("machine") or {}).get("core_library") or {} for r in (extra, main)]
    commit = ((extra.get("machine") or {}).get("git_commit") or "")[:10]
    if not cores[0].get("sha256") or not cores[1].get("sha256"):
        return "The same method as the main run; its core is not recorded."
    if cores[0]["sha256"] == cores[1]["sha256"]:
        return "The same code and method as the main run; only its own configurations."
    return (f"The same method as the main run, on another core: commit {commit}, compiled "
            f"core sha256 {cores[0]['sha256'][:12]}.")


def _extra_lines(extra, path: Path, main=None) -> list:
    """A further compare.py run (for instance a shorter one on a quieter
    machine, or one of an earlier core): its GEMM throughput, targets and
    headline table."""
    loads = [x for s in extra["sections"] for b in s["configs"]
             for x in b.get("loadavg_1min", []) if x is not None]
    end = datetime.datetime.fromisoformat(extra["created"])
    sizes = ", ".join(be._sizes_text(s) for s in extra["config"]["sizes"])
    batches = ", ".join(str(m) for m in extra["config"]["batch_sizes"])
    out = [f"## Another run: `{extra['command']}`", "",
           f"From `{_rel(path)}`, finished {end:%Y-%m-%d %H:%M} UTC "
           f"({extra['wall_seconds'] / 60:.0f} min): sizes {sizes}, mini-batch {batches}, "
           f"threads {', '.join(str(s['threads']) for s in extra['sections'])}; 1-minute load "
           + (f"{min(loads):.2f}–{max(loads):.2f}" if loads else "not recorded")
           + ". " + _same_core_text(extra, main or {}), ""]
    out += ["GEMM throughput:", ""] + compare.gemm_table(extra) + [""]
    out += ["Targets:", ""] + compare.checks_table(compare.target_checks(extra)) + [""]
    for sec in extra["sections"]:
        t = sec["threads"]
        out += [f"{t} thread{'s' if t > 1 else ''}. {compare._load_text(sec)}", ""]
        tbl, _ = compare.main_table(sec)
        out += tbl + ["", "The limit:", ""] + compare.limit_table(sec) + [""]
    if extra.get("scaling"):
        out += compare.scaling_table(extra) + [""]
    return out


def build_markdown(results, epoch, figures, out_path: Path, compare_path: Path,
                   epoch_path: Path | None, extras=()) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    end = datetime.datetime.fromisoformat(results["created"])
    start = (datetime.datetime.fromisoformat(results["started"]) if results.get("started")
             else end - datetime.timedelta(seconds=results["wall_seconds"]))
    loads = [x for s in results["sections"] for b in s["configs"]
             for x in b.get("loadavg_1min", []) if x is not None]
    checks = compare.target_checks(results)
    passed = sum(1 for c in checks if c["ok"])
    failed = sum(1 for c in checks if c["ok"] is False)
    src = f"`{_rel(compare_path)}`" + (f" and `{_rel(epoch_path)}`" if epoch else "")
    lines = [
        "<!-- Generated by bench/make_performance_doc.py; do not edit by hand. -->",
        "",
        "# Performance",
        "",
        f"Generated by `python bench/make_performance_doc.py` on {now[:16].replace('T', ' ')} "
        f"UTC from {src}. The numbers were measured by `{results['command']}` "
        f"(from {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC, "
        f"{results['wall_seconds'] / 60:.0f} min), in one process on one machine:",
        "",
    ]
    if results.get("partial"):
        lines += ["**PARTIAL RESULTS**: the run was stopped before it finished; only the "
                  "configurations below were measured.", ""]
    if results["config"].get("quick"):
        lines += ["**QUICK SMOKE RUN**: not a measurement.", ""]
    lines += compare.machine_lines(results)
    lines += [
        f"- load average (1, 5, 15 min): {results['loadavg_start']} at the start, "
        f"{results['loadavg_end']} at the end; 1-minute load during the configurations "
        f"{min(loads):.2f}–{max(loads):.2f} on 2 cores" if loads else "- load: not recorded",
    ]
    # others' load: beyond what the benchmark itself accounts for (its thread
    # count in each section)
    others = [x - int(s["threads"]) for s in results["sections"] for b in s["configs"]
              for x in b.get("loadavg_1min", []) if x is not None]
    if others and max(others) > 0.5:
        lines += ["", f"**The machine was shared while this ran** (1-minute load up to "
                      f"{max(others):.1f} above the benchmark's own, which accounts for 1 at "
                      "one thread and 2 at two). One-thread rows are usable (runs alternate, "
                      "so a busy moment hits every implementation; rows marked ◊ waited for a "
                      "core); the two-thread rows and the two-thread GEMM peak are not a "
                      "measurement of the machine, only of what a second thread gained while "
                      "someone else held the other core."]
    lines += ["", "## Targets", "",
              f"{passed} met, {failed} not met, of {len(checks)} checks. Measured: the ratio of "
              "medians (of the fastest runs in brackets).", ""]
    lines += compare.checks_table(checks) + [""]
    lines += ["## At a glance: one thread, mini-batch 10 and 100", ""]
    lines += _summary_table(results) + [""]
    lines += ["`× nncore`: the row's median over nncore's of the same dtype (> 1: slower). "
              "`test acc.`: 10,000 test images after the epoch; `Δθ`: max |θ − θ_ref| / "
              "max |θ_ref| against the float64 NumPy reference on the same examples. † "
              "sampled (see below).", ""]
    if figures:
        lines += ["## Figures", ""]
        for f in figures:
            rel = os.path.relpath(f, out_path.parent)
            title = ("Seconds per epoch against hidden size" if "hidden" in f.name
                     else "Seconds per epoch against mini-batch size")
            lines += [f"![{title}]({rel})", ""]
    lines += ["## How it was measured", ""] + compare.method_lines(results) + [""]
    lines += ["## GEMM throughput (the machine's limit)", "",
              f"Square GEMMs, best and median of {results['config']['gemm_repeats']} "
              "(before the section's configurations) and best at its end. The arithmetic "
              "bound below uses the best of the scipy GEMMs (the BLAS nncore calls) timed "
              "between the repetitions of each configuration, one per repetition and dtype; "
              "its last column gives nncore against the section's best figure instead.",
              ""]
    lines += compare.gemm_table(results) + [""]
    flags = set()
    for sec in results["sections"]:
        t = sec["threads"]
        lines += [f"## Every configuration, {compare.section_title(sec)}", "",
                  compare._load_text(sec), ""]
        tbl, f = compare.main_table(sec)
        flags |= f
        lines += tbl + ["", f"### The limit, {t} thread{'s' if t > 1 else ''}", ""]
        lines += compare.limit_table(sec) + [""]
    if results.get("scaling"):
        lines += ["## Time against the number of examples", ""]
        lines += compare.scaling_table(results) + [""]
    for extra, path in extras:
        lines += _extra_lines(extra, path, results)
    lines += _epoch_lines(epoch)
    lines += compare.footnotes(flags | {"†", "‡", "◊"})
    regen = "python bench/make_performance_doc.py" + "".join(
        f" --extra {_rel(p)}" for _, p in extras)
    lines += [f"Regenerate: `{results['command']}`"
              + "".join(f", `{x['command']}`" for x, _ in extras)
              + f", then `{regen}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="make_performance_doc.py",
                                description="docs/PERFORMANCE.md from bench/compare.py's JSON")
    p.add_argument("--compare", default=str(compare.DEFAULT_JSON), metavar="PATH",
                   help="bench/compare.py results (default: bench/results/compare.json)")
    p.add_argument("--epoch", default=str(be.DEFAULT_JSON), metavar="PATH",
                   help="bench/bench_epoch.py results, used when the file exists "
                        "(default: bench/results/epoch.json)")
    p.add_argument("--out", default=str(DEFAULT_OUT), metavar="PATH",
                   help="the markdown file (default: docs/PERFORMANCE.md); figures go to "
                        "performance/ beside it")
    p.add_argument("--extra", nargs="+", default=[], metavar="PATH",
                   help="further bench/compare.py results (e.g. a shorter run on a quieter "
                        "machine), each summarised in a section of its own")
    p.add_argument("--no-figures", action="store_true")
    args = p.parse_args(argv)
    compare_path = Path(args.compare)
    if not compare_path.is_file():
        print(f"error: {compare_path} not found; run bench/compare.py first", file=sys.stderr)
        return 2
    results = json.loads(compare_path.read_text(encoding="utf-8"))
    if results.get("config", {}).get("quick"):
        print("warning: these are --quick results (a smoke run)", file=sys.stderr)
    epoch_path = Path(args.epoch) if args.epoch else None
    epoch = None
    if epoch_path and epoch_path.is_file():
        epoch = json.loads(epoch_path.read_text(encoding="utf-8"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = [] if args.no_figures else make_figures(results, out.parent / FIG_DIR_NAME)
    extras = []
    for name in args.extra:
        path = Path(name)
        if not path.is_file():
            print(f"error: {path} not found", file=sys.stderr)
            return 2
        extras.append((json.loads(path.read_text(encoding="utf-8")), path))
    text = build_markdown(results, epoch, figures, out, compare_path, epoch_path, extras)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote {_rel(out)}" + "".join(f", {_rel(f)}" for f in figures), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
