"""Bad-input policy for datasets: strict raises a one-line error, lenient counts and logs a skip.

Every problem with an input file (missing image, malformed JSON, box outside the image, degenerate
polygon, unknown category) goes through `ErrorPolicy.report`, so nothing is ever dropped silently:
in strict mode (default of `perception data check`) the first problem raises `LabelError`; in lenient
mode (default for training) the item or label is skipped, logged once per kind, and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

from perception.errors import InputError

LOG = logging.getLogger("perception.data")


class LabelError(InputError):
    """One bad input item. The message names the file (and image / label id) and the problem."""

    def __init__(self, path: str, problem: str, kind: str = "label", item: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.kind = kind
        self.item = item
        where = f"{self.path} [{item}]" if item else self.path
        super().__init__(f"{where}: {problem}")


class ErrorPolicy:
    """Decides what happens to a `LabelError`: raise (strict) or count + log a skip (lenient).

    `counts` maps error kind (e.g. "missing_image", "box_outside", "unknown_category") to skips.
    """

    def __init__(self, strict: bool = True, max_logged_per_kind: int = 5):
        self.strict = strict
        self.max_logged_per_kind = max_logged_per_kind
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self._captures: list[list[str]] = []

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        """Also collect the paths of the skips reported inside the block. A DataLoader worker counts in its
        own copy of the policy, lost with the worker: the dataset puts each item's skips in the item."""
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
            captured.append(error.path)
        self.counts[error.kind] += 1
        self.examples.setdefault(error.kind, str(error))
        if self.counts[error.kind] <= self.max_logged_per_kind:
            LOG.warning("skipped: %s", error)
        elif self.counts[error.kind] == self.max_logged_per_kind + 1:
            LOG.warning("further '%s' skips are counted but not logged", error.kind)

    @property
    def total(self) -> int:
        return int(sum(self.counts.values()))

    def summary(self) -> dict[str, object]:
        return {"total": self.total, "by_kind": dict(self.counts), "examples": dict(self.examples)}
