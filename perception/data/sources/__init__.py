"""Source adapters: one per dataset format, each yielding `perception.structures.Sample`.

`SOURCE_TYPES` maps the `type:` of a dataset YAML entry to its adapter class.
"""

from __future__ import annotations

from perception.data.sources.base import SourceAdapter
from perception.data.sources.bdd100k import BDD100KSource
from perception.data.sources.citypersons import CityPersonsSource
from perception.data.sources.coco import COCOSource
from perception.data.sources.culane import CULaneSource
from perception.data.sources.tusimple import TuSimpleSource
from perception.data.sources.yolop import YOLOPSource

SOURCE_TYPES: dict[str, type[SourceAdapter]] = {
    "bdd100k": BDD100KSource,
    "yolop": YOLOPSource,
    "culane": CULaneSource,
    "tusimple": TuSimpleSource,
    "citypersons": CityPersonsSource,
    "coco": COCOSource,
}


def get_source_type(name: str) -> type[SourceAdapter]:
    """The adapter class registered under `name`; KeyError lists the known types."""
    try:
        return SOURCE_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown source type {name!r}; known: {sorted(SOURCE_TYPES)}") from None
