//! How well the sensitive-information detector (`strata::guardrails::sensitive::find`)
//! does on a labelled evaluation set, `tests/data/guardrails/pii.jsonl`: precision and
//! recall per entity type and overall.
//!
//! Each line of the set is `{"text": …, "entities": [{"type": …, "value": …}]}`: realistic
//! support tickets, chat messages, logs, config snippets and emails, in English and Korean,
//! with the values a careful human labeller would mark. About 40% are near misses labelled
//! with nothing (numbers failing Luhn, RRN-shaped numbers with impossible dates, SSNs in
//! excluded ranges, IBANs with a wrong checksum, order and tracking numbers, ISBNs, IMEIs,
//! timestamps, hashes, UUIDs, version strings, key look-alikes in prose). Where a careful
//! labeller and the detector's rules disagree, the label follows the labeller (a toll-free
//! `1-800-…` number, a PGP private key block, an RRN written without its hyphen, an IMEI,
//! `version 1.2.3.4`): the test measures, it does not demand perfection.
//!
//! A finding is a true positive when it has the gold value's type and its byte span covers
//! at least half of the gold span; each gold value is matched once. Unmatched gold values
//! are misses (false negatives), unmatched findings false positives of their own type.
//!
//! The table (with every miss and false positive) is printed; run
//! `cargo test --test guardrails_pii_eval -- --nocapture` to see it. The floors below sit a
//! little under the measured figures, so a regression in any detector fails the test, and
//! the dataset's own size is asserted so that it cannot shrink silently.

use std::collections::{BTreeMap, HashMap};

use strata::guardrails::sensitive::{find, EntityType};

/// Minimum (precision, recall) per type: a little below what was measured.
const FLOORS: [(EntityType, f64, f64); 12] = [
    (EntityType::Email, 0.97, 0.97),
    (EntityType::Phone, 0.97, 0.83),
    (EntityType::CreditCard, 0.84, 0.97),
    (EntityType::UsSsn, 0.97, 0.97),
    (EntityType::KrRrn, 0.88, 0.92),
    (EntityType::Iban, 0.97, 0.97),
    (EntityType::Ipv4, 0.89, 0.97),
    (EntityType::Ipv6, 0.97, 0.97),
    (EntityType::Url, 0.97, 0.92),
    (EntityType::AwsAccessKey, 0.97, 0.97),
    (EntityType::PrivateKey, 0.97, 0.85),
    (EntityType::ApiKey, 0.97, 0.97),
];

/// Minimum overall (micro-averaged) precision and recall.
const OVERALL_FLOOR: (f64, f64) = (0.94, 0.94);

/// Minimum size of the set: examples, near misses (nothing labelled), examples in Korean.
const MIN_EXAMPLES: usize = 300;
const MIN_NEAR_MISSES: usize = 100;
const MIN_HANGUL: usize = 40;

/// Minimum gold values per type (fewer private keys: they are long).
fn min_gold(entity: EntityType) -> usize {
    match entity {
        EntityType::PrivateKey => 6,
        _ => 15,
    }
}

/// A labelled value located in its text, in byte offsets.
struct Gold {
    entity: EntityType,
    start: usize,
    end: usize,
}

struct Example {
    /// 1-based line in the JSONL file.
    line: usize,
    text: String,
    gold: Vec<Gold>,
}

fn dataset_path() -> String {
    format!(
        "{}/tests/data/guardrails/pii.jsonl",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Reads the set; the k-th listing of a value is its k-th occurrence in the text.
fn load() -> Vec<Example> {
    let path = dataset_path();
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut examples = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{path}:{line_no}: invalid JSON: {e}"));
        let text = v["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}:{line_no}: no \"text\""))
            .to_string();
        let entities = v["entities"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}:{line_no}: no \"entities\" array"));
        let mut next: HashMap<String, usize> = HashMap::new();
        let mut gold = Vec::new();
        for e in entities {
            let entity: EntityType = serde_json::from_value(e["type"].clone())
                .unwrap_or_else(|err| panic!("{path}:{line_no}: bad type {}: {err}", e["type"]));
            let value = e["value"]
                .as_str()
                .unwrap_or_else(|| panic!("{path}:{line_no}: no \"value\""));
            assert!(!value.is_empty(), "{path}:{line_no}: empty value");
            let from = next.get(value).copied().unwrap_or(0);
            let start = text[from..]
                .find(value)
                .map(|p| from + p)
                .unwrap_or_else(|| {
                    panic!("{path}:{line_no}: {value:?} does not occur (again) in the text")
                });
            let end = start + value.len();
            next.insert(value.to_string(), end);
            gold.push(Gold { entity, start, end });
        }
        examples.push(Example {
            line: line_no,
            text,
            gold,
        });
    }
    examples
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }

    /// 1.0 when nothing was found (no false positive either).
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// 1.0 when nothing was labelled.
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

