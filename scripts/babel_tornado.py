"""A Babel extraction method for Tornado templates (Babel ships none).

``babel.cfg`` maps ``templates/**.html`` to ``babel_tornado:extract_tornado``; ``make messages``
runs ``pybabel extract`` with ``scripts/`` on the Python path. Every ``{{ … }}`` expression
and ``{% … %}`` statement of a template is Python, so each is handed to Babel's own Python
extractor, and the line numbers are mapped back to the template's. ``{# … #}`` comments and
the literal text between tags are skipped: only strings wrapped in ``_(…)`` (or the
configured keywords) are messages.
"""

from __future__ import annotations

import io
import re
from typing import IO, Any, Iterator

from babel.messages.extract import extract_python

# {{ expr }}, {% stmt %}, {# comment #}; {{! and {%! are Tornado's escapes for literal braces.
TAG = re.compile(r"\{\{(?!!)(.*?)\}\}|\{%(?!!)(.*?)%\}|\{#.*?#\}", re.S)


def extract_tornado(fileobj: IO[bytes], keywords: dict[str, Any], comment_tags: list[str],
                    options: dict[str, Any]) -> Iterator[tuple[int, str, Any, list[str]]]:
    """Yield ``(lineno, funcname, message, comments)`` for each translatable string of a
    Tornado template, as Babel's extraction methods do; *fileobj* is the template (UTF-8)."""
    text = fileobj.read().decode(options.get("encoding", "utf-8"))
    for match in TAG.finditer(text):
        code = match.group(1) if match.group(1) is not None else match.group(2)
        if code is None:  # a comment
            continue
        # Babel's Python extractor works on tokens, not on a parse tree, so a statement's
        # head (`for x in`, `if`, `module`) needs no stripping: only `_(` calls matter.
        first_line = text.count("\n", 0, match.start()) + 1
        source = io.BytesIO(code.strip().encode("utf-8"))
        for lineno, funcname, message, comments in extract_python(source, keywords, comment_tags,
                                                                  {"encoding": "utf-8"}):
            yield first_line + lineno - 1, funcname, message, comments
