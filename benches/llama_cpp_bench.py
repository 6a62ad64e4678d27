# llama.cpp (llama-cpp-python) side of `strata bench local --llama-cpp PYTHON`.
# argv: GGUF TOKENS RUNS SHORT_PROMPT LONG_PROMPT; prints one JSON line of figures.
import json, sys, time

from llama_cpp import Llama

gguf, tokens, runs, short_prompt, long_prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
start = time.perf_counter()
llm = Llama(model_path=gguf, n_ctx=2048, n_threads=None, verbose=False, seed=0)
load_ms = (time.perf_counter() - start) * 1000


def run(prompt, max_tokens):
    llm.reset()
    t0 = time.perf_counter()
    first = None
    n = 0
    for chunk in llm.create_chat_completion(
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens, temperature=0.0, stream=True,
    ):
        delta = chunk["choices"][0]["delta"].get("content")
        if delta:
            n += 1
            if first is None:
                first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    return (first or total) * 1000, total * 1000, n


def peak_rss_mb():
    # VmHWM of this process (ru_maxrss would include the parent's peak, inherited at fork).
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0.0


run(short_prompt, 4)
ttft, gen, pp = [], [], []
for _ in range(runs):
    t, total, n = run(short_prompt, tokens)
    ttft.append(t)
    if n > 1:
        gen.append((n - 1) / ((total - t) / 1000))
    llm.reset()
    ids = llm.tokenize(long_prompt.encode())
    t0 = time.perf_counter()
    llm.eval(ids)
    pp.append(len(ids) / (time.perf_counter() - t0))

print(json.dumps({
    "engine": "llama.cpp",
    "load_ms": load_ms,
    "ttft_ms": median(ttft),
    "prompt_tokens_per_s": median(pp),
    "gen_tokens_per_s": median(gen),
    "peak_rss_mb": peak_rss_mb(),
}))
