# Two commands: `make demo` (set up everything, serve the dashboard) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CITYSCREEN_HOME ?= $(CURDIR)/.cityscreen
HOST ?= 127.0.0.1
PORT ?= 8050
DEMO_GRIDS ?= 2000
DEMO_DAYS ?= 180
DEMO_PER_DAY ?= 3000
# a city's realistic pace of new cases (`cityscreen demo feed --rate 20` means 20 per second)
FEED_RATE ?= 6/min

.PHONY: demo test bench lint setup system-deps db clean

## demo: venv, dependencies, PostGIS, demo city with months of data, live feed, dashboard on :8050
demo: db
	$(BIN)/cityscreen demo generate --grids $(DEMO_GRIDS) --seed 1
	$(BIN)/cityscreen demo events --days $(DEMO_DAYS) --per-day $(DEMO_PER_DAY) --seed 1
	@echo "cityscreen: live feed at $(FEED_RATE) new cases; dashboard on http://$(HOST):$(PORT)/"
	@$(BIN)/cityscreen demo feed --rate $(FEED_RATE) > $(CITYSCREEN_HOME)/demo-feed.log 2>&1 & \
	  feed=$$!; \
	  $(BIN)/cityscreen escalate --every 60 > $(CITYSCREEN_HOME)/escalate.log 2>&1 & \
	  esc=$$!; trap "kill $$feed $$esc 2>/dev/null" EXIT INT TERM; \
	  $(BIN)/cityscreen serve --host $(HOST) --port $(PORT)

## test: the same setup, then the whole suite (fails, never skips, without a database)
test: db
	$(BIN)/ruff check .
	$(BIN)/pytest

## bench: every benchmark, each printing its ratio against a baseline run in the same process
bench: db
	$(BIN)/cityscreen bench

lint: setup
	$(BIN)/ruff check .

setup: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

## system-deps: PostGIS (and the server) for the private cluster, Chromium and a CJK font for browser tests
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql-15"; \
	ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || missing="$$missing postgresql-15-postgis-3"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages; run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

## db: start the private PostGIS cluster (or use DATABASE_URL) and migrate
db: setup system-deps
	$(BIN)/cityscreen db up

clean:
	-$(BIN)/cityscreen db down
	rm -rf $(VENV) .cityscreen
