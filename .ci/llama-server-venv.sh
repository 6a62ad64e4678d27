#!/usr/bin/env bash
# Builds llama-cpp-python (with its OpenAI-compatible server) once into a venv outside the
# clone; later runs reuse it. Prints the venv's python. Takes ~10 minutes on 2 cores cold.
set -euo pipefail
cache="${STRATA_TEST_CACHE:-$HOME/.cache/strata-ci}"
venv="$cache/llama-venv"
version="0.3.36"
mkdir -p "$cache"
exec 9>"$cache/llama-venv.lock"
flock 9
if ! "$venv/bin/python" -c "import llama_cpp, llama_cpp.server, uvicorn; assert llama_cpp.__version__ == '$version'" 2>/dev/null; then
  echo "building llama-cpp-python $version into $venv (once)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "llama-cpp-python[server]==$version" >&2
fi
echo "$venv/bin/python"
