"""Executes a Rust notebook through Jupyter (nbclient + the evcxr kernel) many times in a
row and checks that every line each cell printed arrived in that cell's outputs, in order,
before the cell's display, however the cell ends.

Usage: output_order.py --runs R [--groups G] [--load N] [--kernel rust] [--report OUT.json]

Each run starts a kernel and executes 4 x G cells:
  last    prints a few lines, the last one being the cell's last statement;
  many    prints 400 lines;
  display prints a line, then shows HTML (evcxr's EVCXR_BEGIN_CONTENT block);
  stderr  interleaves eprintln! and println!, ending with eprintln!.
With --load N, N busy processes compete for the CPU meanwhile (a loaded CI machine is
where the kernel's output race showed). Prints one line per run and a summary; exits 1
if any cell lost, duplicated or reordered a line, or showed its display before its text.
Needs the venv of scripts/setup-notebooks.sh and JUPYTER_PATH pointing at its kernel.
"""
import argparse, json, multiprocessing, sys, time

import nbformat
from nbclient import NotebookClient


def cells(groups):
    """(source, expected stdout lines, expected stderr lines, expected html or None) per cell."""
    out = []
    for g in range(groups):
        lines = [f"last {g} line {i}" for i in range(3)]
        out.append(("".join(f'println!("{l}");\n' for l in lines), lines, [], None))
        out.append((f'for i in 0..400 {{ println!("many {g} line {{i}}"); }}',
                    [f"many {g} line {i}" for i in range(400)], [], None))
        html = f"<b>display {g}</b>"
        out.append((f'println!("display {g} text");\n'
                    f'println!("EVCXR_BEGIN_CONTENT text/html\\n{html}\\nEVCXR_END_CONTENT");',
                    [f"display {g} text"], [], html))
        out.append((f'eprintln!("stderr {g} first");\nprintln!("stderr {g} out");\n'
                    f'eprintln!("stderr {g} last");',
                    [f"stderr {g} out"], [f"stderr {g} first", f"stderr {g} last"], None))
    return out


def stream_lines(outputs, name):
    text = "".join("".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                   for o in outputs if o["output_type"] == "stream" and o["name"] == name)
    return text.splitlines()


def check_cell(index, cell, want_out, want_err, want_html):
    """Problems with one executed cell, as strings (empty when all is well)."""
    problems = []
    outs = cell.get("outputs", [])
    for name, want in (("stdout", want_out), ("stderr", want_err)):
        got = stream_lines(outs, name)
        if got != want:
            missing = [l for l in want if l not in got]
            problems.append(f"cell {index} {name}: {len(got)} of {len(want)} lines"
                            f" (missing {missing[:3]}{'...' if len(missing) > 3 else ''})")
    if want_html is not None:
        shown = [i for i, o in enumerate(outs)
                 if o["output_type"] in ("display_data", "execute_result")
                 and want_html in "".join(o.get("data", {}).get("text/html", ""))]
        texts = [i for i, o in enumerate(outs) if o["output_type"] == "stream"]
        if not shown:
            problems.append(f"cell {index}: its HTML display is missing")
        elif texts and max(texts) > shown[0]:
            problems.append(f"cell {index}: printed text arrived after the display")
    return problems


def busy():
    while True:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--groups", type=int, default=5)
    ap.add_argument("--load", type=int, default=0)
    ap.add_argument("--kernel", default="rust")
    ap.add_argument("--report")
    args = ap.parse_args()

    spec = cells(args.groups)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src, _, _, _ in spec]
    hogs = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for h in hogs:
        h.start()
    bad_runs, bad_cells, t0 = 0, 0, time.time()
    try:
        for run in range(args.runs):
            start = time.time()
            client = NotebookClient(nbformat.from_dict(json.loads(json.dumps(nb))),
                                    kernel_name=args.kernel, timeout=600, allow_errors=True)
            executed = client.execute()
            problems = []
            for i, (cell, (_, want_out, want_err, html)) in enumerate(zip(executed.cells, spec)):
                p = check_cell(i, cell, want_out, want_err, html)
                bad_cells += bool(p)
                problems += p
            bad_runs += bool(problems)
            print(f"run {run + 1}/{args.runs}: {len(spec)} cells in {time.time() - start:.1f} s, "
                  f"{'ok' if not problems else '; '.join(problems[:5])}", flush=True)
    finally:
        for h in hogs:
            h.terminate()
    total = time.time() - t0
    summary = {"runs": args.runs, "cells_per_run": len(spec), "load": args.load,
               "runs_with_losses": bad_runs, "cells_with_losses": bad_cells,
               "seconds": round(total, 1)}
    print(f"output order: {args.runs} runs x {len(spec)} cells (load {args.load}) in {total:.1f} s: "
          f"{bad_cells} cells in {bad_runs} runs lost or reordered output")
    if args.report:
        with open(args.report, "w") as f:
            json.dump(summary, f)
    return 1 if bad_runs else 0


if __name__ == "__main__":
    sys.exit(main())
