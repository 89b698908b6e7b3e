"""The measurement job as a typed record: what ``python -m edgecolor.bench.measure JOB RESULT``
reads (JSON), so that a job can travel to another machine with its paths rewritten.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace


@dataclass(frozen=True)
class BenchJob:
    """One measurement (see :func:`edgecolor.bench.measure.run_job`). Paths are strings on
    the machine that runs the job; times in ms except ``seconds``/``budget_s`` (s).
    """

    kind: str  # "artifact" | "keras"
    e2e_image: str
    runs: int
    warmup: int
    artifact: str | None = None
    images: tuple[str, ...] = ()
    runner: str | None = None
    threads: int | None = None
    device: str | None = None  # None: the runner's own default (as bench --device)
    metrics: str = "full"
    seconds: float | None = None
    budget_s: float | None = None
    reference: str | None = None  # npz of the FP32 outputs (PSNR vs FP32)
    save_outputs: str | None = None
    keras: dict | None = None
    alt: str | None = None
    health: bool = False  # sample temperature/throttling/clock/power during the timed runs
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept

    @classmethod
    def from_dict(cls, job: dict) -> BenchJob:
        """Job dict (as suite.py builds it) -> BenchJob; unknown keys go to ``extra``."""
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in job.items() if k in names}
        if "images" in known:
            known["images"] = tuple(known["images"] or ())
        return cls(**known, extra={k: v for k, v in job.items() if k not in names})

    def to_dict(self) -> dict:
        """JSON-ready dict for the measuring process."""
        d = asdict(self)
        d["images"] = list(self.images)
        return {**{k: v for k, v in d.items() if k != "extra"}, **self.extra}

    def input_files(self) -> list[str]:
        """The files the job reads (artifact, photos, reference), each once, in order."""
        paths = [self.artifact, *self.images, self.e2e_image, self.reference]
        return list(dict.fromkeys(p for p in paths if p))

    def relocated(self, where: dict[str, str], save_outputs: str | None = None) -> BenchJob:
        """The same job with each input path replaced by ``where[path]`` (another machine's
        copy); KeyError if one is missing.
        """
        return replace(
            self, artifact=where[self.artifact] if self.artifact else None,
            images=tuple(where[p] for p in self.images), e2e_image=where[self.e2e_image],
            reference=where[self.reference] if self.reference else None,
            save_outputs=save_outputs)
