"""The values at a simple dotted element path (``subject``, ``name.given``, ``period``) of a resource."""

from __future__ import annotations

from typing import Any


def element_values(node: Any, path: tuple[str, ...]) -> list[Any]:
    """Every value at ``path`` below ``node``, arrays flattened on the way and at the end, nulls left out.

    The one walk behind search-index and compartment rows, run for every resource written.
    """
    level = node if type(node) is list else [node]
    for name in path:
        found: list[Any] = []
        for item in level:
            if type(item) is dict:
                value = item.get(name)
                if type(value) is list:
                    found += value
                elif value is not None:
                    found.append(value)
            elif type(item) is list:  # an array in an array: not FHIR, but walked all the same
                found += element_values(item, (name,))
        level = found
    if any(type(item) is list or item is None for item in level):
        return [
            value for item in level for value in (item if type(item) is list else [item]) if value is not None
        ]
    return level
