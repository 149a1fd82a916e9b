# Every target installs what it needs into .venv first (pins in pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= test,fer,ray

.PHONY: install demo test docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/maskgen demo --out demo-out/contact-sheet.png

test: $(STAMP)
	$(PY) -m pytest -q

docs: $(STAMP)
	$(PY) docs/make_gallery.py

bench: $(STAMP)
	$(PY) benchmarks/render_speed.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .hypothesis *.egg-info
