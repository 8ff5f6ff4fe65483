"""Griffe extension: render the docstrings' Sphinx roles as code in the API reference.

The docstrings are numpydoc with Sphinx cross-reference roles (:func:`x`,
:class:`~a.B`), which Markdown would show literally. Each role becomes inline
code of what Sphinx would display: the full target, or its last component
after ``~``.
"""

import re

import griffe

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):`(~?)([^`]+)`")


def _as_code(match: re.Match) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRolesAsCode(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_as_code, obj.docstring.value)
