"""The model zoo: a registry of builders, one ``create_model(name, **kw)`` entry point.

Each builder is a short function in its own module, with its paper's numbers beside it, that
returns ``(keras.Model, ModelSpec)``. Registering is a decorator::

    @register_model("baseline", paper="...", params=231_682)
    def baseline(input_size=(256, 256), batch_size=None, width=1.0): ...
"""

from edgecolor.zoo.registry import (
    RANDOM_MARK,
    ModelInfo,
    check_options,
    create_model,
    create_spec,
    default_weights,
    get_model_info,
    list_models,
    model_options,
    register_model,
    weights_cache_dir,
    weights_source,
)

__all__ = [
    "RANDOM_MARK",
    "ModelInfo",
    "check_options",
    "create_model",
    "create_spec",
    "default_weights",
    "get_model_info",
    "list_models",
    "model_options",
    "register_model",
    "weights_cache_dir",
    "weights_source",
]
