"""Write the test clip of benchmarks/results/flicker-x86-cpu-baseline.md: a still photo (the
first bundled eval photo, 256x256) with sensor-like noise (σ 3 levels per channel, seeded) and
a white 40x40 square moving 4 px per frame, 40 frames, MJPEG AVI at 10 FPS. Then:

    python benchmarks/flicker_clip.py clip.avi
    edgecolor bench ARTIFACTS/ --video clip.avi --runs 5 -o OUT/
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from edgecolor.imageio import read_rgb
from edgecolor.samples import sample_images


def main(argv: list[str] | None = None) -> int:
    """Write the clip to argv[0] -> 0."""
    path = (argv or sys.argv[1:] or ["clip.avi"])[0]
    rng = np.random.default_rng(0)
    photo = cv2.resize(read_rgb(sample_images("eval")[0]), (256, 256),
                       interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(path, cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10,
                             (256, 256))
    for t in range(40):
        frame = photo.astype(np.float32) + rng.normal(0, 3, photo.shape)
        x = 10 + 4 * t
        frame[20:60, x:x + 40] = 255
        writer.write(np.clip(frame, 0, 255).astype(np.uint8)[..., ::-1])
    writer.release()
    print(f"written: {path} (40 frames, 256x256)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
