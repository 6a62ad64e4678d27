//! Evaluation jobs and batch inference through the real binary: the local model with
//! greedy decoding (same scores twice), scripted answers scored against hand-computed
//! values (judges included), a job killed with SIGKILL that resumes without recomputing
//! finished items, the real OpenAI-compatible server beside the local model (a job and a
//! comparison), exports, comparisons of two jobs, and batch runs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

const CAPITALS: &str = r#"{"prompt": "What is the capital of France? Answer with one word.", "reference": "Paris", "tags": ["geo", "europe"]}
{"prompt": "What is the capital of Japan? Answer with one word.", "reference": "Tokyo", "tags": ["geo", "asia"]}
not json at all
{"prompt": "What is 2 + 2? Answer with a number.", "reference": "4", "tags": ["math"]}
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn json_out(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Runs the binary on `dir` with `args` and reads its JSON output.
fn run_json(dir: &Path, args: &[&str]) -> Value {
    json_out(&common::strata(dir).args(args).output().unwrap())
}

/// The mean of `metric` for the job's first model.
fn mean(summary: &Value, metric: &str) -> f64 {
    summary["models"][0]["metrics"][metric]
        .as_f64()
        .unwrap_or_else(|| panic!("no {metric} in {summary}"))
}

/// A config with OpenAI-compatible providers (name → base URL), one chat model each
/// (`NAME/m`, $1 per million input tokens, $2 per million output).
fn providers_config(dir: &Path, providers: &[(&str, &str)]) {
    let mut text = String::from("max_retries = 0\n");
    for (name, url) in providers {
        text.push_str(&format!(
            "[providers.{name}]\nkind = \"openai\"\nbase_url = \"{url}\"\n"
        ));
    }
    for (name, _) in providers {
        text.push_str(&format!(
            "[[models]]\nid = \"{name}/m\"\nprovider = \"{name}\"\ncapabilities = [\"chat\"]\ninput_price = 1.0\noutput_price = 2.0\n"
        ));
    }
    write(dir, "config.toml", &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_job_is_deterministic_reports_bad_lines_exports_and_compares() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "capitals.jsonl", CAPITALS);
    let file = write(
        d,
        "capitals.toml",
        r#"name = "capitals"
dataset = "capitals.jsonl"
models = ["local/smollm2-135m"]
temperature = 0.0
max_tokens = 32
metrics = ["exact_match", "contains", "token_f1", "rouge_l", "embedding_similarity", "latency"]
"#,
    );
    let first = common::strata(d)
        .args(["eval", "run"])
        .arg(&file)
        .arg("--json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr).to_string();
    let a = json_out(&first);
    // The bad line is named with its number, and counted.
    assert!(stderr.contains("line 3"), "{stderr}");
    assert_eq!(a["bad_lines"][0]["line"], 3);
    assert_eq!(a["items"], 3);
    assert_eq!(a["models"][0]["items"], 3);
    for metric in [
        "exact_match",
        "contains",
        "token_f1",
        "rouge_l",
        "embedding_similarity",
        "latency_ms",
    ] {
        let m = mean(&a, metric);
        assert!(m.is_finite(), "{metric}: {m}");
    }
    assert!(mean(&a, "latency_ms") > 0.0);
    let similarity = mean(&a, "embedding_similarity");
    assert!(similarity > 0.0 && similarity <= 1.0 + 1e-6, "{similarity}");

    // Greedy decoding: a fresh job gives the same scores.
    let b = json_out(
        &common::strata(d)
            .args(["eval", "run"])
            .arg(&file)
            .args(["--json", "--fresh"])
            .output()
            .unwrap(),
    );
    assert_ne!(a["job"], b["job"]);
    for metric in [
        "exact_match",
        "contains",
        "token_f1",
        "rouge_l",
        "embedding_similarity",
    ] {
        assert!(
            (mean(&a, metric) - mean(&b, metric)).abs() < 1e-9,
            "{metric}: {} vs {}",
            mean(&a, metric),
            mean(&b, metric)
        );
    }
    let job_a = a["job"].as_str().unwrap().to_string();
    let job_b = b["job"].as_str().unwrap().to_string();

    // list, show, export.
    let list = run_json(d, &["eval", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let shown = run_json(d, &["eval", "show", &job_a, "--json", "--items"]);
    let results = shown["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let lines: Vec<u64> = results
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 2, 4]);
    assert!(results
        .iter()
        .all(|r| r["run"].is_string() && r["output"].is_string()));
    let csv = common::strata(d)
        .args(["eval", "export", &job_a, "--format", "csv"])
        .output()
        .unwrap();
    let mut reader = csv::Reader::from_reader(&csv.stdout[..]);
    let header = reader.headers().unwrap().clone();
    assert!(
        header.iter().any(|h| h == "score:exact_match"),
        "{header:?}"
    );
    assert_eq!(reader.records().count(), 3);
    let md = common::strata(d)
        .args(["eval", "export", &job_a, "--format", "md"])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("| model | items | failed | exact_match"),
        "{md}"
    );
    assert!(md.contains("line 3: not JSON"), "{md}");
    let bad_format = common::strata(d)
        .args(["eval", "export", &job_a, "--format", "xml"])
        .output()
        .unwrap();
    assert!(!bad_format.status.success());
    assert!(String::from_utf8_lossy(&bad_format.stderr).contains("use csv, json or md"));

    // The same model twice: no metric differs significantly.
    let cmp = run_json(d, &["eval", "compare", &job_a, &job_b, "--json"]);
    let metrics = cmp["pairs"][0]["metrics"].as_array().unwrap();
    assert!(metrics.iter().any(|m| m["column"] == "exact_match"));
    for m in metrics.iter().filter(|m| m["column"] != "latency_ms") {
        assert_eq!(m["diff"]["significant"], false, "{m}");
        assert_eq!(m["diff"]["diff"], 0.0, "{m}");
    }

    // --fail-under for CI: exit 1 below the bar, 0 above it, a clear error for a typo.
    let below = common::strata(d)
        .args(["eval", "run"])
        .arg(&file)
        .args(["--fail-under", "token_f1=1.01"])
        .output()
        .unwrap();
    assert_eq!(below.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&below.stderr).contains("token_f1"));
    common::strata(d)
        .args(["eval", "run"])
        .arg(&file)
        .args(["--fail-under", "token_f1=0", "--fail-under", "contains=0"])
        .assert()
        .success();
    common::strata(d)
        .args(["eval", "run"])
        .arg(&file)
        .args(["--fail-over", "latency_ms=100000000"])
        .assert()
        .success();
    // Mistakes are caught before anything runs: no new job.
    let jobs = run_json(d, &["eval", "list", "--json"])
        .as_array()
        .unwrap()
        .len();
    for (flag, threshold, error) in [
        ("--fail-under", "exact=0.5", "no metric `exact`"),
        (
            "--fail-under",
            "latency_ms=5",
            "use --fail-over latency_ms=5",
        ),
        (
            "--fail-over",
            "token_f1=0.5",
            "use --fail-under token_f1=0.5",
        ),
        ("--fail-under", "token_f1=high", "is not a number"),
    ] {
        let out = common::strata(d)
            .args(["eval", "run"])
            .arg(&file)
            .args([flag, threshold])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{flag} {threshold}: {stderr}");
    }
    assert_eq!(
        run_json(d, &["eval", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        jobs
    );

    // Evaluation sessions stay out of the chat's session list; they can be pruned.
    let sessions = run_json(d, &["sessions", "list", "--json"]);
    assert_eq!(sessions.as_array().unwrap().len(), 0, "{sessions}");
    let pruned = common::strata(d)
        .args(["sessions", "prune", "--origin", &format!("eval:{job_a}")])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&pruned.stdout).contains("deleted 3 session(s)"),
        "{}",
        String::from_utf8_lossy(&pruned.stdout)
    );
    // The job keeps its results.
    let again = run_json(d, &["eval", "show", &job_a, "--json", "--items"]);
    assert_eq!(again["results"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_answers_get_hand_computed_scores_and_judges_reasoning() {
    use common::scripted::{self, Ending};
    let answer = scripted::start(
        vec!["The capital ".into(), "is Paris.".into()],
        Ending::Finished,
    )
    .await;
    let judge = scripted::start(
        vec!["It matches the context. ".into(), "SCORE: 4".into()],
        Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    providers_config(d, &[("lab", &answer), ("judge", &judge)]);
    write(
        d,
        "data.jsonl",
        "{\"prompt\": \"Capital of France?\", \"reference\": \"Paris\", \"context\": \"Paris is the capital of France.\", \"tags\": [\"geo\"]}\n\
         {\"prompt\": \"Capital of Italy?\", \"reference\": \"Rome\"}\n",
    );
    write(
        d,
        "schema.json",
        r#"{"type": "object", "required": ["city"]}"#,
    );
    let file = write(
        d,
        "job.toml",
        r#"name = "scripted"
dataset = "data.jsonl"
models = ["lab/m"]
judge = "judge/m"
template = "Question: {{ prompt }}"
metrics = [
  "exact_match", "contains", "token_f1", "rouge_l", "bleu", "json_valid",
  { name = "regex", pattern = "Paris\\.$" },
  { name = "json_schema", schema = "schema.json" },
  { name = "rubric", rubric = "Names the right city." },
  "groundedness", "tokens", "cost", "errors", "ttft",
]
"#,
    );
    let run = run_json(d, &["eval", "run", file.to_str().unwrap(), "--json"]);
    let job = run["job"].as_str().unwrap();
    let shown = run_json(d, &["eval", "show", job, "--json", "--items"]);
    let results = shown["results"].as_array().unwrap();
    let paris = results.iter().find(|r| r["line"] == 1).unwrap();
    let rome = results.iter().find(|r| r["line"] == 2).unwrap();
    assert_eq!(paris["output"], "The capital is Paris.");
    assert_eq!(paris["prompt"], "Question: Capital of France?");
    let s = |r: &Value, k: &str| r["scores"][k].as_f64();
    // "the capital is paris" → tokens [capital, is, paris] against [paris].
    assert_eq!(s(paris, "exact_match"), Some(0.0));
    assert_eq!(s(paris, "contains"), Some(1.0));
    // P = 1/3, R = 1: F1 = 2·(1/3)·1 / (1/3 + 1) = 0.5; the LCS is also 1 token.
    assert!((s(paris, "token_f1").unwrap() - 0.5).abs() < 1e-9);
    assert!((s(paris, "rouge_l").unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(s(paris, "regex"), Some(1.0));
    assert_eq!(s(paris, "json_valid"), Some(0.0));
    assert_eq!(s(paris, "json_schema"), Some(0.0));
    assert!(paris["notes"]["json_schema"]
        .as_str()
        .unwrap()
        .contains("no JSON"));
    assert_eq!(s(rome, "contains"), Some(0.0));
    assert_eq!(s(rome, "token_f1"), Some(0.0));
    // BLEU of "the capital is paris ." against "paris": only the unigram "paris" matches
    // (p1 = 1/5; p2..p4 have no matches: smoothed 0.1/4, 0.1/3, 0.1/2), no brevity penalty.
    let expected_bleu =
        ((1.0f64 / 5.0).ln() + (0.1f64 / 4.0).ln() + (0.1f64 / 3.0).ln() + (0.1f64 / 2.0).ln())
            / 4.0;
    assert!(
        (s(paris, "bleu").unwrap() - expected_bleu.exp()).abs() < 1e-9,
        "{:?} vs {}",
        s(paris, "bleu"),
        expected_bleu.exp()
    );
    // The judge said SCORE: 4 → (4 - 1) / 4, and its reasoning is kept.
    assert_eq!(s(paris, "rubric"), Some(0.75));
    assert_eq!(s(paris, "groundedness"), Some(0.75));
    assert!(paris["notes"]["rubric"]
        .as_str()
        .unwrap()
        .contains("It matches the context"));
    // Only the line with a context is graded for groundedness.
    assert_eq!(s(rome, "groundedness"), None);
    // The scripted server reports 11 input tokens and one output token per piece.
    assert_eq!(s(paris, "input_tokens"), Some(11.0));
    assert_eq!(s(paris, "output_tokens"), Some(2.0));
    assert!((s(paris, "cost_usd").unwrap() - (11.0 * 1.0 + 2.0 * 2.0) / 1e6).abs() < 1e-12);
    assert_eq!(s(paris, "errors"), Some(0.0));
    assert!(s(paris, "ttft_ms").unwrap() > 0.0);
    assert_eq!(mean(&run, "contains"), 0.5);

    // Another dataset whose lines have no ids: pairing them by line number would pair
    // different questions, so the comparison is refused with what to do.
    write(
        d,
        "other.jsonl",
        "{\"prompt\": \"Capital of Spain?\", \"reference\": \"Madrid\"}\n",
    );
    let other = write(
        d,
        "other.toml",
        "name = \"other\"\ndataset = \"other.jsonl\"\nmodels = [\"lab/m\"]\nmetrics = [\"contains\"]\n",
    );
    let b = run_json(d, &["eval", "run", other.to_str().unwrap(), "--json"]);
    let cmp = common::strata(d)
        .args(["eval", "compare", job, b["job"].as_str().unwrap()])
        .output()
        .unwrap();
    assert!(!cmp.status.success());
    let err = String::from_utf8_lossy(&cmp.stderr);
    assert!(
        err.contains("different datasets") && err.contains("has no `id`"),
        "{err}"
    );

    // Bad job files name what is wrong.
    for (name, toml, error) in [
        (
            "bad.toml",
            "name = \"x\"\ndataset = \"data.jsonl\"\nmodels = [\"lab/m\"]\nmetrics = [\"exactmatch\"]\n",
            "unknown metric `exactmatch`",
        ),
        (
            "missing.toml",
            "name = \"x\"\ndataset = \"nope.jsonl\"\nmodels = [\"lab/m\"]\n",
            "cannot read the dataset",
        ),
        (
            "wide.toml",
            "name = \"x\"\ndataset = \"data.jsonl\"\nmodels = [\"lab/m\"]\nconcurrency = 100000\n",
            "`concurrency` is 100000",
        ),
    ] {
        let file = write(d, name, toml);
        let out = common::strata(d)
            .args(["eval", "run"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{name}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_job_resumes_without_recomputing_finished_items() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lines: String = (1..=12)
        .map(|i| format!("{{\"prompt\": \"Count to {i}.\", \"reference\": \"{i}\"}}\n"))
        .collect();
    write(d, "count.jsonl", &lines);
    let file = write(
        d,
        "count.toml",
        "name = \"count\"\ndataset = \"count.jsonl\"\nmodels = [\"local/smollm2-135m\"]\n\
         temperature = 0.0\nmax_tokens = 24\nconcurrency = 1\nmetrics = [\"contains\", \"latency\"]\n",
    );
    let bin = assert_cmd::cargo::cargo_bin("strata");
    let mut child = std::process::Command::new(&bin)
        .args(["eval", "run"])
        .arg(&file)
        .env("STRATA_CONFIG", d.join("config.toml"))
        .env("STRATA_DATA_DIR", d.join("data"))
        .env("STRATA_CACHE_DIR", common::model_dir())
        .env("XDG_STATE_HOME", d.join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Progress lines ("N/12 items, …") come after each item is stored.
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        let done: usize = line
            .split('/')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if done >= 3 {
            break;
        }
    }
    // A real signal: SIGKILL, no chance to clean up.
    let killed_us = strata::store::now_micros();
    unsafe_kill(child.id());
    let _ = child.wait();
    assert!(seen.contains("/12 items"), "{seen}");

    // Another concurrency computes the same job: it resumes.
    let resumed = common::strata(d)
        .args(["eval", "run"])
        .arg(&file)
        .args(["--json", "--concurrency", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr).to_string();
    let summary = json_out(&resumed);
    let already: usize = stderr
        .split("items already done")
        .next()
        .and_then(|s| s.rsplit(": ").next())
        .and_then(|s| s.split(" of ").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no resume line in {stderr}"));
    assert!(already >= 3, "{stderr}");
    assert_eq!(summary["models"][0]["items"], 12);
    let job = summary["job"].as_str().unwrap();
    let shown = run_json(d, &["eval", "show", job, "--json", "--items"]);
    let results = shown["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    // Exactly the items finished before the kill were kept, not computed again.
    let before = results
        .iter()
        .filter(|r| r["finished_us"].as_u64().unwrap() < killed_us)
        .count();
    assert_eq!(before, already);
    let list = run_json(d, &["eval", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "resumed, not a new job");
    assert_eq!(list[0]["status"], "done");
}

fn unsafe_kill(pid: u32) {
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_and_a_comparison_on_the_real_server_beside_the_local_model() {
    let server = common::LlamaServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    providers_config(d, &[("llama", &server.base_url)]);
    write(d, "capitals.jsonl", CAPITALS);
    let file = write(
        d,
        "two.toml",
        "name = \"two\"\ndataset = \"capitals.jsonl\"\nmodels = [\"local/smollm2-135m\", \"llama/m\"]\n\
         temperature = 0.0\nmax_tokens = 16\nconcurrency = 1\n\
         metrics = [\"contains\", \"token_f1\", \"latency\", \"ttft\", \"tokens\", \"errors\"]\n",
    );
    let summary = run_json(d, &["eval", "run", file.to_str().unwrap(), "--json"]);
    let models = summary["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for m in models {
        assert_eq!(m["items"], 3, "{m}");
        assert_eq!(m["failed"], 0, "{m}");
        assert_eq!(m["metrics"]["errors"], 0.0, "{m}");
        assert!(m["metrics"]["latency_ms"].as_f64().unwrap() > 0.0);
        assert!(m["metrics"]["output_tokens"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(models[1]["model"], "llama/m");

    // A comparison: both models answer at once through the compare view's runner.
    let rt = std::sync::Arc::new(
        common::runtime(
            d,
            strata::config::Config::load(&d.join("config.toml")).unwrap(),
        )
        .await,
    );
    let orchestrator = strata::orchestrator::Orchestrator::new(rt).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let agents = ["local/smollm2-135m", "llama/m"]
        .iter()
        .map(|m| {
            let mut a = strata::sessions::AgentConfig::default_for(m);
            a.params.temperature = Some(0.0);
            a.params.max_tokens = Some(16);
            a
        })
        .collect();
    strata::tui::compare_jobs::run(
        strata::tui::compare_jobs::CompareJob::Ask {
            seq: 1,
            question: "Name a colour.".into(),
            agents,
            context: None,
            cancel: Default::default(),
        },
        &orchestrator,
        &strata::tui::outbox::Outbox::new(move |m| tx.send(m).is_ok()),
    );
    let mut texts = [String::new(), String::new()];
    let mut finished = [false, false];
    while !finished.iter().all(|f| *f) {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(120), rx.recv())
            .await
            .expect("both answered in time")
            .unwrap();
        if let strata::tui::compare_jobs::CompareMsg::Column { column, event, .. } = msg {
            match event {
                strata::tui::compare_jobs::ColumnEvent::Text { text, .. } => {
                    texts[column].push_str(&text)
                }
                strata::tui::compare_jobs::ColumnEvent::Finished { error, answer, .. } => {
                    assert!(error.is_none(), "column {column}: {error:?}");
                    assert_eq!(answer.content, texts[column]);
                    finished[column] = true;
                }
                _ => {}
            }
        }
    }
    assert!(texts.iter().all(|t| !t.trim().is_empty()), "{texts:?}");
    // The comparison's sessions are hidden, and can be pruned.
    let store = orchestrator.sessions.clone();
    assert_eq!(store.made_by("compare").unwrap().len(), 2);
    assert!(store.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_writes_every_line_in_order_with_totals() {
    use common::scripted::{self, Ending};
    let url = scripted::start(vec!["ok".into()], Ending::Finished).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    providers_config(d, &[("lab", &url)]);
    write(
        d,
        "in.jsonl",
        "{\"id\": \"a\", \"prompt\": \"one\"}\n\
         {\"prompt\": \"two\"}\n\
         {broken\n\
         {\"id\": \"d\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}, {\"role\": \"user\", \"content\": \"four\"}]}\n",
    );
    let out = d.join("out.jsonl");
    let summary = json_out(
        &common::strata(d)
            .args(["batch", "run"])
            .arg(d.join("in.jsonl"))
            .args(["-m", "lab/m", "-o"])
            .arg(&out)
            .args(["--json", "--concurrency", "3"])
            .output()
            .unwrap(),
    );
    assert_eq!(summary["items"], 3);
    assert_eq!(summary["ok"], 3);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["bad_lines"], 1);
    assert_eq!(summary["input_tokens"], 33);
    assert_eq!(summary["output_tokens"], 3);
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let order: Vec<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(order, [1, 2, 3, 4]);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["output"], "ok");
    assert_eq!(lines[1]["id"], "line 2");
    assert_eq!(lines[2]["status"], "bad_input");
    assert!(lines[2]["error"].as_str().unwrap().contains("not JSON"));
    assert_eq!(lines[3]["id"], "d");
    // The batch is a job: listed, and its runs are stored.
    let list = run_json(d, &["eval", "list", "--json"]);
    assert_eq!(list[0]["kind"], "batch");
    // An unknown model is refused before anything runs.
    let bad = common::strata(d)
        .args(["batch", "run"])
        .arg(d.join("in.jsonl"))
        .args(["-m", "nope/x", "-o"])
        .arg(d.join("x.jsonl"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope/x"));
    assert!(!d.join("x.jsonl").exists());
}
