"""The shipped model catalogue (``models.json``) and the fill-in of config models from it."""

from .data import Catalogue, CatalogueEntry, load_catalogue, shipped
from .resolve import UNIT_RATIO, apply_catalogue

__all__ = ["UNIT_RATIO", "Catalogue", "CatalogueEntry", "apply_catalogue", "load_catalogue", "shipped"]
