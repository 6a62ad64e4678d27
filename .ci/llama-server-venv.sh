#!/usr/bin/env bash
# Builds llama-cpp-python (with its OpenAI-compatible server) once into a venv outside the
# clone; later runs reuse it. Prints the venv's python. Takes ~10 minutes on 2 cores cold.
#
# Usage: llama-server-venv.sh [GGUF]
#
# llama.cpp is built for the SIMD extensions this CPU reports, named explicitly, with
# native detection and AMX off: under this kind of VM an Intel CPU may report AMX while
# the hypervisor does not grant the tile state, and every multi-token prompt then dies
# with SIGSEGV in ggml_backend_amx_mul_mat (ldtilecfg). The flags are part of the venv's
# stamp, so a venv built for another CPU (or with native flags) is rebuilt. With a GGUF,
# a multi-token chat completion must succeed before the venv is declared good.
set -euo pipefail
cache="${STRATA_TEST_CACHE:-$HOME/.cache/strata-ci}"
venv="$cache/llama-venv"
version="0.3.36"
gguf="${1:-}"
mkdir -p "$cache"
exec 9>"$cache/llama-venv.lock"
flock 9

cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() { [[ "$cpu_flags" == *" $1 "* ]]; }
onoff() { if has "$1"; then echo ON; else echo OFF; fi; }
avx512=OFF
if has avx512f && has avx512cd && has avx512vl && has avx512dq && has avx512bw; then avx512=ON; fi
cmake_args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
cmake_args+=" -DGGML_AVX=$(onoff avx) -DGGML_AVX2=$(onoff avx2) -DGGML_FMA=$(onoff fma)"
cmake_args+=" -DGGML_F16C=$(onoff f16c) -DGGML_BMI2=$(onoff bmi2) -DGGML_AVX_VNNI=$(onoff avx_vnni)"
cmake_args+=" -DGGML_AVX512=$avx512"
if [ "$avx512" = ON ]; then
  cmake_args+=" -DGGML_AVX512_VBMI=$(onoff avx512vbmi) -DGGML_AVX512_VNNI=$(onoff avx512_vnni)"
  cmake_args+=" -DGGML_AVX512_BF16=$(onoff avx512_bf16)"
fi
stamp="llama-cpp-python $version $cmake_args"

if [ "$(cat "$venv/strata-build" 2>/dev/null)" != "$stamp" ] ||
  ! "$venv/bin/python" -c "import llama_cpp, llama_cpp.server, uvicorn; assert llama_cpp.__version__ == '$version'" 2>/dev/null; then
  echo "building llama-cpp-python $version into $venv (once): $cmake_args" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # --no-cache-dir: a wheel cached by pip from an earlier (native) build must not be reused.
  CMAKE_ARGS="$cmake_args" "$venv/bin/pip" install --quiet --no-cache-dir \
    "llama-cpp-python[server]==$version" >&2
  echo "$stamp" >"$venv/strata-build"
fi

if [ -n "$gguf" ] && [ ! -f "$venv/strata-smoke-ok" ]; then
  echo "smoke test: a multi-token chat completion on $gguf" >&2
  if ! "$venv/bin/python" - "$gguf" >&2 <<'EOF'; then
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=512, verbose=False)
out = llm.create_chat_completion(
    messages=[{"role": "user", "content": "Name three colours of the rainbow, please."}],
    max_tokens=8, temperature=0.0)
text = out["choices"][0]["message"]["content"]
assert out["usage"]["prompt_tokens"] > 8, out["usage"]
assert text.strip(), "empty completion"
print("smoke test ok:", repr(text))
EOF
    echo "the llama.cpp build in $venv crashed or failed on a multi-token prompt (flags: $cmake_args); it is removed so the next run rebuilds it" >&2
    rm -rf "$venv"
    exit 1
  fi
  touch "$venv/strata-smoke-ok"
fi
echo "$venv/bin/python"
