"""Jinja2 environment for the glue templates shipped in ``rtl_templates/``."""

import functools
from importlib import resources

import jinja2

__all__ = ["render"]


@functools.cache
def _env() -> jinja2.Environment:
    root = resources.files("hwgen") / "rtl_templates"
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(root)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context) -> str:
    return _env().get_template(template).render(**context)
