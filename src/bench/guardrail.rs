//! `strata bench guardrail`: ApplyGuardrail time per KB on generated 1 KB and 10 KB texts
//! with every policy on, split into deterministic policies (patterns, words) and
//! model-based ones (embeddings); the streaming output check's throughput; and PII
//! precision/recall on a generated labelled corpus, optionally beside Microsoft Presidio
//! (`--presidio`, which runs `benches/presidio/setup.sh` and `compare.py` on the same file).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::median;
use crate::guardrails::embed::{EmbeddingCache, DEFAULT_EMBEDDINGS_MODEL};
use crate::guardrails::engine::{ApplyContext, Guardrail, PolicyKind, Source};
use crate::guardrails::policy::Policy;
use crate::guardrails::sensitive::{self, EntityType};
use crate::guardrails::GuardrailCheck;
use crate::runtime::checks::{Check, DecisionLog};
use crate::runtime::embeddings::Embedder;
use crate::runtime::pull::ensure_pulled;
use crate::runtime::release::Releaser;
use crate::runtime::Runtime;

/// Options of `strata bench guardrail`.
#[derive(Debug, Clone, clap::Args)]
pub struct GuardrailBenchArgs {
    /// Measured calls per text size (the median is reported).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Texts in the PII corpus.
    #[arg(long, default_value_t = 200)]
    pub texts: usize,
    /// Also score Presidio on the same corpus (sets up its venv once, outside the clone).
    #[arg(long)]
    pub presidio: bool,
    /// Keep the generated PII corpus here (JSONL, code-point offsets).
    #[arg(long, value_name = "FILE")]
    pub corpus: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// The policy with everything on that the timing runs use (content filters at medium: at
/// high, ordinary business text trips a filter now and then, which would end the stream).
const ALL_POLICIES: &str = r#"
name = "bench-all"
[content_filters]
hate = { input = "medium", output = "medium" }
insults = { input = "medium", output = "medium" }
sexual = { input = "medium", output = "medium" }
violence = { input = "medium", output = "medium" }
misconduct = { input = "medium", output = "medium" }
prompt_attack = { input = "medium", output = "medium" }
[[denied_topics]]
name = "investment advice"
definition = "Recommendations about which stocks, bonds or crypto assets to buy or sell."
examples = ["Should I buy Tesla shares now?", "Which crypto coin will go up next week?"]
[word_filters]
words = ["frobnicate", "project nightingale"]
profanity = true
[sensitive_information]
email = "anonymize"
phone = "anonymize"
credit_card = "anonymize"
us_ssn = "anonymize"
kr_rrn = "anonymize"
iban = "anonymize"
ipv4 = "anonymize"
ipv6 = "anonymize"
url = "anonymize"
aws_access_key = "anonymize"
private_key = "anonymize"
api_key = "anonymize"
[[sensitive_information.regex]]
name = "ticket"
pattern = "TCK-[0-9]{6}"
action = "anonymize"
[grounding]
grounding_threshold = 0.1
relevance_threshold = 0.1
"#;

#[derive(Debug, Default, Serialize)]
struct SizeFigures {
    kb: usize,
    deterministic_ms: f64,
    deterministic_ms_per_kb: f64,
    model_ms: f64,
    all_ms: f64,
    all_ms_per_kb: f64,
}

#[derive(Debug, Default, Serialize, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

pub async fn run(runtime: Arc<Runtime>, args: &GuardrailBenchArgs) -> Result<i32> {
    ensure_pulled(&runtime, DEFAULT_EMBEDDINGS_MODEL).await?;
    let policy = Policy::parse(ALL_POLICIES, "bench policy")?;
    let mut deterministic_policy = policy.clone();
    deterministic_policy.content_filters = Default::default();
    deterministic_policy.denied_topics.clear();
    deterministic_policy.grounding = None;
    let cache = Arc::new(EmbeddingCache::new(
        Arc::new(Embedder::unrecorded(
            runtime.clone(),
            DEFAULT_EMBEDDINGS_MODEL,
        )),
        None,
    ));
    let all = Guardrail::compile("bench-all", policy, Some(cache.clone()))
        .await
        .map_err(anyhow::Error::msg)?;
    let det = Guardrail::compile("bench-deterministic", deterministic_policy, None)
        .await
        .map_err(anyhow::Error::msg)?;

    let mut rng = StdRng::seed_from_u64(7);
    let mut sizes = Vec::new();
    for kb in [1usize, 10] {
        let (text, _) = generate(&mut rng, kb * 1024);
        let ctx = ApplyContext {
            query: Some("What does the support ticket say about the customer's account?".into()),
            sources: vec![generate(&mut rng, 2048).0],
        };
        // Warm-up: loads the model, fills caches.
        all.apply(Source::Output, &text, &ctx)
            .await
            .map_err(anyhow::Error::msg)?;
        let mut det_ms = Vec::new();
        let mut all_ms = Vec::new();
        let mut model_ms = Vec::new();
        for _ in 0..args.runs {
            let t = Instant::now();
            det.apply(Source::Output, &text, &ctx)
                .await
                .map_err(anyhow::Error::msg)?;
            det_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let a = all
                .apply(Source::Output, &text, &ctx)
                .await
                .map_err(anyhow::Error::msg)?;
            all_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            model_ms.push(
                a.assessments
                    .iter()
                    .filter(|r| {
                        !matches!(
                            r.policy,
                            PolicyKind::WordFilter | PolicyKind::SensitiveInformation
                        )
                    })
                    .map(|r| r.time_us as f64 / 1000.0)
                    .sum(),
            );
        }
        let kib = text.len() as f64 / 1024.0;
        let (d, a, m) = (
            median(&mut det_ms),
            median(&mut all_ms),
            median(&mut model_ms),
        );
        sizes.push(SizeFigures {
            kb,
            deterministic_ms: d,
            deterministic_ms_per_kb: d / kib,
            model_ms: m,
            all_ms: a,
            all_ms_per_kb: a / kib,
        });
    }

    // Streaming: a 10 KB answer in 4-byte pieces through the release contract.
    let (answer, _) = generate(&mut rng, 10 * 1024);
    let mut stream = Vec::new();
    for (label, g) in [("deterministic", &det), ("all", &all)] {
        let guardrail = Arc::new(
            Guardrail::compile(label, g.policy.clone(), Some(cache.clone()))
                .await
                .map_err(anyhow::Error::msg)?,
        );
        let check: Arc<dyn Check> = Arc::new(GuardrailCheck::new(guardrail, None));
        let checks = vec![check];
        let mut releaser = Releaser::default();
        let mut log = DecisionLog::default();
        let mut piece_start = 0;
        let t = Instant::now();
        let chars: Vec<(usize, char)> = answer.char_indices().collect();
        let mut blocked = None;
        for chunk in chars.chunks(4) {
            let end = chunk.last().map_or(piece_start, |(i, c)| i + c.len_utf8());
            // A block ends the stream (as in the pipeline); the bench text should not.
            if let Err(b) = releaser
                .push(&answer[piece_start..end], false, &checks, &mut log)
                .await
            {
                blocked = Some(b.reason);
                break;
            }
            piece_start = end;
        }
        if blocked.is_none() {
            if let Err(b) = releaser.push("", true, &checks, &mut log).await {
                blocked = Some(b.reason);
            }
        }
        // A block (a false positive on this ordinary text) ends the stream: the figures
        // cover what was streamed, and the block is reported.
        let secs = t.elapsed().as_secs_f64();
        let kib = piece_start.max(1) as f64 / 1024.0;
        stream.push(serde_json::json!({
            "policies": label,
            "kb_per_s": kib / secs,
            "ms_per_kb": secs * 1000.0 / kib,
            "blocked_at": blocked.as_ref().map(|r| format!("byte {piece_start}: {r}")),
        }));
    }

    // PII accuracy on a generated labelled corpus.
    let corpus: Vec<Labelled> = (0..args.texts).map(|_| generate(&mut rng, 600)).collect();
    let mut counts: std::collections::BTreeMap<String, Counts> = Default::default();
    let t = Instant::now();
    let mut found_all = Vec::new();
    for (text, _) in &corpus {
        found_all.push(sensitive::find(text));
    }
    let strata_ms_per_text = t.elapsed().as_secs_f64() * 1000.0 / corpus.len().max(1) as f64;
    let total_bytes: usize = corpus.iter().map(|(t, _)| t.len()).sum();
    let strata_ms_per_kb =
        t.elapsed().as_secs_f64() * 1000.0 / (total_bytes as f64 / 1024.0).max(1e-9);
    for ((_, gold), found) in corpus.iter().zip(&found_all) {
        let mut used = vec![false; gold.len()];
        for f in found {
            let hit = gold.iter().enumerate().position(|(i, (e, s, en))| {
                !used[i] && *e == f.entity && overlap(*s, *en, f.start, f.end) * 2 >= en - s
            });
            let name = crate::guardrails::engine::entity_name(f.entity);
            match hit {
                Some(i) => {
                    used[i] = true;
                    counts.entry(name).or_default().tp += 1;
                }
                None => counts.entry(name).or_default().fp += 1,
            }
        }
        for (i, (e, _, _)) in gold.iter().enumerate() {
            if !used[i] {
                counts
                    .entry(crate::guardrails::engine::entity_name(*e))
                    .or_default()
                    .fn_ += 1;
            }
        }
    }
    let total = counts.values().fold(Counts::default(), |a, c| Counts {
        tp: a.tp + c.tp,
        fp: a.fp + c.fp,
        fn_: a.fn_ + c.fn_,
    });

    let corpus_path = match &args.corpus {
        Some(p) => p.clone(),
        None => {
            std::env::temp_dir().join(format!("strata-pii-corpus-{}.jsonl", std::process::id()))
        }
    };
    write_corpus(&corpus_path, &corpus)?;
    let presidio = if args.presidio {
        Some(run_presidio(&corpus_path)?)
    } else {
        None
    };
    if args.corpus.is_none() {
        let _ = std::fs::remove_file(&corpus_path);
    }

    let per_type: serde_json::Value = counts
        .iter()
        .map(|(k, c)| {
            (
                k.clone(),
                serde_json::json!({"tp": c.tp, "fp": c.fp, "fn": c.fn_,
                    "precision": c.precision(), "recall": c.recall()}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let mut report = serde_json::json!({
        "apply": sizes,
        "streaming": stream,
        "pii": {
            "texts": corpus.len(),
            "per_type": per_type,
            "total": {"tp": total.tp, "fp": total.fp, "fn": total.fn_,
                "precision": total.precision(), "recall": total.recall()},
            "ms_per_text": strata_ms_per_text,
            "ms_per_kb": strata_ms_per_kb,
        },
    });
    if let Some(p) = &presidio {
        let p_recall = p["total"]["recall"].as_f64().unwrap_or(0.0);
        let p_fp = p["total"]["fp"].as_u64().unwrap_or(0) as f64;
        let p_ms = p["ms_per_text"].as_f64().unwrap_or(0.0);
        report["presidio"] = p.clone();
        report["vs_presidio"] = serde_json::json!({
            "recall_ratio": total.recall() / p_recall.max(1e-9),
            "false_positives": {"strata": total.fp, "presidio": p_fp},
            "speedup_per_text": p_ms / strata_ms_per_text.max(1e-9),
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &sizes);
    }
    Ok(0)
}

fn print_report(report: &serde_json::Value, sizes: &[SizeFigures]) {
    println!("ApplyGuardrail, every policy on (median of runs):");
    println!(
        "  {:>6} {:>16} {:>14} {:>12} {:>10} {:>12}",
        "text", "deterministic ms", "det ms/KB", "model ms", "all ms", "all ms/KB"
    );
    for s in sizes {
        println!(
            "  {:>4}KB {:>16.3} {:>14.3} {:>12.2} {:>10.2} {:>12.2}",
            s.kb,
            s.deterministic_ms,
            s.deterministic_ms_per_kb,
            s.model_ms,
            s.all_ms,
            s.all_ms_per_kb
        );
    }
    println!("Streaming output check (10 KB in 4-byte pieces):");
    for s in report["streaming"].as_array().into_iter().flatten() {
        println!(
            "  {:<14} {:>10.1} KB/s  {:>8.2} ms/KB{}",
            s["policies"].as_str().unwrap_or(""),
            s["kb_per_s"].as_f64().unwrap_or(0.0),
            s["ms_per_kb"].as_f64().unwrap_or(0.0),
            s["blocked_at"]
                .as_str()
                .map(|b| format!("  (blocked at {b})"))
                .unwrap_or_default()
        );
    }
    let pii = &report["pii"];
    println!(
        "PII on {} generated texts: precision {:.3}, recall {:.3}, {:.3} ms/text",
        pii["texts"],
        pii["total"]["precision"].as_f64().unwrap_or(0.0),
        pii["total"]["recall"].as_f64().unwrap_or(0.0),
        pii["ms_per_text"].as_f64().unwrap_or(0.0)
    );
    if let Some(p) = report.get("presidio") {
        println!(
            "Presidio {}: precision {:.3}, recall {:.3}, {:.3} ms/text",
            p["version"].as_str().unwrap_or("?"),
            p["total"]["precision"].as_f64().unwrap_or(0.0),
            p["total"]["recall"].as_f64().unwrap_or(0.0),
            p["ms_per_text"].as_f64().unwrap_or(0.0)
        );
        let v = &report["vs_presidio"];
        println!(
            "  recall ratio (strata/presidio) {:.2}; false positives strata {} vs presidio {}; strata {:.0}x faster per text",
            v["recall_ratio"].as_f64().unwrap_or(0.0),
            v["false_positives"]["strata"],
            v["false_positives"]["presidio"],
            v["speedup_per_text"].as_f64().unwrap_or(0.0)
        );
    }
}

fn overlap(a0: usize, a1: usize, b0: usize, b1: usize) -> usize {
    a1.min(b1).saturating_sub(a0.max(b0))
}

/// Runs Presidio on the corpus (setting up its venv once).
fn run_presidio(corpus: &std::path::Path) -> Result<serde_json::Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/presidio");
    let setup = std::process::Command::new("bash")
        .arg(root.join("setup.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run benches/presidio/setup.sh")?;
    if !setup.status.success() {
        bail!("benches/presidio/setup.sh failed (see above)");
    }
    let python = String::from_utf8_lossy(&setup.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    let out = std::process::Command::new(&python)
        .arg(root.join("compare.py"))
        .arg(corpus)
        .arg("--json")
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {python}"))?;
    if !out.status.success() {
        bail!("benches/presidio/compare.py failed (see above)");
    }
    serde_json::from_slice(&out.stdout).context("compare.py printed no JSON")
}

/// Writes the corpus as compare.py reads it: code-point offsets.
fn write_corpus(path: &std::path::Path, corpus: &[Labelled]) -> Result<()> {
    let mut out = String::new();
    for (i, (text, gold)) in corpus.iter().enumerate() {
        let cp = |b: usize| text[..b].chars().count();
        let entities: Vec<serde_json::Value> = gold
            .iter()
            .map(|(e, s, en)| {
                serde_json::json!({"type": crate::guardrails::engine::entity_name(*e),
                    "start": cp(*s), "end": cp(*en)})
            })
            .collect();
        out.push_str(
            &serde_json::json!({"id": i.to_string(), "text": text, "entities": entities})
                .to_string(),
        );
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

/// A generated text and its sensitive values: (type, byte start, byte end).
type Labelled = (String, Vec<(EntityType, usize, usize)>);

const NAMES: &[&str] = &[
    "Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun",
];

const FILLER: &[&str] = &[
    "Thanks for getting back to me about the order.",
    "The shipment left the warehouse on Tuesday and should arrive within 5 business days.",
    "Our team reviewed the logs from build 2024.11 and found nothing unusual.",
    "Please find the summary of yesterday's meeting below.",
    "Invoice INV-20931 covers 3 licenses at 49.99 each.",
    "Version 1.4.2 fixes the crash on start-up reported last week.",
    "We met at 10:30 on 2024-03-12 to discuss the roadmap for Q3.",
    "The tracking number is 1Z 999 AA1 01 2345 6784 for reference.",
    "고객님의 주문이 정상적으로 접수되었습니다.",
    "Let me know if the new schedule works for you and your manager.",
    "Order ORD-2024-000123 was refunded in full on Friday.",
    "Commit 9f8e7d6c fixed the flaky integration test.",
];

/// A text of about `bytes` bytes: filler sentences with sensitive values between them,
/// and the values' (type, byte start, byte end).
fn generate(rng: &mut StdRng, bytes: usize) -> Labelled {
    let mut text = String::new();
    let mut gold = Vec::new();
    while text.len() < bytes {
        // Each sentence different (a reference number and a name), as in real text: the
        // engine embeds a sentence once per text, so repeats would flatter it.
        let filler = FILLER[rng.gen_range(0..FILLER.len())];
        let name = NAMES[rng.gen_range(0..NAMES.len())];
        text.push_str(&format!(
            "{} {name} noted it under reference {}. ",
            filler.trim_end_matches('.'),
            rng.gen_range(1000..99999)
        ));
        if rng.gen_bool(0.45) {
            let (lead, entity, value) = entity(rng);
            text.push_str(lead);
            let start = text.len();
            text.push_str(&value);
            gold.push((entity, start, text.len()));
            text.push_str(". ");
        }
    }
    (text, gold)
}

fn digits(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn luhn_complete(rng: &mut StdRng, prefix: &str, len: usize) -> String {
    let mut body = prefix.to_string();
    body.push_str(&digits(rng, len - 1 - prefix.len()));
    for check in 0..10u32 {
        let candidate: Vec<u32> = body
            .chars()
            .chain(std::iter::once(char::from_digit(check, 10).unwrap_or('0')))
            .filter_map(|c| c.to_digit(10))
            .collect();
        if sensitive::luhn_valid(&candidate) {
            return format!("{body}{check}");
        }
    }
    body
}

fn iban(rng: &mut StdRng) -> String {
    // DE + check digits + 18 digits (bank code and account).
    let bban = digits(rng, 18);
    for cd in 2..99u32 {
        let candidate = format!("DE{cd:02}{bban}");
        if sensitive::iban_valid(&candidate) {
            return candidate;
        }
    }
    format!("DE00{bban}")
}

fn entity(rng: &mut StdRng) -> (&'static str, EntityType, String) {
    let names = ["jane.doe", "m.kim", "support", "alex_r", "billing.team"];
    let domains = ["example.com", "mail.example.org", "corp.example.net"];
    match rng.gen_range(0..11) {
        0 => (
            "Contact: ",
            EntityType::Email,
            format!(
                "{}@{}",
                names[rng.gen_range(0..5)],
                domains[rng.gen_range(0..3)]
            ),
        ),
        1 => (
            "Call me at ",
            EntityType::Phone,
            format!("({}) 555-{}", 200 + rng.gen_range(0..700), digits(rng, 4)),
        ),
        2 => ("Card: ", EntityType::CreditCard, {
            let n = luhn_complete(rng, "4", 16);
            format!("{} {} {} {}", &n[0..4], &n[4..8], &n[8..12], &n[12..16])
        }),
        3 => (
            "SSN ",
            EntityType::UsSsn,
            format!(
                "{}-{}-{}",
                100 + rng.gen_range(0..500),
                10 + rng.gen_range(0..89),
                1000 + rng.gen_range(0..8999)
            ),
        ),
        4 => ("IBAN ", EntityType::Iban, iban(rng)),
        5 => (
            "server at ",
            EntityType::Ipv4,
            format!(
                "10.{}.{}.{}",
                rng.gen_range(0..255),
                rng.gen_range(0..255),
                1 + rng.gen_range(0..254)
            ),
        ),
        6 => (
            "v6 address ",
            EntityType::Ipv6,
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                rng.gen_range(1..0xffff),
                rng.gen_range(1..0xffff),
                rng.gen_range(1..0xffff)
            ),
        ),
        7 => (
            "see ",
            EntityType::Url,
            format!("https://docs.example.com/page/{}", digits(rng, 4)),
        ),
        8 => ("주민등록번호 ", EntityType::KrRrn, {
            let (y, m, d) = (
                rng.gen_range(60..99),
                rng.gen_range(1..13),
                rng.gen_range(1..29),
            );
            format!(
                "{y:02}{m:02}{d:02}-{}{}",
                1 + rng.gen_range(0..2),
                digits(rng, 6)
            )
        }),
        9 => (
            "key ",
            EntityType::AwsAccessKey,
            format!(
                "AKIA{}",
                (0..16)
                    .map(|_| char::from(b'A' + rng.gen_range(0..26u8)))
                    .collect::<String>()
            ),
        ),
        _ => (
            "token ",
            EntityType::ApiKey,
            format!(
                "ghp_{}",
                (0..36)
                    .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
                    .collect::<String>()
            ),
        ),
    }
}
