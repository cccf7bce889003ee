"""A griffe extension for the docs site (mkdocs.yml): the docstrings' Sphinx roles (:class:`~x.Y`, :func:`f`,
:mod:`.m` ...) shown as code (``Y``, ``f``, ``.m``) instead of as raw role text. Nothing in the package uses it."""

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")


def _code(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring's roles as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_code, obj.docstring.value)
