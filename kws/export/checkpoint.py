"""Load a trained checkpoint (``models/model.pt``) back into its registry model.

The checkpoint is a dict written by the train stage: ``state_dict``, ``arch``, ``n_labels``,
``labels``, ``input_shape`` (frames, coeffs) and the features params. Anything missing or
inconsistent is a ``KwsError`` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from kws.errors import KwsError


@dataclass
class Checkpoint:
    model: torch.nn.Module
    arch: str
    labels: list[str]
    input_shape: tuple[int, int]
    features: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)


def _get(ck: dict, *names, default=None):
    for n in names:
        if n in ck and ck[n] is not None:
            return ck[n]
    return default


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise KwsError(f"{path} not found: train a model first (dvc repro train)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  torch raises many kinds for a bad file
        raise KwsError(f"{path}: not a readable torch checkpoint ({type(err).__name__}: "
                       f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if isinstance(ck, torch.nn.Module):
        raise KwsError(f"{path}: holds a whole pickled module; expected the train stage's "
                       "checkpoint dict (state_dict, arch, labels, ...)")
    if not isinstance(ck, dict):
        raise KwsError(f"{path}: expected a checkpoint dict, found {type(ck).__name__}")
    state = _get(ck, "state_dict", "model_state_dict", "model")
    arch = _get(ck, "arch")
    if state is None or arch is None:
        missing = [k for k, v in (("state_dict", state), ("arch", arch)) if v is None]
        raise KwsError(f"{path}: checkpoint lacks {', '.join(missing)} (keys: {sorted(ck)})")
    labels = list(_get(ck, "labels", default=[]) or [])
    n_labels = int(_get(ck, "n_labels", default=len(labels)) or 0)
    if not n_labels:
        raise KwsError(f"{path}: checkpoint has neither labels nor n_labels")
    if labels and len(labels) != n_labels:
        raise KwsError(f"{path}: {len(labels)} labels but n_labels = {n_labels}")
    if not labels:
        labels = [f"class_{i}" for i in range(n_labels)]
    shape = _get(ck, "input_shape", default=(49, 10))
    shape = tuple(int(s) for s in shape)[-2:]
    if len(shape) != 2:
        raise KwsError(f"{path}: input_shape {shape} is not (frames, coeffs)")
    features = dict(_get(ck, "features", "features_params", default={}) or {})
    model_params = dict(_get(ck, "model_params", default={}) or {})
    from kws.models import build_model

    kwargs = {"input_shape": shape}
    if "dropout" in model_params:
        kwargs["dropout"] = model_params["dropout"]
    try:
        model = build_model(arch, n_labels, **kwargs)
    except KwsError:
        raise
    except Exception as err:  # noqa: BLE001
        raise KwsError(f"{path}: cannot build model '{arch}': {err}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise KwsError(f"{path}: weights do not fit model '{arch}' with {n_labels} labels and "
                       f"input {shape}: {first}") from None
    return Checkpoint(model.eval(), arch, labels, shape, features, ck)
