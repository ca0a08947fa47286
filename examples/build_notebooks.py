"""Build the example notebooks (``examples/NN_name.ipynb``) from their scripts (``NN_name.py``).

The scripts are the source of truth, in the "percent" format that Jupytext,
VS Code and Spyder read: cells start with a ``# %%`` line, and a
``# %% [markdown]`` cell holds Markdown as comment lines (``# `` is stripped).
Each script also runs as it is: ``python examples/01_digits_cnn_gridsearch.py``.
The notebooks are written without outputs, so they never differ from their
scripts by more than the cell split.

    python examples/build_notebooks.py           # (re)write every notebook
    python examples/build_notebooks.py --check   # exit 1 if a notebook is missing or stale

Needs only the standard library and ``nbformat``.
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
#: The scripts that become notebooks: ``NN_name.py`` (two digits, an underscore).
PATTERN = re.compile(r"^\d\d_\w+\.py$")
_CELL = re.compile(r"^# %%(?P<rest>.*)$")
_MARKDOWN = re.compile(r"^\s*\[(markdown|md)\]")

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3",
                 "codemirror_mode": {"name": "ipython", "version": 3},
                 "file_extension": ".py", "mimetype": "text/x-python",
                 "nbconvert_exporter": "python"}


def scripts(folder=HERE):
    """The example scripts in ``folder`` that have notebooks, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if PATTERN.match(p.name))


def _trim(lines):
    """Drop blank lines at both ends."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _uncomment(line):
    if line.startswith("# "):
        return line[2:]
    if line.strip() == "#":
        return ""
    if line.startswith("#"):
        return line[1:]
    raise ValueError(f"markdown cell line is not a comment: {line!r}")


def split_cells(text):
    """``[(kind, source)]`` of a percent-format script; kind is 'code' or 'markdown'.

    Text before the first ``# %%`` line becomes a code cell (if not blank).
    """
    cells, kind, lines = [], "code", []

    def close():
        body = _trim(lines)
        if body:
            if kind == "markdown":
                body = [_uncomment(line) for line in body]
            cells.append((kind, "\n".join(body)))

    for number, line in enumerate(text.splitlines(), start=1):
        match = _CELL.match(line)
        if match:
            close()
            kind, lines = ("markdown" if _MARKDOWN.match(match["rest"]) else "code"), []
            continue
        if kind == "markdown" and line.strip() and not line.startswith("#"):
            raise ValueError(f"line {number}: a markdown cell may only hold comment lines; start "
                             f"a code cell with '# %%' first: {line!r}")
        lines.append(line)
    close()
    return cells


def notebook(script):
    """The outputs-free notebook of ``script`` (a path), as a NotebookNode."""
    path = Path(script)
    cells = []
    for index, (kind, source) in enumerate(split_cells(path.read_text(encoding="utf-8"))):
        # Ids numbered in order keep the file reproducible (nbformat would draw random ones).
        cell_id = f"{path.stem[:2]}-{index:03d}"
        if kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(source, id=cell_id))
        else:
            cells.append(nbformat.v4.new_code_cell(source, id=cell_id))
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC),
                                                         "language_info": dict(LANGUAGE_INFO)})
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


def render(script):
    """The text of the notebook file for ``script``."""
    return nbformat.writes(notebook(script)) + "\n"


def build(folder=HERE, check=False, out=sys.stdout):
    """Write (or, with ``check``, compare) every notebook; return the stale ones' paths."""
    stale = []
    for script in scripts(folder):
        target = script.with_suffix(".ipynb")
        text = render(script)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(target)
        if check:
            state = "is missing" if current is None else "differs from its script"
            print(f"{target.name} {state}: run python examples/build_notebooks.py", file=out)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.name}", file=out)
    known = {s.with_suffix(".ipynb").name for s in scripts(folder)}
    for orphan in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        if orphan.name not in known:
            stale.append(orphan)
            print(f"{orphan.name} has no script {orphan.with_suffix('.py').name}; delete it or "
                  "restore the script", file=out)
    return stale


def main(argv=None):
    """Command line: ``python examples/build_notebooks.py [--check] [folder]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a notebook is missing or out of date")
    parser.add_argument("folder", nargs="?", default=str(HERE), help="default: this folder")
    args = parser.parse_args(argv)
    stale = build(args.folder, check=args.check)
    if args.check and stale:
        return 1
    if args.check:
        print(f"{len(scripts(args.folder))} notebooks are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
