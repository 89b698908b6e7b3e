# One place for the commands README shows. Everything installs into .venv (created here).
VENV ?= .venv
PY := $(VENV)/bin/python
EC := $(VENV)/bin/edgecolor

.PHONY: install test test-host lint demo test-arm

$(VENV)/.installed: setup.cfg pyproject.toml .ci/constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c .ci/constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# README command 2: install test dependencies and run the whole suite: lint, the host
# suite (pytest), then the ARM lane (the same device-side tests on an emulated Raspberry Pi 4).
test: test-host test-arm

test-host: install browser-deps remote-deps
	$(PY) -m ruff check .
	$(PY) -m pytest -q

# The ARM lane (docs/arm-ci.md): device-side tests on an emulated Raspberry Pi 4 under qemu.
test-arm: install
	PYTHON=$(PY) .ci/arm

lint: install
	$(PY) -m ruff check .

# README command 1: the main job on the bundled model and the bundled samples: convert for
# this host's device profile, benchmark every artifact (report in out/benchmark/), colorize.
demo: install
	$(EC) benchmark -o out/benchmark
	$(EC) colorize toolkit/data/samples/eval -o out/ --overwrite

# Headless Chromium for tests/test_camera_browser.py (skipped without it): Debian's package,
# about 480 MB to download (said before it starts; SKIP_BROWSER=1 skips it). When it cannot
# be installed (no root, no network) the suite still runs and pytest's summary says why the
# browser test was skipped.
SKIP_BROWSER ?=
.PHONY: browser-deps
browser-deps:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		echo "chromium: already installed"; \
	elif [ -n "$(SKIP_BROWSER)" ]; then \
		echo "browser-deps: SKIP_BROWSER is set; tests/test_camera_browser.py will be skipped"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "browser-deps: apt-get install chromium for tests/test_camera_browser.py: about 480 MB to download (make test SKIP_BROWSER=1 skips it)"; \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) \
			|| echo "browser-deps: chromium could not be installed; the suite runs without it and tests/test_camera_browser.py is skipped (see pytest's summary)"; \
	else \
		echo "browser-deps: chromium missing; install it as root (apt-get install chromium) to run the browser test"; \
	fi

# Real SSH for tests/test_remote_*.py (they skip, saying so, without it): Debian's
# openssh-server (the tests start their own sshd on 127.0.0.1 with throwaway keys), and a
# second venv that plays the device with only edgecolor[rpi] in it (no TensorFlow).
DEVICE_VENV ?= .venv-device
.PHONY: remote-deps sshd-deps
remote-deps: sshd-deps $(DEVICE_VENV)/.installed

sshd-deps:
	@if [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1; then \
		echo "sshd: already installed"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			openssh-server openssh-client; \
	else \
		echo "sshd-deps: sshd missing; install it as root (apt-get install openssh-server) to run the remote-device tests"; \
	fi

$(DEVICE_VENV)/.installed: setup.cfg pyproject.toml .ci/constraints.txt
	python3 -m venv $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/python -m pip install -q --upgrade pip
	$(DEVICE_VENV)/bin/python -m pip install -q -c .ci/constraints.txt -e '.[rpi]'
	touch $@
