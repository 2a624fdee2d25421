"""The one place text from a config becomes markup: a config may be someone else's (a restored bundle), so its
strings are printed, never interpreted, in TeX (the paper), Markdown (notebooks) and HTML (the index)."""

from __future__ import annotations

import html as _html

TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
       "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
       "|": r"\textbar{}"}
MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|~")


def tex(text) -> str:
    """Plain text safe inside LaTeX: every command character printed as itself."""
    return "".join(TEX.get(ch, ch) for ch in str(text))


def html(text) -> str:
    """Plain text safe inside HTML (quotes too, so it can stand in an attribute)."""
    return _html.escape(str(text), quote=True)


def markdown(text) -> str:
    """Plain text safe inside a Markdown cell: HTML escaped (Markdown passes raw HTML through) and Markdown's
    punctuation backslash-escaped, so no link, image or emphasis is made from it."""
    return "".join("\\" + ch if ch in MARKDOWN_SPECIAL else ch for ch in _html.escape(str(text), quote=False))