fn overlap(a: (usize, usize), b: (usize, usize)) -> usize {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

/// Counts per type, and a line per miss and false positive.
fn evaluate(examples: &[Example]) -> (BTreeMap<EntityType, Counts>, Vec<String>) {
    let mut counts: BTreeMap<EntityType, Counts> = EntityType::ALL
        .iter()
        .map(|e| (*e, Counts::default()))
        .collect();
    let mut errors = Vec::new();
    for ex in examples {
        let findings = find(&ex.text);
        let mut used = vec![false; findings.len()];
        for g in &ex.gold {
            // The unmatched finding of the same type that covers most of the gold span.
            let best = findings
                .iter()
                .enumerate()
                .filter(|(i, f)| !used[*i] && f.entity == g.entity)
                .map(|(i, f)| (i, overlap((f.start, f.end), (g.start, g.end))))
                .filter(|(_, o)| 2 * o >= g.end - g.start && *o > 0)
                .max_by_key(|(_, o)| *o);
            let c = counts.get_mut(&g.entity).expect("every type counted");
            match best {
                Some((i, _)) => {
                    used[i] = true;
                    c.tp += 1;
                }
                None => {
                    c.fn_ += 1;
                    let got: Vec<String> = findings
                        .iter()
                        .map(|f| format!("{:?} {:?}", f.entity, &ex.text[f.start..f.end]))
                        .collect();
                    errors.push(format!(
                        "line {:>3} MISS {:?} {:?} (found: {})",
                        ex.line,
                        g.entity,
                        &ex.text[g.start..g.end],
                        if got.is_empty() {
                            "nothing".to_string()
                        } else {
                            got.join(", ")
                        }
                    ));
                }
            }
        }
        for (f, _) in findings.iter().zip(&used).filter(|(_, u)| !**u) {
            counts.get_mut(&f.entity).expect("every type counted").fp += 1;
            errors.push(format!(
                "line {:>3} FP   {:?} {:?} in {:?}",
                ex.line,
                f.entity,
                &ex.text[f.start..f.end],
                ex.text
            ));
        }
    }
    (counts, errors)
}

fn table(counts: &BTreeMap<EntityType, Counts>) -> String {
    let mut out = format!(
        "{:<16} {:>5} {:>4} {:>4} {:>4} {:>9} {:>7} {:>6}\n",
        "type", "gold", "tp", "fp", "fn", "precision", "recall", "f1"
    );
    let mut total = Counts::default();
    let mut row = |name: &str, c: &Counts| {
        out.push_str(&format!(
            "{:<16} {:>5} {:>4} {:>4} {:>4} {:>9.3} {:>7.3} {:>6.3}\n",
            name,
            c.tp + c.fn_,
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f1()
        ));
    };
    for (e, c) in counts {
        let name = serde_json::to_value(e).expect("type name");
        row(name.as_str().unwrap_or("?"), c);
        total.add(*c);
    }
    row("overall (micro)", &total);
    out
}

#[test]
fn the_dataset_is_large_and_varied_enough() {
    let examples = load();
    let near_misses = examples.iter().filter(|e| e.gold.is_empty()).count();
    let hangul = examples
        .iter()
        .filter(|e| {
            e.text
                .chars()
                .any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
        })
        .count();
    assert!(
        examples.len() >= MIN_EXAMPLES,
        "{} examples, want at least {MIN_EXAMPLES}",
        examples.len()
    );
    assert!(
        near_misses >= MIN_NEAR_MISSES,
        "{near_misses} near misses, want at least {MIN_NEAR_MISSES}"
    );
    assert!(
        hangul >= MIN_HANGUL,
        "{hangul} examples in Korean, want at least {MIN_HANGUL}"
    );
    for entity in EntityType::ALL {
        let n = examples
            .iter()
            .flat_map(|e| &e.gold)
            .filter(|g| g.entity == entity)
            .count();
        assert!(
            n >= min_gold(entity),
            "{n} labelled {entity:?} values, want at least {}",
            min_gold(entity)
        );
    }
}

#[test]
fn precision_and_recall_per_type_stay_above_their_floors() {
    let examples = load();
    let (counts, errors) = evaluate(&examples);
    let near_misses = examples.iter().filter(|e| e.gold.is_empty()).count();
    println!(
        "sensitive-info evaluation: {} examples ({near_misses} near misses) from {}\n",
        examples.len(),
        dataset_path()
    );
    println!("{}", table(&counts));
    println!("misses and false positives ({}):", errors.len());
    for e in &errors {
        println!("  {e}");
    }

    for entity in EntityType::ALL {
        assert!(
            FLOORS.iter().any(|(e, _, _)| *e == entity),
            "{entity:?} has no floor"
        );
    }
    let mut below = Vec::new();
    for (entity, min_p, min_r) in FLOORS {
        let c = counts[&entity];
        if c.precision() < min_p {
            below.push(format!(
                "{entity:?} precision {:.3} < {min_p}",
                c.precision()
            ));
        }
        if c.recall() < min_r {
            below.push(format!("{entity:?} recall {:.3} < {min_r}", c.recall()));
        }
    }
    let mut total = Counts::default();
    for c in counts.values() {
        total.add(*c);
    }
    if total.precision() < OVERALL_FLOOR.0 {
        below.push(format!(
            "overall precision {:.3} < {}",
            total.precision(),
            OVERALL_FLOOR.0
        ));
    }
    if total.recall() < OVERALL_FLOOR.1 {
        below.push(format!(
            "overall recall {:.3} < {}",
            total.recall(),
            OVERALL_FLOOR.1
        ));
    }
    assert!(
        below.is_empty(),
        "below the floor:\n  {}\n{}",
        below.join("\n  "),
        table(&counts)
    );
}
