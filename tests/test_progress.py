"""edgecolor.progress: periodic lines off a terminal (done/total, rate, ETA), a bar on one."""

import io

from edgecolor.progress import Progress, progress_line, track


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_off_a_terminal_prints_periodic_lines_with_rate_and_eta():
    out, clock = io.StringIO(), FakeClock()
    with Progress(10, "converting", stream=out, every_s=5.0, clock=clock) as bar:
        for _ in range(10):
            clock.t += 2.0  # 2 s a step
            bar.update()
    lines = out.getvalue().splitlines()
    # start, every >= 5 s (at 6, 12, 18 s), and the end (20 s)
    assert lines[0] == "converting: 0/10 (0%)"
    assert lines[1] == "converting: 3/10 (30%), 2 s each, ETA 0:14"
    assert lines[-1] == "converting: 10/10 (100%), 2 s each, took 0:20"
    assert len(lines) == 5


def test_stdout_not_a_tty_is_detected():
    out = io.StringIO()  # isatty() is False
    assert Progress(3, "x", stream=out).tty is False
    assert list(track([1, 2, 3], "colorizing", stream=out, every_s=0)) == [1, 2, 3]
    assert out.getvalue().splitlines()[-1].startswith("colorizing: 3/3 (100%)")


def test_on_a_terminal_draws_a_bar_not_lines():
    out = io.StringIO()
    with Progress(4, "analyzing", stream=out, tty=True) as bar:
        bar.update(4)
    # click's bar (which, on this fake stream, prints only its label), not the log lines
    assert bar._bar is not None
    assert "analyzing" in out.getvalue() and "(100%)" not in out.getvalue()


def test_rate_line_fast_work():
    assert progress_line("bench", 50, 100, 10.0) == "bench: 50/100 (50%), 5 /s, ETA 0:10"
