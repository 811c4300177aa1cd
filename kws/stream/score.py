"""Detections against a stream's ground truth: hits, false accepts per hour, delays, DET.

The rules (also in the README):

- A keyword's **window** runs from its onset to ``hit_window_ms`` after its offset (the end of
  its active speech).
- A detection of keyword k is a **hit** when it lands in the window of a k in the stream not
  yet hit (the earliest such); its **delay** is its time minus that keyword's offset (negative:
  before the word ended).
- A detection of k in the window of a k already hit is a **repeat** (counted apart; neither a
  hit nor a false accept: the suppression time normally prevents it).
- Every other keyword detection is a **false accept**, whatever it lands on: another keyword
  (a wrong-keyword detection: that keyword is a miss unless it is also detected correctly),
  an unknown word, or background. False accepts per hour = false accepts / stream hours.
- Detections of ``_silence_`` and ``_unknown_`` are not reported by the device and are ignored.
- Hit rate = hit keywords / keywords in the stream; miss rate = 1 - hit rate.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

SNR_BANDS = ((None, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, None))


def _band_name(lo, hi) -> str:
    if lo is None:
        return f"<{hi:g} dB"
    if hi is None:
        return f">={lo:g} dB"
    return f"{lo:g}-{hi:g} dB"


def match(det_time: np.ndarray, det_label: np.ndarray, words: Sequence, keyword_labels: set,
          hit_window_ms: float) -> dict:
    """Each keyword detection's outcome against ``words`` (the ground truth: ``onset_ms``,
    ``offset_ms``, ``label`` per word). Returns ``hit_of`` (per word: the index of the
    detection that hit it, -1 if missed), ``outcome`` (per detection: 'hit', 'repeat',
    'fa_keyword', 'fa_unknown', 'fa_background' or 'ignored')."""
    on = np.array([w.onset_ms for w in words], np.float64)
    off = np.array([w.offset_ms for w in words], np.float64)
    lab = np.array([w.label for w in words], np.int64)
    is_key = np.array([w.label in keyword_labels for w in words], bool)
    order = np.argsort(on, kind="stable")
    on_s, end_s = on[order], off[order] + hit_window_ms
    longest = float((end_s - on_s).max()) if len(on_s) else 0.0
    hit_of = np.full(len(words), -1, np.int64)
    outcome = []
    for j in np.argsort(det_time, kind="stable"):
        t, k = float(det_time[j]), int(det_label[j])
        if k not in keyword_labels:
            outcome.append((j, "ignored"))
            continue
        hi = int(np.searchsorted(on_s, t, "right"))
        lo = int(np.searchsorted(on_s, t - longest, "left"))
        inside = [int(order[i]) for i in range(lo, hi) if end_s[i] >= t]
        same = [i for i in inside if lab[i] == k and is_key[i]]
        free = [i for i in same if hit_of[i] < 0]
        if free:
            hit_of[min(free, key=lambda i: on[i])] = j
            outcome.append((j, "hit"))
        elif same:
            outcome.append((j, "repeat"))
        elif any(is_key[i] for i in inside):
            outcome.append((j, "fa_keyword"))
        elif inside:
            outcome.append((j, "fa_unknown"))
        else:
            outcome.append((j, "fa_background"))
    out = [""] * len(det_time)
    for j, o in outcome:
        out[j] = o
    return {"hit_of": hit_of, "outcome": out}


def _delays(ms: np.ndarray) -> dict:
    if len(ms) == 0:
        return {"median_ms": None, "p90_ms": None, "mean_ms": None}
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.quantile(ms, 0.9)),
            "mean_ms": float(np.mean(ms))}


def score(det_time, det_label, words: Sequence, labels: Sequence[str], keyword_labels: set,
          hours: float, hit_window_ms: float, detail: bool = True) -> dict:
    """Hit rate, false accepts per hour, delays; per keyword and per SNR band when ``detail``."""
    det_time = np.asarray(det_time, np.float64)
    det_label = np.asarray(det_label, np.int64)
    m = match(det_time, det_label, words, keyword_labels, hit_window_ms)
    hit_of, outcome = m["hit_of"], np.array(m["outcome"], dtype=object)
    keys = [i for i, w in enumerate(words) if w.label in keyword_labels]
    hits = [i for i in keys if hit_of[i] >= 0]
    delay = np.array([det_time[hit_of[i]] - words[i].offset_ms for i in hits], np.float64)
    fa = np.isin(outcome, ["fa_keyword", "fa_unknown", "fa_background"])
    n_fa = int(fa.sum())
    res = {
        "keywords": len(keys), "hits": len(hits),
        "hit_rate": len(hits) / len(keys) if keys else None,
        "miss_rate": 1 - len(hits) / len(keys) if keys else None,
        "false_accepts": n_fa, "fa_per_hour": n_fa / hours if hours > 0 else None,
        "repeats": int((outcome == "repeat").sum()),
        "false_accepts_on": {"keyword": int((outcome == "fa_keyword").sum()),
                             "unknown_word": int((outcome == "fa_unknown").sum()),
                             "background": int((outcome == "fa_background").sum())},
        "delay_after_word_end": _delays(delay),
    }
    if not detail:
        return res
    per = {}
    for k in sorted(keyword_labels):
        ks = [i for i in keys if words[i].label == k]
        kh = [i for i in ks if hit_of[i] >= 0]
        kfa = int((fa & (det_label == k)).sum())
        per[labels[k]] = {
            "keywords": len(ks), "hits": len(kh),
            "hit_rate": len(kh) / len(ks) if ks else None,
            "false_accepts": kfa, "fa_per_hour": kfa / hours if hours > 0 else None,
            "delay_after_word_end": _delays(np.array(
                [det_time[hit_of[i]] - words[i].offset_ms for i in kh], np.float64)),
        }
    res["per_keyword"] = per
    bands = {}
    for lo, hi in SNR_BANDS:
        ks = [i for i in keys if (lo is None or words[i].snr_db >= lo)
              and (hi is None or words[i].snr_db < hi)]
        kh = [i for i in ks if hit_of[i] >= 0]
        bands[_band_name(lo, hi)] = {"keywords": len(ks), "hits": len(kh),
                                     "hit_rate": len(kh) / len(ks) if ks else None}
    res["hit_rate_by_snr"] = bands
    return res


def det_rows(thresholds: Sequence[float], detections: Sequence[np.ndarray], words, labels,
             keyword_labels: set, hours: float, hit_window_ms: float) -> list[dict]:
    """One DET point per threshold (``detections[i]``: the recognizer's detections at
    ``thresholds[i]``, fields time_ms and label)."""
    rows = []
    for t, d in zip(thresholds, detections):
        s = score(d["time_ms"], d["label"], words, labels, keyword_labels, hours, hit_window_ms,
                  detail=False)
        rows.append({"threshold": round(float(t), 4), "fa_per_hour": s["fa_per_hour"],
                     "miss_rate": s["miss_rate"], "hit_rate": s["hit_rate"],
                     "false_accepts": s["false_accepts"], "hits": s["hits"]})
    return rows


def choose_threshold(rows: Sequence[dict], target_fa_per_hour: float) -> tuple[Optional[dict], bool]:
    """The lowest threshold whose false accepts per hour are at most the target there and at
    every higher threshold of the grid (so a lucky dip in a non-monotone curve is not picked).
    Returns (that row, True), or (the highest threshold's row, False) when none meets it."""
    rows = sorted(rows, key=lambda r: r["threshold"])
    if not rows:
        return None, False
    best = None
    for r in reversed(rows):
        if r["fa_per_hour"] is not None and r["fa_per_hour"] <= target_fa_per_hour:
            best = r
        else:
            break
    return (best, True) if best is not None else (rows[-1], False)
