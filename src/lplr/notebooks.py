"""Execute a jupytext percent-format notebook with papermill and render it to HTML.

Everything runs through the Python APIs of jupytext, papermill and nbconvert in the interpreter that
runs the rule, so no rule depends on an activated environment (no `jupytext` or `jupyter` on PATH).
The kernel is that same interpreter (ipykernel's `python3` spec resolves to sys.executable).
A failing cell raises papermill's PapermillExecutionError, which names the cell and its traceback.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lplr.io import write_text
from lplr.provenance import stamp_html


def execute_notebook(source: str | Path, out_ipynb: str | Path, out_html: str | Path, parameters: dict) -> None:
    """source (.py, percent format) -> executed out_ipynb (papermill, `parameters` injected) -> out_html."""
    import jupytext
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    out_ipynb = Path(out_ipynb)
    out_ipynb.parent.mkdir(parents=True, exist_ok=True)
    # papermill and nbformat want .ipynb names: work in a scratch folder beside the output, then rename
    with tempfile.TemporaryDirectory(dir=out_ipynb.parent, prefix=f".{out_ipynb.stem}.") as scratch:
        src, executed = Path(scratch) / "source.ipynb", Path(scratch) / "executed.ipynb"
        nbformat.write(jupytext.read(source), src)
        papermill.execute_notebook(str(src), str(executed), parameters=parameters, kernel_name="python3",
                                   cwd=str(Path.cwd()), progress_bar=False, log_output=True)
        html, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
        os.replace(executed, out_ipynb)
    write_text(out_html, stamp_html(html))  # the commit and config hash in <meta> tags and a footer
