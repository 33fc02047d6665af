"""`IrtNet`: the estimator around `IrtNetModule` (fit on a Dataset, predict for any query embedding)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from irtnet.data.dataset import Dataset, Queries
from irtnet.data.vocab import Vocab
from irtnet.errors import ConfigError, DataError
from irtnet.models.irtnet import AUTO_NGRAMS, PRESETS, IrtNetConfig, IrtNetModule, resolve_members
from irtnet.numeric import choose_calibration, keep_unless_beaten, logit, sigmoid
from irtnet.predictors.base import Predictor, register
from irtnet.predictors.irtnet_members import (
    check_member_best_epochs,
    check_members,
    ensemble_abilities,
    ensemble_items,
    load_members,
    member_arrays,
)
from irtnet.predictors.irtnet_text import fit_text_classifier, restore_classifier, text_path_state, texts_for
from irtnet.predictors.ngram_projection import NgramProjection, restore_projection
from irtnet.predictors.state import StateError, check_encoder, check_history, check_type, check_vocab, describe
from irtnet.training.batching import LabelArrays, build_arrays, group_indices
from irtnet.training.device import resolve_device
from irtnet.training.trainer import TrainConfig, TrainResult, train


def resolve_config(config: IrtNetConfig | str | dict[str, Any]) -> IrtNetConfig:
    """A config object from a preset name, a dict or a config."""
    if isinstance(config, IrtNetConfig):
        return config
    if isinstance(config, str):
        if config not in PRESETS:
            raise ConfigError(f"unknown IrtNet preset {config!r}; presets: {sorted(PRESETS)}")
        return PRESETS[config].model_copy(deep=True)
    return IrtNetConfig.model_validate(config)


@register("irtnet")
class IrtNet(Predictor):
    """IrtNet: P(m answers q) = sigmoid(a_q . theta_m - b_q), a_q and b_q from the query embedding.

    Parameters: `config` (an `IrtNetConfig`, a preset name such as "paper", or a dict) and `train`
    (a `TrainConfig`). Learned state: `models_` (model vocabulary), `groups_` (benchmark vocabulary, when
    the config uses groups), `encoder_` (name of the embedding encoder), `members_` (the networks of the seed
    ensemble, `config.members`; member k trained with seed `train.seed + k`; predictions use the mean of their
    logits), `member_results_`, `module_` / `result_` (member 0's network and training), and `ngrams_` (the
    text's n-gram projection where `config.text_ngrams` asks for it, else None).

    Devices: training runs where `train.device` says (`TrainConfig`); prediction (`predict_proba`,
    `query_parameters`) runs on their `device` argument, by default on `self.device` ("cpu" unless set:
    `model.device = "cuda"` after loading a checkpoint). Results are always NumPy arrays; checkpoints hold
    CPU tensors and load on any machine.
    """

    reads_text = True
    #: where predictions run when no `device` is given ("cpu", "cuda" or "auto"); a setting, not learned state
    device: str = "cpu"

    def __init__(self, config: IrtNetConfig | str | dict[str, Any] = "default",
                 train: TrainConfig | dict[str, Any] | None = None) -> None:
        self.config = config
        self.train = train

    # ------------------------------------------------------------------ fitting
    def fit(self, train_data: Dataset, val: Dataset | None = None) -> IrtNet:
        cfg = resolve_config(self.config)
        tcfg = self.train if isinstance(self.train, TrainConfig) else TrainConfig.model_validate(self.train or {})
        if train_data.queries.vectors is None:
            raise DataError("IrtNet needs query embeddings: the training data has none", field="vectors")
        self.config_, self.train_config_ = cfg, tcfg
        self.models_ = train_data.table.model_vocab
        self.groups_ = Vocab("benchmark", train_data.table.benchmark_vocab.ids) if cfg.use_groups else None
        self.encoder_ = train_data.queries.encoder
        self.d_in_ = int(train_data.queries.vectors.shape[1])
        self.classifier_, self.calibration_ = None, identity_calibration()
        if cfg.use_groups and cfg.infer_groups:
            self.classifier_, self.classifier_choice_ = fit_text_classifier(train_data, val, self.groups_, tcfg.seed)
        self.ngrams_choice_ = None
        if cfg.text_ngrams == "auto":  # member 0 comes from the choice, trained at the width chosen
            cfg, trained, arrays, val_arrays = self._choose_ngrams(cfg, tcfg, train_data, val)
            self.config_ = cfg
        else:
            self.ngrams_ = (NgramProjection.fit(train_data.queries.texts, cfg.text_ngrams, tcfg.seed)
                            if cfg.text_ngrams else None)
            arrays, val_arrays = self._arrays(train_data, val, tcfg)
            trained = []
        trained += [self._train_member(cfg, tcfg.model_copy(update={"seed": tcfg.seed + k}), arrays, val_arrays)
                    for k in range(len(trained), resolve_members(cfg.members, arrays.n_queries))]
        self.members_ = [module for module, _ in trained]
        self.member_results_: list[TrainResult] = [result for _, result in trained]
        self.module_, self.result_ = self.members_[0], self.member_results_[0]
        if cfg.calibrate and val is not None:  # after every member: calibrates the ensemble's predictions
            self.calibration_ = self._fit_calibration(val, tcfg.seed, tcfg.device)
        return self

    def _arrays(self, train_data: Dataset, val: Dataset | None,
                tcfg: TrainConfig) -> tuple[LabelArrays, LabelArrays | None]:
        """The training and validation label arrays, with the network's input as `ngrams_` makes it."""
        arrays = build_arrays(self._widened(train_data), self.models_, self.groups_, tcfg.target)
        return arrays, (build_arrays(self._widened(val), self.models_, self.groups_, tcfg.target)
                        if val is not None else None)

    def _choose_ngrams(self, cfg: IrtNetConfig, tcfg: TrainConfig, train_data: Dataset, val: Dataset | None
                       ) -> tuple[IrtNetConfig, list[tuple[IrtNetModule, TrainResult]], LabelArrays,
                                  LabelArrays | None]:
        """config.text_ngrams="auto": one network per width of `AUTO_NGRAMS` (seed `tcfg.seed`), each scored on
        the validation queries with their names hidden (the text path, uncalibrated); `keep_unless_beaten` picks the
        width. Sets `ngrams_` and `ngrams_choice_`; returns the config with that width, the chosen network (as
        member 0) and its arrays."""
        if val is None:
            raise ConfigError("text_ngrams='auto' chooses the width on validation data: fit needs val")
        labels = val.table.label_matrix(value="score")
        seen = ~np.isnan(labels)
        hidden, fits, per_query = val.queries.without_groups(), {}, {}
        texts = [train_data.queries.texts, val.queries.texts]
        widths = AUTO_NGRAMS if all(t is not None and all(isinstance(x, str) for x in t) for t in texts) else (0,)
        for k in widths:  # a query without its text: the embedding alone (n-grams need every text)
            self.ngrams_ = NgramProjection.fit(train_data.queries.texts, k, tcfg.seed) if k else None
            arrays, val_arrays = self._arrays(train_data, val, tcfg)
            member = self._train_member(cfg, tcfg, arrays, val_arrays)
            self.members_ = [member[0]]
            prob = np.clip(self.predict_proba(hidden, val.table.model_vocab.ids, device=tcfg.device), 1e-7, 1 - 1e-7)
            loss = -(labels * np.log(prob) + (1 - labels) * np.log1p(-prob))
            per_query[k] = np.where(seen, loss, 0.0).sum(axis=1)
            fits[k] = (self.ngrams_, member, arrays, val_arrays)
        chosen = keep_unless_beaten(per_query)
        n_pairs = max(int(seen.sum()), 1)
        self.ngrams_choice_ = {"chosen": int(chosen), "rule": "text-only validation log loss, two standard errors",
                               "validation_log_loss": {str(k): float(v.sum() / n_pairs) for k, v in per_query.items()}}
        self.ngrams_, member, arrays, val_arrays = fits[chosen]
        return cfg.model_copy(update={"text_ngrams": int(chosen)}), [member], arrays, val_arrays

    def _train_member(self, cfg: IrtNetConfig, tcfg: TrainConfig, arrays: LabelArrays,
                      val_arrays: LabelArrays | None) -> tuple[IrtNetModule, TrainResult]:
        """One network built and trained from `tcfg.seed` (in a forked RNG: the caller's stream is untouched)."""
        device = resolve_device(tcfg.device)
        with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device.type == "cuda" else []):
            torch.manual_seed(tcfg.seed)
            module = IrtNetModule(cfg, self._module_dim(), len(self.models_), len(self.groups_ or ()))
            return module, train(module, arrays, val_arrays, len(self.models_), tcfg)

    def _module_dim(self) -> int:
        """The networks' input: the embedding, and the text's n-gram features where the config asks for them."""
        proj = getattr(self, "ngrams_", None)
        return self.d_in_ + (proj.k if proj is not None else 0)

    def _widened(self, data: Dataset) -> Dataset:
        """`data` with each query's vector followed by its text's n-gram features (as it is without them)."""
        if getattr(self, "ngrams_", None) is None:
            return data
        q = data.queries
        return Dataset(data.table, dataclasses.replace(q, vectors=self._network_input(q)))

    def _network_input(self, queries: Queries) -> np.ndarray:
        """[n, module input] float32: the query vectors, with their texts' n-gram features beside them."""
        x = np.ascontiguousarray(queries.vectors, dtype=np.float32)
        proj = getattr(self, "ngrams_", None)
        return x if proj is None else np.hstack([x, proj.transform(queries.texts, len(x))])

    def _fit_calibration(self, val: Dataset, seed: int, device: str = "cpu") -> dict[str, dict[str, Any]]:
        """Each answer path's calibration, chosen and fitted on the validation queries: the benchmark path with
        their names, the text path with their names hidden (the same queries a router would see)."""
        labels = val.table.label_matrix(value="score")
        seen = ~np.isnan(labels)
        query_of_pair = np.broadcast_to(np.arange(labels.shape[0])[:, None], labels.shape)[seen]
        settings = {"text": val.queries.without_groups()}
        if self.groups_ is not None:
            settings["benchmark"] = val.queries
        out = identity_calibration()
        for path, queries in settings.items():
            prob = self.predict_proba(queries, val.table.model_vocab.ids, device=device)  # uncalibrated: identity
            kind, scale, shift, losses = choose_calibration(logit(prob[seen]), labels[seen], query_of_pair, seed)
            out[path] = {"kind": kind, "scale": scale, "shift": shift, "cv_log_loss": losses}
        self.calibration_ = out
        return out

    # ------------------------------------------------------------------ prediction
    def _inputs(self, queries: Queries) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray | None]:
        """(x [n, d_in], groups for the module, mask [n] of the queries answered by the text-only path with an
        inferred benchmark, or None)."""
        self._check_fitted()
        if queries.vectors is None:
            raise DataError("IrtNet needs query embeddings; these queries have none", field="vectors")
        if queries.vectors.shape[1] != self.d_in_:
            raise DataError(f"query vectors have dimension {queries.vectors.shape[1]}, the model expects "
                            f"{self.d_in_} (encoder {self.encoder_!r})", field="vectors")
        if queries.encoder and self.encoder_ and queries.encoder != self.encoder_:
            raise DataError(f"queries were embedded with {queries.encoder!r} but the model was trained on "
                            f"{self.encoder_!r} embeddings", field="encoder")
        x = torch.as_tensor(self._network_input(queries))
        groups = group_indices(queries.groups, self.groups_)
        if getattr(self, "classifier_", None) is None:
            return x, groups, None
        inferred = np.ones(len(x), bool) if groups is None else (groups == len(self.groups_)).numpy()
        return x, groups, inferred if inferred.any() else None

    def answer_paths(self, queries: Queries) -> list[str]:
        """Which path answers each query: "benchmark" (its known name), "text+inferred-benchmark" (the text and
        the classifier's posterior over the known benchmarks) or "text" (the text alone)."""
        self._check_fitted()
        if self.groups_ is None:
            return ["text"] * len(queries)
        idx = group_indices(queries.groups, self.groups_)
        known = np.zeros(len(queries), bool) if idx is None else (idx < len(self.groups_)).numpy()
        fallback = "text+inferred-benchmark" if getattr(self, "classifier_", None) is not None else "text"
        return ["benchmark" if k else fallback for k in known]

    def _place(self, device: str | None) -> torch.device:
        """Move the networks to `device` (None: `self.device`) for prediction; they stay there until moved again."""
        target = resolve_device(device or self.device)
        for net in self.members_:
            net.to(target)
        return target

    @torch.no_grad()
    def query_parameters(self, queries: Queries, batch_size: int = 4096,
                         device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Discrimination a [n, K*d] and difficulty b [n] of each query (computed on `device`, default
        `self.device`): with `abilities_`, the exact IRT form of the ensemble's logits (`ensemble_items`)."""
        x, groups, _ = self._inputs(queries)
        target = self._place(device)
        parts = []
        for net in self.members_:  # the query half of forward: each network runs once per query
            net.eval()
            a_parts, b_parts = [np.zeros((0, net.theta.shape[1]), np.float32)], [np.zeros(0, np.float32)]
            for s in range(0, len(x), batch_size):
                g = None if groups is None else groups[s:s + batch_size].to(target)
                a, b, _ = net.query_params(x[s:s + batch_size].to(target), g)
                a_parts.append(a.cpu().numpy())
                b_parts.append(b.cpu().numpy())
            parts.append((np.concatenate(a_parts), np.concatenate(b_parts)))
        return ensemble_items(parts)

    @torch.no_grad()
    def predict_proba(self, queries: Queries, models: Sequence[str] | None = None,
                      batch_size: int = 4096, device: str | None = None) -> np.ndarray:
        """[n_queries, n_models] P(correct): the network's own forward (eval mode, `batch_size` queries at a
        time, on `device`: default `self.device`) scores every query against the models asked for, and the
        sigmoid of its logits is returned."""
        m = torch.as_tensor(self._model_positions(models))
        x, groups, inferred = self._inputs(queries)
        self._place(device)
        path = "benchmark" if groups is not None else "text"  # a query without its name: the text path
        prob = self._calibrated(self._logits(x, groups, m, batch_size), path)
        if groups is not None and self.groups_ is not None:  # the "unknown benchmark" slot is a text path too
            unknown = (groups == len(self.groups_)).numpy()
            prob[unknown] = self._calibrated(logit(prob[unknown]), "text", undo="benchmark")
        if inferred is not None:  # names not given: the text path, through the benchmark classifier
            rows = np.flatnonzero(inferred)
            text = self._text_proba(x[torch.as_tensor(rows)], queries.vectors[rows], texts_for(queries, rows), m,
                                    batch_size)
            prob[inferred] = self._calibrated(logit(text), "text")
        return prob

    def logit_calibration(self, queries: Queries) -> tuple[np.ndarray, np.ndarray]:
        """(scale [n], shift [n]): `predict_proba` of query i is sigmoid(scale_i * (a_i . theta - b_i) + shift_i)
        with a, b its `query_parameters` and theta `abilities_` (the calibration of the path that answers it,
        `answer_paths`); NaN for a query answered through the benchmark classifier, a mixture over benchmarks
        that has no such form."""
        cal = getattr(self, "calibration_", None) or identity_calibration()
        out = np.full((2, len(queries)), np.nan)
        for i, path in enumerate(self.answer_paths(queries)):
            if path in cal:
                out[:, i] = cal[path]["scale"], cal[path]["shift"]
        return out[0], out[1]

    def _calibrated(self, logits: np.ndarray, path: str, undo: str | None = None) -> np.ndarray:
        """sigmoid(scale * logits + shift) with `path`'s calibration (after undoing `undo`'s)."""
        cal = getattr(self, "calibration_", None) or identity_calibration()
        if undo is not None:
            logits = (logits - cal[undo]["shift"]) / cal[undo]["scale"]
        return sigmoid(cal[path]["scale"] * logits + cal[path]["shift"])

    def _logits(self, x: torch.Tensor, groups: torch.Tensor | None, m: torch.Tensor, batch_size: int) -> np.ndarray:
        """[n, len(m)] logits: the mean over the members of each network's own forward, in eval mode,
        `batch_size` queries at a time, on the networks' device (x, groups and m on the CPU; each batch moved
        there and its logits back)."""
        members = self.members_
        for net in members:
            net.eval()
        dev = members[0].theta.device
        m = m.to(dev)
        parts = []
        for s in range(0, len(x), batch_size):
            xb, gb = x[s:s + batch_size].to(dev), None if groups is None else groups[s:s + batch_size].to(dev)
            parts.append(torch.stack([net(xb, gb, models=m).logits.double() for net in members]).mean(0).cpu())
        return torch.cat(parts).numpy() if parts else np.zeros((0, len(m)))

    def _text_proba(self, x: torch.Tensor, vectors: np.ndarray, texts: np.ndarray | None, m: torch.Tensor,
                    batch_size: int) -> np.ndarray:
        """P(correct | text) = sum over known benchmarks g of P(g | text) P(correct | text, g), before the text
        path's calibration (x: the networks' input; `vectors`: the embeddings, and `texts`: the raw texts where
        the classifier reads them)."""
        post = self.classifier_.posterior(np.asarray(vectors, np.float32), texts)
        prob = np.zeros((len(x), len(m)))
        for g in range(post.shape[1]):
            rows = np.flatnonzero(post[:, g] > 1e-6)  # a benchmark the text all but rules out adds nothing
            if len(rows):
                groups = torch.full((len(rows),), g, dtype=torch.long)
                prob[rows] += post[rows, g, None] * sigmoid(self._logits(x[rows], groups, m, batch_size))
        return prob

    @property
    def abilities_(self) -> np.ndarray:
        """theta [n_models, K*d] in `models_` order: the members' abilities in the IRT form of the ensemble
        (`ensemble_abilities`; one member's theta as it is)."""
        self._check_fitted()
        return ensemble_abilities([net.theta.detach().cpu().numpy() for net in self.members_])

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {
            "config": self.config_.model_dump(), "train_config": self.train_config_.model_dump(),
            "models": self.models_.to_list(), "groups": None if self.groups_ is None else self.groups_.to_list(),
            "encoder": {"name": self.encoder_, "dim": self.d_in_},
            "history": self.result_.history, "best_epoch": self.result_.best_epoch,  # member 0's
            "members": len(self.members_),
            "member_best_epochs": [r.best_epoch for r in self.member_results_],
        }
        arrays = member_arrays(self.members_)  # member 0 unprefixed, member k as "member{k}.<name>"
        clf = getattr(self, "classifier_", None)
        meta["text_path"], clf_arrays = text_path_state(clf, getattr(self, "classifier_choice_", None))
        meta["calibration"] = getattr(self, "calibration_", None) or identity_calibration()
        arrays.update(clf_arrays)
        proj = getattr(self, "ngrams_", None)
        if proj is not None:
            meta["text_ngrams"], ngram_arrays = proj.state()
            arrays.update(ngram_arrays)
        if getattr(self, "ngrams_choice_", None) is not None:
            meta["text_ngrams_choice"] = self.ngrams_choice_
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> IrtNet:
        try:  # checkpoints written before benchmark-specific abilities existed had none
            cfg = IrtNetConfig.model_validate({"group_abilities": False, **check_type(meta, "config", dict)})
        except ValidationError as exc:
            raise StateError(f"invalid IrtNet config: {describe(exc, 'state.config')}") from exc
        try:
            tcfg = TrainConfig.model_validate(check_type(meta, "train_config", dict))
        except ValidationError as exc:
            raise StateError(f"invalid training config: {describe(exc, 'state.train_config')}") from exc
        if cfg.text_ngrams == "auto":  # a fitted model holds the width it chose
            raise StateError("state.config.text_ngrams must be the width the model was trained with, not 'auto'")
        self = cls(cfg, tcfg)
        self.config_, self.train_config_ = cfg, tcfg
        self.models_ = Vocab("model", check_vocab(meta, "models"))
        groups = check_vocab(meta, "groups", optional=True)
        if (groups is None) == cfg.use_groups:
            raise StateError(f"state.groups must {'list the benchmarks' if cfg.use_groups else 'be null'} "
                             f"when config.use_groups is {cfg.use_groups}")
        self.groups_ = None if groups is None else Vocab("benchmark", groups)
        self.encoder_, self.d_in_ = check_encoder(meta)
        n_members = check_members(meta)  # absent (a checkpoint of one network): 1
        arrays = dict(arrays)
        try:
            self.ngrams_ = restore_projection(meta.get("text_ngrams"), arrays, cfg.text_ngrams)
        except DataError as exc:
            raise StateError(str(exc)) from exc
        self.members_ = [IrtNetModule(cfg, self._module_dim(), len(self.models_), len(self.groups_ or ()))
                         for _ in range(n_members)]
        self.module_ = self.members_[0]
        self.classifier_, temperature = restore_classifier(meta, arrays, cfg, self.groups_, self.d_in_)
        self.classifier_choice_ = (meta.get("text_path") or {}).get("choice")
        self.ngrams_choice_ = meta.get("text_ngrams_choice")
        self.calibration_ = restore_calibration(meta, temperature)
        load_members(self.members_, arrays)  # member k's tensors taken out by name, then member 0 from the rest
        self.result_ = TrainResult(history=check_history(meta), best_epoch=int(meta.get("best_epoch", 0)))
        self.member_results_ = [self.result_] + [TrainResult(best_epoch=e) for e in check_member_best_epochs(
            meta, n_members, self.result_.best_epoch)[1:]]
        return self


def identity_calibration() -> dict[str, dict[str, Any]]:
    """No calibration on either path."""
    return {path: {"kind": "none", "scale": 1.0, "shift": 0.0} for path in ("benchmark", "text")}


def restore_calibration(meta: dict[str, Any], text_temperature: float) -> dict[str, dict[str, Any]]:
    """The paths' calibrations from a checkpoint; one written before they existed had at most a text temperature."""
    if "calibration" not in meta:
        out = identity_calibration()
        if text_temperature != 1.0:
            out["text"] = {"kind": "temperature", "scale": 1.0 / text_temperature, "shift": 0.0}
        return out
    cal = check_type(meta, "calibration", dict)
    out = {}
    for path in ("benchmark", "text"):
        entry = cal.get(path)
        ok = isinstance(entry, dict) and all(isinstance(entry.get(k), (int, float)) for k in ("scale", "shift"))
        if not ok or not entry["scale"] > 0 or not np.isfinite(entry["shift"]):
            raise StateError(f"state.calibration.{path} needs a positive 'scale' and a finite 'shift'")
        out[path] = dict(entry)
    return out
