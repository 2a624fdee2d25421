"""Config text is printed, never interpreted: the escapes of lplr.escape, checked by the tools that read them
(mistune is the Markdown renderer of nbconvert)."""

import mistune
import pytest

from lplr import escape

HOSTILE = r"\input{/etc/hostname} $x^2$ 50% #1 a_b ~ <script>alert(1)</script> [link](http://x) ![i](y) **b** `c` | & {}"


def test_markdown_renders_the_text_literally():
    rendered = mistune.html(escape.markdown(HOSTILE))  # the renderer nbconvert uses
    assert "<script>" not in rendered and "<a " not in rendered and "<img" not in rendered
    assert "<strong>" not in rendered and "<code>" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered and "[link](http://x)" in rendered


def test_html_escapes_quotes_and_tags():
    assert escape.html('"><script>') == "&quot;&gt;&lt;script&gt;"


@pytest.mark.parametrize("char", list("\\&%$#_{}~^<>|"))
def test_every_tex_special_character_becomes_a_printed_one(char):
    out = escape.tex(f"a{char}b")
    assert out != f"a{char}b" and out.startswith("a") and out.endswith("b")
    assert "\\input" not in escape.tex(HOSTILE) and "$" not in escape.tex(HOSTILE).replace(r"\$", "")
