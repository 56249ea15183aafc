"""The greedy score-ordered matching of COCOeval (pycocotools) and the CityPersons script.

Everything here works on one image and one class at a time; the accumulators concatenate the results.
"""

from __future__ import annotations

import numpy as np


def greedy_match(
    iou: np.ndarray,
    gt_ignore: np.ndarray,
    gt_crowd: np.ndarray,
    thresholds: np.ndarray,
    ignore_reusable: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.evaluateImg matching for detections already sorted by descending score.

    iou: (D, G); gt_ignore (G,) bool: matching it makes the detection ignored; gt_crowd (G,) bool: may be
    matched by many detections. ignore_reusable=True reproduces the CityPersons script, where a matched
    ignore gt is never marked as taken. Returns det_matched (T, D) bool and det_ignored (T, D) bool.

    The candidates follow pycocotools' loop exactly: a detection takes the unmatched non-ignored gt of
    highest IoU >= t (ties: the later gt); only when there is none may it take an ignored gt.
    """
    num_t, (num_d, num_g) = len(thresholds), iou.shape
    det_matched = np.zeros((num_t, num_d), bool)
    det_ignored = np.zeros((num_t, num_d), bool)
    if num_d == 0 or num_g == 0:
        return det_matched, det_ignored
    gt_ignore = np.asarray(gt_ignore, bool)
    gt_crowd = np.asarray(gt_crowd, bool)
    # pycocotools sorts gts with ignored last (stable) and breaks out of the loop at the first ignored gt
    # once a regular one matched; that is the same as "regular gts first, ignored ones as a fallback".
    order = np.argsort(gt_ignore, kind="mergesort")
    iou = iou[:, order]
    gt_ignore, gt_crowd = gt_ignore[order], gt_crowd[order]
    taken = np.zeros((num_t, num_g), bool)
    limits = np.minimum(np.asarray(thresholds, np.float64), 1 - 1e-10)[:, None]
    reverse = np.arange(num_g)[::-1]
    for d in range(num_d):
        row = iou[d]
        if row.max() < limits.min():
            continue  # fast path: this detection overlaps nothing enough at any threshold
        free = ~taken | gt_crowd[None, :]
        if ignore_reusable:
            free |= gt_ignore[None, :]
        eligible = free & (row[None, :] >= limits)
        for group in (~gt_ignore, gt_ignore):
            cand = eligible & group[None, :]
            has = cand.any(axis=1) & ~det_matched[:, d]
            if not has.any():
                continue
            scores = np.where(cand, row[None, :], -1.0)
            # the later gt wins ties, as the `>=` update in pycocotools' loop does
            best = num_g - 1 - np.argmax(scores[:, reverse], axis=1)
            rows = np.flatnonzero(has)
            det_matched[rows, d] = True
            det_ignored[rows, d] = gt_ignore[best[rows]]
            taken[rows, best[rows]] = True
    return det_matched, det_ignored
