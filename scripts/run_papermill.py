"""Runs a Rust notebook through real Jupyter: papermill with the evcxr kernel.

Usage: run_papermill.py IN.ipynb OUT.ipynb [-p NAME VALUE]...

Parameters go into a cell after the one tagged `parameters`, as papermill does;
papermill has no Rust translator, so this script registers one that declares each
value with the type the `parameters` cell gives it (`let epochs: usize = 1;`).
The evcxr kernel reports panics and `?` errors only on stderr, and papermill
passes such cells; so any stderr output fails the run here, naming the cell.
Needs the venv of scripts/setup-notebooks.sh and JUPYTER_PATH pointing at its kernel.
"""
import argparse, json, os, re, sys, time

import papermill
from papermill.translators import Translator, papermill_translators


def declared_types(nb_path):
    nb = json.load(open(nb_path))
    types = {}
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for m in re.finditer(r"^\s*let\s+(?:mut\s+)?([A-Za-z_]\w*)\s*:\s*([^=]+?)\s*=", src, re.M):
                types[m.group(1)] = m.group(2)
    return types


class RustTranslator(Translator):
    types = {}

    @classmethod
    def translate_escaped_str(cls, str_val):
        return json.dumps(str_val)

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_float(cls, val):
        s = repr(float(val))
        return s if any(c in s for c in ".eEn") else s + ".0"

    @classmethod
    def comment(cls, cmt_str):
        return f"// {cmt_str}".strip()

    @classmethod
    def assign(cls, name, str_val):
        ty = cls.types.get(name)
        if ty is None:
            return f"let {name} = {str_val};"
        if ty == "String" and str_val.startswith('"'):
            str_val = f"String::from({str_val})"
        return f"let {name}: {ty} = {str_val};"


def parse_value(text):
    """Papermill's -p rule: int, then float, then bool, else string."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = ap.parse_args()

    RustTranslator.types = declared_types(args.input)
    papermill_translators.register("rust", RustTranslator)
    params = {k: parse_value(v) for k, v in args.p}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    t0 = time.time()
    try:
        papermill.execute_notebook(
            args.input, args.output, parameters=params, kernel_name="rust", language="rust",
            cwd=os.path.dirname(os.path.abspath(args.input)), execution_timeout=args.timeout,
            progress_bar=False, log_output=False)
    except papermill.PapermillExecutionError as e:
        print(f"error: notebook {args.input}: cell {e.cell_index} failed: {e.ename}: {e.evalue}",
              file=sys.stderr)
        return 1
    nb = json.load(open(args.output))
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
                if text.strip():
                    src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                    first = next((l for l in src.splitlines() if l.strip()), "")
                    print(f"error: notebook {args.input}: cell {i} ({first.strip()}) wrote to stderr "
                          f"(a panic or an error returned with `?`):\n{text}", file=sys.stderr)
                    return 1
    print(f"ok: {args.input} -> {args.output} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
