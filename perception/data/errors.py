"""Bad-input policy for datasets: strict raises a one-line error, lenient counts and logs a skip.

Every problem with an input file (missing image, malformed JSON, box outside the image, degenerate
polygon, unknown category) goes through `ErrorPolicy.report`, so nothing is ever dropped silently:
in strict mode (default of `perception data check`) the first problem raises `LabelError`; in lenient
mode (default for training) the item or label is skipped, logged once per kind, and counted.

Counts are per image and per reason: one missing image listed by three label files is one skipped
image, not three errors. A bad label (a box outside the image) drops that label and keeps the image; any
other problem drops the image. What is left out without being an error (an image no label file
mentions, a mask without its image) is counted too (`note_left_out`), and `summary_lines` says all of it
in the few lines every command prints at its end.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

from perception.errors import InputError

LOG = logging.getLogger("perception.data")

# Problems that drop one label of an image and keep the image; every other kind drops the image.
LABEL_KINDS = frozenset({"bad_box", "degenerate_box", "box_outside", "unknown_category", "bad_polygon",
                         "degenerate_polygon", "missing_key", "bad_lane"})


class LabelError(InputError):
    """One bad input item. The message names the file (and image / label id) and the problem.

    `image` names the image the problem concerns (the image file, or the image name in a label file): the
    unit skips are counted in.
    """

    def __init__(self, path: str, problem: str, kind: str = "label", item: str | None = None, image: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.kind = kind
        self.item = item
        self.image = image or (item.split(" label ")[0] if item else self.path)
        where = f"{self.path} [{item}]" if item else self.path
        super().__init__(f"{where}: {problem}")


class ErrorPolicy:
    """Decides what happens to a `LabelError`: raise (strict) or count + log a skip (lenient).

    `counts` maps error kind (e.g. "missing_image", "box_outside", "unknown_category") to reports;
    `images` maps it to the distinct images concerned; `left_out` counts what is not used without being an
    error (reason -> number).
    """

    def __init__(self, strict: bool = True, max_logged_per_kind: int = 5):
        self.strict = strict
        self.max_logged_per_kind = max_logged_per_kind
        self.counts: Counter[str] = Counter()
        self.images: dict[str, set[str]] = {}
        self.examples: dict[str, str] = {}
        self.left_out: Counter[str] = Counter()
        self._left_out_where: dict[str, set[str]] = {}
        self._captures: list[list[str]] = []

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        """Also collect the images of the skips reported inside the block (each once). A DataLoader worker
        counts in its own copy of the policy, lost with the worker: the dataset puts each item's skips in the item."""
        captured: list[str] = []
        self._captures.append(captured)
        try:
            yield captured
        finally:
            self._captures.pop()

    def report(self, error: LabelError) -> None:
        """Raise in strict mode; otherwise count the skip and log the first few of each kind."""
        if self.strict:
            raise error
        for captured in self._captures:
            if error.image not in captured:
                captured.append(error.image)
        self.counts[error.kind] += 1
        self.images.setdefault(error.kind, set()).add(error.image)
        self.examples.setdefault(error.kind, str(error))
        if self.counts[error.kind] <= self.max_logged_per_kind:
            LOG.warning("skipped: %s", error)
        elif self.counts[error.kind] == self.max_logged_per_kind + 1:
            LOG.warning("further '%s' skips are counted but not logged", error.kind)

    def note_left_out(self, reason: str, number: int, where: str) -> None:
        """Count `number` items left out for `reason` (not an error: e.g. 'images without labels') in `where`.
        Counted once per (reason, where): indexing a split twice does not double it."""
        if number <= 0 or where in self._left_out_where.setdefault(reason, set()):
            return
        self._left_out_where[reason].add(where)
        self.left_out[reason] += number

    @property
    def total(self) -> int:
        return int(sum(self.counts.values()))

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts: errors by kind; skipped images and labels by reason (distinct images); left out."""
        images = {k: len(v) for k, v in self.images.items() if k not in LABEL_KINDS}
        labels = {k: n for k, n in self.counts.items() if k in LABEL_KINDS}
        dropped = set().union(*(v for k, v in self.images.items() if k not in LABEL_KINDS))
        return {"total": self.total, "by_kind": dict(self.counts), "images_skipped": len(dropped),
                "images_by_reason": images, "labels_skipped": sum(labels.values()), "labels_by_reason": labels,
                "left_out": dict(self.left_out), "examples": dict(self.examples)}


def summary_lines(summary: dict[str, Any], what: str = "") -> list[str]:
    """The console lines of an `ErrorPolicy.summary()`: skipped images and labels by reason, what was left out.
    Always at least one line, so a clean split says so."""
    prefix = f"{what}: " if what else ""
    lines = []
    if summary.get("images_skipped"):
        lines.append(f"{prefix}skipped {summary['images_skipped']} image(s) ({_reasons(summary['images_by_reason'])})")
    if summary.get("labels_skipped"):
        lines.append(f"{prefix}skipped {summary['labels_skipped']} label(s), their images kept ({_reasons(summary['labels_by_reason'])})")
    if summary.get("left_out"):
        lines.append(f"{prefix}left out, not errors: {_reasons(summary['left_out'])}")
    return lines or [f"{prefix}nothing skipped or left out"]


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))
