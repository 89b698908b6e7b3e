"""The public Python API: ``edgecolor.load(artifact).colorize(image)``.

The same path ``edgecolor colorize --artifact`` takes (``load_runner`` + the manifest's
spec + :func:`edgecolor.pipeline.colorize_array`), so results are byte-identical. No
TensorFlow: an artifact and its manifest are enough (a Raspberry Pi install works).

    import edgecolor
    model = edgecolor.load("art/my_colorizer-openvino-int8.xml")
    rgb = model.colorize("old_photo.jpg")          # uint8 (H, W, 3), the photo's own L kept
    rgbs = model.colorize(["a.png", "b.png"])      # a list, one per photo
    model.contract, model.manifest
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgecolor.contract import Contract

ImageLike = np.ndarray | str | os.PathLike


class Colorizer:
    """A loaded artifact: ``colorize`` photos with it (see the module docstring).

    ``manifest``: the artifact's manifest (dict); ``contract``: its colorization contract
    (:class:`~edgecolor.contract.Contract`; None for zoo artifacts made before contracts,
    whose spec says the same); ``spec``: the ModelSpec the runner feeds.
    """

    def __init__(self, runner) -> None:
        self.runner = runner
        self.manifest: dict = runner.manifest
        self.spec = runner.spec
        record = self.manifest.get("contract")
        self.contract: Contract | None = Contract.from_dict(record) if record else None

    def colorize(self, image: ImageLike | Sequence[ImageLike]):
        """A photo -> its colorized array; a list/tuple of photos (or an (N, H, W[, C])
        array) -> a list (an array) of them.

        A photo is a path (read with EXIF orientation, 8/16-bit, alpha kept) or a decoded
        array (gray (H, W), RGB/RGBA (H, W, 3|4), uint8/uint16/float). The result has the
        photo's shape and dtype; its L is the photo's own at full resolution, only ab comes
        from the model (resized up).
        """
        from edgecolor.imageio import read_image
        from edgecolor.pipeline import colorize_array

        if isinstance(image, (list, tuple)):
            return [self.colorize(one) for one in image]
        if isinstance(image, (str, os.PathLike)):
            return colorize_array(self.runner, read_image(Path(image)))
        arr = np.asarray(image)
        if arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)):
            return np.stack([colorize_array(self.runner, a) for a in arr])
        return colorize_array(self.runner, arr)

    def close(self) -> None:
        """Release the runtime's model."""
        self.runner.deactivate()

    def __enter__(self) -> Colorizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        m = self.manifest
        return (f"Colorizer({m.get('artifact')!r}: {m.get('format')} {m.get('precision')}, "
                f"runner {self.runner.name})")


def load(artifact: str | os.PathLike, threads: int | None = None,
         device: str | None = None) -> Colorizer:
    """Artifact path (``.tflite`` / ``.xml`` / ``.onnx`` with its manifest beside it) ->
    :class:`Colorizer`. threads: inference threads (None: the runtime's default); device:
    the runner's device (None: its default). Raises ManifestError (missing / changed
    manifest) or RuntimeMissing (no runtime installed; names the pip extra)."""
    from edgecolor.runtimes import load_runner

    runner = load_runner(artifact, threads=threads, device=device)
    runner.activate()
    return Colorizer(runner)
