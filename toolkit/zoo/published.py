"""The seed study's published numbers (its Table 1 and the Caffe model's figures from its
conclusion), for each zoo model's ``reported`` field.

Source: "A Comparative Study of Different Models on Image Colorization using Deep Learning"
(Janu, Ram, Naveen, Kalpana, Chaitanya; R.V.R & J.C College of Engineering), Table 1 citing
Kumbhar et al., IRJET vol. 8, Oct 2021. They were measured on the authors' hardware and test
images (not available here): show them as published values, never as numbers measured on this
machine. The study does not define MSE's scale or PSNR's color space, and MSE 0.012 on a 0..1
scale would give 19.2 dB, not 26.4 dB: its MSE and PSNR were not computed on the same quantity.
"""

from __future__ import annotations

# reported-field keys: MSE (scale undefined by the study), PSNR (dB), AIT (ms)
SEED_KEYS = ("seed_mse", "seed_psnr_db", "seed_ait_ms")

SEED_SOURCE = ("the seed study's Table 1, citing Kumbhar et al., IRJET 8, Oct 2021; eccv16's "
               "from the study's conclusion")
SEED_LABEL = "published (seed, other hardware)"
SEED_NOTE = (
    "Published by the seed study, measured on its authors' hardware and test images (not "
    "available here): reference values, not measurements of this machine. Table 1's AIT values "
    "are approximate (~) as published. The study defines neither MSE's scale nor PSNR's color "
    "space; an MSE of 0.012 on 0..1 would be 19.2 dB, not 26.4 dB, so its MSE and PSNR were not "
    "computed on the same quantity (ours: MSE on RGB 0..1, PSNR on 8-bit RGB).")

# zoo name -> (MSE, PSNR dB, AIT ms); eccv16's AIT is the conclusion's 0.58 s
SEED_TABLE1: dict[str, tuple[float, float, float]] = {
    "baseline": (0.0120, 26.443, 56.0),
    "koalarization": (0.0121, 26.630, 159.0),
    "pix2pix-mobilenetv2-lab": (0.0107, 26.870, 61.0),
    "pix2pix-densenet121-lab": (0.0108, 26.872, 117.0),
    "pix2pix-mobilenetv2-rgb": (0.0289, 22.59, 53.0),
    "pix2pix-densenet121-rgb": (0.0237, 23.725, 103.0),
    "eccv16": (0.0039, 24.761, 580.0),
}
# published without "~" (the conclusion's 0.58 s); Table 1's AITs are all "~N ms"
SEED_AIT_EXACT = frozenset({"eccv16"})
# the study's own names for them
SEED_NAMES = {
    "baseline": "Baseline CNN",
    "koalarization": "Inception-resnetv2 based CNN",
    "pix2pix-mobilenetv2-lab": "Pix2pix-Mobilenetv2 (LAB)",
    "pix2pix-densenet121-lab": "Pix2pix-Densenet121 (LAB)",
    "pix2pix-mobilenetv2-rgb": "Pix2pix-Mobilenetv2 (RGB)",
    "pix2pix-densenet121-rgb": "Pix2pix-Densenet121 (RGB)",
    "eccv16": "Caffe model (ECCV16)",
}


def seed_reported(name: str) -> dict[str, float]:
    """Zoo model name -> its ``reported`` entries from the seed study ({} if it has none):
    seed_mse (scale undefined), seed_psnr_db (dB), seed_ait_ms (ms, other hardware)."""
    if name not in SEED_TABLE1:
        return {}
    return dict(zip(SEED_KEYS, SEED_TABLE1[name], strict=True))


def seed_values(reported: dict | None) -> dict[str, float] | None:
    """A ``reported`` dict -> {"mse", "psnr_db", "ait_ms"} of the seed study, or None."""
    reported = reported or {}
    if not all(k in reported for k in SEED_KEYS):
        return None
    return {k[len("seed_"):]: float(reported[k]) for k in SEED_KEYS}


def seed_text(reported: dict | None, name: str = "") -> str:
    """A ``reported`` dict (of zoo model ``name``) -> "MSE 0.0120, PSNR 26.443 dB, AIT ~56 ms"
    ("—" without seed values); "~" marks Table 1's approximate AITs."""
    v = seed_values(reported)
    if v is None:
        return "—"
    approx = "" if name in SEED_AIT_EXACT else "~"
    return f"MSE {v['mse']:.4f}, PSNR {v['psnr_db']:.3f} dB, AIT {approx}{v['ait_ms']:.0f} ms"


def other_reported(reported: dict | None) -> dict:
    """A ``reported`` dict without the seed study's entries (other published numbers)."""
    return {k: v for k, v in (reported or {}).items() if k not in SEED_KEYS}
