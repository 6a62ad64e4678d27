#!/usr/bin/env bash
# Installs PyPI's mcp-server-time (a real MCP server over stdio, offline; tests/mcp.rs calls
# it) into a venv outside the clone, once, and smoke-tests it: the MCP handshake and a
# tools/list must answer with get_current_time. Prints the server's path.
set -euo pipefail
cache="${STRATA_TEST_CACHE:-$HOME/.cache/strata-ci}"
venv="$cache/mcp-venv"
version="2026.10.19"
mkdir -p "$cache"
exec 9>"$cache/mcp-venv.lock"
flock 9

stamp="mcp-server-time $version"
if [ "$(cat "$venv/strata-build" 2>/dev/null)" != "$stamp" ] || [ ! -x "$venv/bin/mcp-server-time" ]; then
  echo "installing mcp-server-time $version into $venv (once)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "mcp-server-time==$version" >&2
  echo "$stamp" >"$venv/strata-build"
  rm -f "$venv/strata-smoke-ok"
fi

if [ ! -f "$venv/strata-smoke-ok" ]; then
  echo "smoke test: MCP handshake and tools/list on mcp-server-time" >&2
  # Each request is sent after the previous answer (a server may drop requests that come
  # before the handshake is done, or exit at end of input with answers still pending).
  if ! env -i PATH="$PATH" HOME="$HOME" timeout 120 python3 - "$venv/bin/mcp-server-time" >&2 <<'PY'; then
import json, subprocess, sys
server = subprocess.Popen([sys.argv[1], "--local-timezone", "UTC"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
def send(message):
    server.stdin.write(json.dumps(dict(jsonrpc="2.0", **message)) + "\n")
    server.stdin.flush()
def answer():
    line = server.stdout.readline()
    assert line, "mcp-server-time closed its output"
    return json.loads(line)
send(dict(id=0, method="initialize", params=dict(protocolVersion="2025-06-18", capabilities={},
                                                 clientInfo=dict(name="strata-ci", version="1"))))
assert answer()["id"] == 0
send(dict(method="notifications/initialized"))
send(dict(id=1, method="tools/list"))
tools = [t["name"] for t in answer()["result"]["tools"]]
assert "get_current_time" in tools, tools
server.stdin.close()
server.wait(timeout=30)
print("smoke test ok:", tools)
PY
    echo "mcp-server-time in $venv does not answer the MCP handshake and tools/list" >&2
    exit 1
  fi
  touch "$venv/strata-smoke-ok"
fi
echo "$venv/bin/mcp-server-time"
