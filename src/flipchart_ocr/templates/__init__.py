"""Poster templates: the built-ins in ``builtin/`` and the user's ``--templates DIR``."""

from .loader import FREEFORM_ID, Template, TemplateField, load_templates, parse_template

__all__ = ["FREEFORM_ID", "Template", "TemplateField", "load_templates", "parse_template"]
