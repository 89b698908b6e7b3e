"""edgecolor: deep-learning image colorization taken to edge devices.

Where things live:
- ``edgecolor.color``: sRGB <-> CIE Lab, grayscale handling, recombining L with predicted ab.
- ``edgecolor.imageio``: reading/writing images (EXIF orientation, 16-bit, alpha), atomically.
- ``edgecolor.spec``: the model spec, the contract between a model and everything that runs it.
- ``edgecolor.zoo``: the model registry, ``create_model(name, **kw)``.
- ``edgecolor.metrics``: MSE, PSNR, SSIM, colorfulness, CIEDE2000.
- ``edgecolor.formats``: the one table of artifact formats that drives converters, runtimes, bench.
- ``edgecolor.converters`` / ``runtimes`` / ``calibration`` / ``devices``: see their docstrings.
- ``edgecolor.contract`` / ``edgecolor.sources``: your own model (ONNX, Keras, SavedModel).
- ``edgecolor.load(artifact).colorize(photo)``: the public API (``edgecolor.api``).
"""

__version__ = "0.1.0"


def load(artifact, threads=None, device=None):
    """Artifact path (with its manifest) -> :class:`edgecolor.api.Colorizer`; see
    :func:`edgecolor.api.load`. Imported on call: ``import edgecolor`` stays light."""
    from edgecolor.api import load as _load

    return _load(artifact, threads=threads, device=device)
