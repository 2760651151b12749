"""The self-training head: a calibrated logistic regression on pair features, its held-out
check on a split of its own labels, and its cache by label hash (``self_train.py`` uses it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

NONE = "NONE"
C = 1.0  # inverse regularisation: 4-fold CV on the seed corpus, 0.75 / 0.21 vs 0.5 / 0.03 at 0.1
FOLDS = 4
HEAD_VERSION = "self-train-v2"
THRESHOLD = 0.5  # calibrated probability an edge needs


def _classifier(cv: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    base = make_pipeline(
        StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=3000)
    )
    return CalibratedClassifierCV(base, method="sigmoid", cv=cv, ensemble=False)


def _fit(x: np.ndarray, y: np.ndarray) -> Any:
    cv = int(max(2, min(3, min(Counter(y.tolist()).values()))))
    return _classifier(cv).fit(x, y)


def _held_out(x: np.ndarray, y: np.ndarray, groups: list[tuple[str, int, int]]) -> dict[str, Any]:
    """Precision/recall of heads trained on three quarters of the labels, each scored on the
    quarter it did not see (four folds pooled; split by sentence, so that no sentence is on both
    sides of a fold)."""
    from sklearn.model_selection import StratifiedGroupKFold

    index = {g: k for k, g in enumerate(sorted(set(groups)))}
    group_ids = np.array([index[g] for g in groups])
    split = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=0)
    predicted = correct = actual = scored = 0
    for train, test in split.split(x, y, group_ids):
        if min(Counter(y[train].tolist()).values()) < 2 or len(set(y[train])) != len(set(y)):
            continue  # a fold without two of each class cannot be calibrated
        pred = _predict(_fit(x[train], y[train]), x[test])
        gold = y[test]
        scored += len(test)
        predicted += sum(1 for p, _ in pred if p != NONE)
        correct += sum(1 for (p, _), g in zip(pred, gold, strict=True) if p != NONE and p == g)
        actual += int(sum(1 for g in gold if g != NONE))
    if not scored:
        return {"state": "too few labels to hold some out"}
    return {
        "folds": FOLDS,
        "labels": scored,
        "positives": actual,
        "predicted": predicted,
        "precision": round(correct / predicted, 4) if predicted else None,
        "recall": round(correct / actual, 4) if actual else None,
    }


def _predict(model: Any, x: np.ndarray) -> list[tuple[str, float]]:
    """Best relation type per row and its calibrated probability (NONE when under threshold)."""
    if not len(x):
        return []
    probs = model.predict_proba(x)
    classes = list(model.classes_)
    none = classes.index(NONE)
    out = []
    for row in probs:
        masked = row.copy()
        masked[none] = -1.0
        k = int(masked.argmax())
        out.append((classes[k], float(row[k])) if row[k] >= THRESHOLD else (NONE, float(row[k])))
    return out


def _head_path(cache_dir: Path | None, label_hash: str) -> Path | None:
    return None if cache_dir is None else Path(cache_dir) / f"{label_hash}.joblib"


def _load_head(cache_dir: Path | None, label_hash: str) -> tuple[Any, dict[str, Any]] | None:
    path = _head_path(cache_dir, label_hash)
    if path is None or not path.is_file():
        return None
    import joblib

    try:
        data = joblib.load(path)
        return data["model"], data["held_out"]
    except Exception:  # a damaged cache entry is re-learnt, never fatal
        return None


def _save_head(cache_dir: Path | None, label_hash: str, model: Any, held: dict[str, Any]) -> None:
    path = _head_path(cache_dir, label_hash)
    if path is None:
        return
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump({"model": model, "held_out": held}, tmp)
    tmp.replace(path)
