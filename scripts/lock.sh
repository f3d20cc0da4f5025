#!/usr/bin/env bash
# Regenerate requirements.lock from the project's venv (after a dependency change in
# pyproject.toml and a green `make test`):   bash scripts/lock.sh
# tests/test_wheel_install.py::test_lock_file_pins_every_declared_dependency checks that the
# lock still satisfies pyproject.toml.
# setuptools is left out: a constraint on it would also bind the isolated build of the
# project itself (pyproject.toml asks for setuptools>=68).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${VENV:-.venv}/bin/pip"
PY_VERSION="$("${VENV:-.venv}/bin/python" -c 'import platform; print(platform.python_version(), platform.system(), platform.machine())')"
{
  echo "# The exact versions the test suite passed with (Python ${PY_VERSION})."
  echo "# Reproducible install:  pip install -c requirements.lock -e '.[ui,test,bench]'"
  echo "# Regenerate:            bash scripts/lock.sh   (pip freeze of .venv; the project, pip and setuptools left out)"
  "$PIP" freeze --exclude-editable --all --exclude pip --exclude setuptools
} > requirements.lock.new
mv requirements.lock.new requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) packages"
