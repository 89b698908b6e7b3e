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


RESULT_SCHEMA = "edgecolor.bench.result/1"


@dataclass
class BenchResult:
    """What one measuring process returns (``python -m edgecolor.bench.measure`` writes it as
    JSON; :func:`edgecolor.bench.suite` turns it into a report row). Times in ms; memory in
    MB; ``model_ms`` / ``e2e_ms`` are timing summaries (:mod:`edgecolor.bench.stats`: mean,
    median, p90, p99, min, std in ms, fps); ``per_image`` one quality record per photo.
    """

    status: str = "failed"  # "ok" | "failed"
    error: str | None = None  # one line, when failed
    kind: str | None = None  # failure kind where known (remote: timeout, crashed, ...)
    runner: str | None = None
    runner_reason: str | None = None
    load_ms: float | None = None
    first_ms: float | None = None
    model_ms: dict | None = None
    e2e_ms: dict | None = None
    e2e_image: str | None = None
    rss_base_mb: float | None = None
    peak_load_mb: float | None = None
    peak_run_mb: float | None = None
    per_image: list = field(default_factory=list)
    health: dict | None = None
    gallery: dict | None = None
    flicker: dict | None = None
    schema: str = RESULT_SCHEMA
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept

    @property
    def ok(self) -> bool:
        """True when the measurement ran and its timings are present."""
        return self.status == "ok" and self.model_ms is not None and self.e2e_ms is not None

    @property
    def peak_mb(self) -> float | None:
        """The larger of the load and run peaks (MB), None when neither was measured."""
        return max((v for v in (self.peak_load_mb, self.peak_run_mb) if v is not None),
                   default=None)

    @classmethod
    def failed(cls, error: str, kind: str | None = None) -> BenchResult:
        """A failed measurement with its one-line reason."""
        return cls(status="failed", error=error, kind=kind)

    @classmethod
    def from_dict(cls, data: dict) -> BenchResult:
        """Result JSON -> BenchResult; unknown keys go to ``extra``. A result without a
        schema (an older edgecolor) is read as version 1; one of another version, or an
        ok result without its timings, becomes a failed result saying so.
        """
        if isinstance(data, BenchResult):
            return data
        if not isinstance(data, dict):
            return cls.failed(f"measuring process returned {type(data).__name__}, not a result")
        schema = data.get("schema", RESULT_SCHEMA)
        if schema != RESULT_SCHEMA:
            return cls.failed(f"result schema {schema!r} is not {RESULT_SCHEMA!r}: install the "
                              "same edgecolor version on both sides")
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        known["per_image"] = list(known.get("per_image") or [])
        result = cls(**known, extra={k: v for k, v in data.items() if k not in names})
        if result.status == "ok" and not result.ok:
            return cls.failed("measuring process reported ok without model/e2e timings")
        return result

    def to_dict(self) -> dict:
        """JSON-ready dict (with ``schema``); ``extra`` keys merged back."""
        d = asdict(self)
        return {**{k: v for k, v in d.items() if k != "extra"}, **self.extra}
