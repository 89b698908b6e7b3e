"""Model registry: name -> builder. Builders import TensorFlow lazily (devices never need it)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgecolor.paths import HOME_ENV, edgecolor_home
from edgecolor.spec import ModelSpec

WEIGHTS_DIR = Path(__file__).parent / "weights"

# Modules that register builders; imported on first use of the registry.
_BUILDER_MODULES = (
    "edgecolor.zoo.baseline",
    "edgecolor.zoo.koalarization",
    "edgecolor.zoo.eccv16",
    "edgecolor.zoo.pix2pix",
)


@dataclass
class ModelInfo:
    """A registered model: its builder, its spec builder and what the paper reported."""

    name: str
    build: Callable  # (**kw) -> (keras.Model, ModelSpec)
    spec: Callable  # (**kw) -> ModelSpec, without TensorFlow
    paper: str = ""
    params: int | None = None  # parameter count of the paper-exact configuration
    reported: dict = field(default_factory=dict)  # the paper's numbers (MSE, PSNR, AIT ...)
    weights: str | None = None  # file name of bundled weights under zoo/weights/
    # (model, path) -> None, for builder options whose graph differs from the saved one's
    load: Callable | None = None
    train_loss: str | None = None  # "l1" | "l2": the paper's norm; None: the output kind's
    train_options: dict = field(default_factory=dict)  # builder options training uses


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, *, spec: Callable, paper: str = "", params: int | None = None,
                   reported: dict | None = None, weights: str | None = None,
                   load: Callable | None = None, train_loss: str | None = None,
                   train_options: dict | None = None) -> Callable:
    """Decorator registering a builder ``fn(**kw) -> (keras.Model, ModelSpec)`` under ``name``
    (``load(model, path)``: a weight loader replacing :func:`load_weights`)."""

    def deco(fn: Callable) -> Callable:
        _REGISTRY[name] = ModelInfo(name, fn, spec, paper, params, reported or {}, weights,
                                    load, train_loss, train_options or {})
        return fn

    return deco


def _load_all() -> None:
    for mod in _BUILDER_MODULES:
        importlib.import_module(mod)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def get_model_info(name: str) -> ModelInfo:
    """Registry entry for ``name``; ValueError naming the choices if unknown."""
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def weights_cache_dir() -> Path:
    """Folder of trained weights that do not ship in git: ``$EDGECOLOR_HOME/weights``
    (default ``~/.cache/edgecolor/weights``); holds ``<name>.weights.h5`` + ``<name>.card.*``."""
    return edgecolor_home() / "weights"


def bundled_default(name: str) -> Path | None:
    """Path of the default weights that ship with ``name`` (in git), or None."""
    info = get_model_info(name)
    if info.weights and (WEIGHTS_DIR / info.weights).is_file():
        return WEIGHTS_DIR / info.weights
    return None


def cached_weights(name: str) -> Path:
    """Where ``train --install`` puts the weights of ``name``: ``<cache>/<name>.weights.h5``."""
    return weights_cache_dir() / f"{name}.weights.h5"


def default_weights(name: str) -> Path | None:
    """The paper-width weights of ``name``: bundled if it ships them, else the cached
    ``<cache>/<name>.weights.h5`` (see :func:`weights_cache_dir`) if present, else None."""
    bundled = bundled_default(name)
    if bundled is not None:
        return bundled
    cached = cached_weights(name)
    return cached if cached.is_file() else None


WEIGHT_SOURCES = ("bundled", "cache", "file", "random")
RANDOM_MARK = "random weights — speed only"  # how artifacts/rows of random weights are marked


def weights_source(name: str, weights: str | Path | None, width: float | None = None) -> str:
    """Where the weights of a ``create_model(name, weights=...)`` call come from:
    "bundled" (ship in git, incl. named sets), "cache" (``train --install`` / import-caffe
    cache), "file" (a path given) or "random" (no trained weights: speed only)."""
    if weights == "default":
        if width not in (None, 1.0):
            return "random"
        weights = default_weights(name)
        if weights is None:
            return "random"
    elif _is_variant(weights):
        return "bundled"
    if weights is None or str(weights) in ("", "none", "random", "random-init"):
        return "random"
    path = Path(weights).resolve()
    for folder, label in ((WEIGHTS_DIR, "bundled"), (weights_cache_dir(), "cache")):
        if path.parent == folder.resolve():
            return label
    return "file"


def how_to_get_weights(name: str) -> str:
    """One sentence: the ways to get trained weights for ``name``."""
    caffe = "import the published ones (`edgecolor import-caffe`), " if name == "eccv16" else ""
    return (f"train them (`edgecolor train --model {name} --images DIR --out run/ --install`), "
            f"{caffe}put {cached_weights(name)} in the cache (${HOME_ENV}/weights) or pass "
            "--weights FILE")


def random_weights_refusal(model: str, weights: str | None = None,
                           artifact: str | Path | None = None) -> str | None:
    """-> the one-line refusal when ``colorize`` would run random weights (zoo ``model``
    without --weights and with no bundled/cached weights, or an artifact whose manifest says
    ``weights_source: random``), else None. Unknown models / unreadable manifests: None (the
    runner's own checks report them)."""
    if artifact is not None:
        from edgecolor.manifest import ManifestError, load_manifest, weights_source_of

        try:
            manifest = load_manifest(Path(artifact), verify=False)
        except (ManifestError, OSError, ValueError):
            return None
        if weights_source_of(manifest) != "random":
            return None
        model = manifest.get("model") or model
        return (f"{artifact}: converted from random weights ({RANDOM_MARK}); colorize with "
                f"trained ones: {how_to_get_weights(model)}, then re-run `edgecolor convert`; "
                "or pass --random-weights to run it anyway")
    try:
        if weights_source(model, weights or "default") != "random":
            return None
    except ValueError:
        return None
    return (f"model {model} has no trained weights here (bundled or cached); "
            f"{how_to_get_weights(model)}; or pass --random-weights to run random ones "
            f"({RANDOM_MARK})")


def bundled_weights(name: str, variant: str) -> Path:
    """Path of a named bundled weight set: ``zoo/weights/<name>-<variant>.weights.h5``.

    Raises ValueError naming the variants that ship when ``variant`` is not one of them.
    """
    path = WEIGHTS_DIR / f"{name}-{variant}.weights.h5"
    # another model's default weights (baseline-bins's beside baseline's) are no variant
    others = {info.weights for other, info in _REGISTRY.items() if other != name}
    if not path.is_file() or path.name in others:
        found = sorted(p.name[len(name) + 1:-len(".weights.h5")]
                       for p in WEIGHTS_DIR.glob(f"{name}-*.weights.h5")
                       if p.name not in others)
        raise ValueError(f"{name} ships no {variant!r} weights; bundled sets: "
                         f"{', '.join(['default'] + found)} (or give a weights file path)")
    return path


def _is_variant(weights) -> bool:
    """A bare word like "faces" (not a path to a file) names a bundled weight set."""
    return (isinstance(weights, str) and weights != "default" and "/" not in weights
            and "\\" not in weights and not Path(weights).suffix and not Path(weights).exists())


def _keywords(fn: Callable) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def model_options(name: str) -> list[str]:
    """The builder options of model ``name`` (the keys ``--option KEY=VALUE`` accepts),
    read from its builder's signature: e.g. ``["width", "head", "temperature"]``."""
    return [k for k in _keywords(get_model_info(name).build)
            if k not in ("input_size", "batch_size")]


def check_options(name: str, kw: dict) -> None:
    """ValueError naming the unknown keys and the valid ones when ``kw`` holds a key the
    builder of ``name`` does not take (builders swallow nothing)."""
    valid = model_options(name)
    unknown = sorted(set(kw) - set(valid) - {"input_size"})
    if unknown:
        raise ValueError(f"model {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"its options: {', '.join(valid) or 'none'}")


def create_spec(name: str, input_size: tuple[int, int] | int | None = None, **kw) -> ModelSpec:
    """The spec of ``name`` at ``input_size`` without building the network (no TensorFlow).

    ``kw``: builder options (see :func:`model_options`); those that do not change the spec
    (e.g. ``width``) are accepted and ignored. ValueError for an unknown key.
    """
    info = get_model_info(name)
    check_options(name, kw)
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    if input_size is not None:
        kw["input_size"] = tuple(input_size)
    takes = set(_keywords(info.spec))
    return info.spec(**{k: v for k, v in kw.items() if k in takes})


def create_model(name: str, input_size: tuple[int, int] | int | None = None,
                 weights: str | Path | None = "default", batch_size: int | None = None, **kw):
    """Build model ``name`` -> ``(keras.Model, ModelSpec)``.

    input_size: (H, W) or an int; None = the paper's size. weights: "default" loads
    :func:`default_weights` (bundled, else cached; at width 1 only; else random init),
    None = random init, or a
    path to a ``.weights.h5`` / ``.keras`` file, or the name of a bundled weight set
    (e.g. "faces" -> ``zoo/weights/<name>-faces.weights.h5``). batch_size fixes the batch dimension
    (converters use 1). Extra keywords go to the builder (e.g. ``width=0.25``); a key the
    builder does not take raises ValueError listing the valid ones (:func:`check_options`).
    """
    info = get_model_info(name)
    check_options(name, kw)
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    if input_size is not None:
        kw["input_size"] = tuple(input_size)
    model, spec = info.build(batch_size=batch_size, **kw)
    if weights == "default":
        # bundled / cached default weights exist for the paper-width model only
        weights = default_weights(name) if kw.get("width", 1.0) == 1.0 else None
    elif _is_variant(weights):
        weights = bundled_weights(name, weights)
    if weights is not None:
        load_model_weights(name, model, weights)
    return model, spec


def load_model_weights(name: str, model, path: str | Path) -> None:
    """Load ``path`` into a built ``model`` of zoo model ``name`` (its own loader if it
    registered one, e.g. eccv16's, which takes files of either head)."""
    (get_model_info(name).load or load_weights)(model, path)


def _looks_like_keras_file(path: Path) -> bool:
    """HDF5 signature (.weights.h5 / legacy .h5) or a zip archive (.keras)."""
    import zipfile

    with open(path, "rb") as f:
        head = f.read(8)
    return head == b"\x89HDF\r\n\x1a\n" or zipfile.is_zipfile(path)


def load_weights(model, path: str | Path) -> None:
    """Load weights into ``model`` from ``.weights.h5`` or a whole ``.keras`` file.

    Raises ValueError naming the file when it does not fit the architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: weights file not found (check --weights)")
    if not _looks_like_keras_file(path):
        raise ValueError(f"{path}: not a Keras weights file (expected a .weights.h5 or .keras "
                         "saved by Keras, e.g. by `edgecolor train` or `edgecolor import-caffe`)")
    from edgecolor.zoo.keras_file import KerasFileError, load_keras_model, quiet_keras

    try:
        with quiet_keras():  # Keras warns once per layer it skips: the error below says it
            if path.suffix == ".keras":
                # never runs code the file carries: Lambda layers and foreign modules are
                # refused before loading, and Keras loads with safe_mode=True (never off)
                src = load_keras_model(path)
                model.set_weights(src.get_weights())
            else:
                model.load_weights(path)
    except KerasFileError:
        raise
    except Exception as e:  # keras raises several types for shape mismatches
        first = (str(e).strip().splitlines() or [type(e).__name__])[0].rstrip(":")[:160]
        raise ValueError(
            f"{path}: weights do not fit model {model.name!r} at this size/width ({first}); "
            "pass weights saved from this model (same --imgsz and options)"
        ) from e
