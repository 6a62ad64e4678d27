//! Knowledge bases end to end, on the real embedding model (all-MiniLM-L6-v2) and real
//! sled: incremental sync, a sync killed by a real signal and resumed, filters, bad
//! input, URL sources, citations (a scripted answer for exact markers, and the real
//! SmolLM2 through `kb ask`).

mod common;

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use common::{scripted, strata, CHAT_MODEL};
use strata::config::Config;
use strata::knowledge::retrieve::{Filter, Hit, Mode, Query};
use strata::knowledge::spec::{Chunking, KbSpec, DEFAULT_EMBEDDING};
use strata::knowledge::{Knowledge, SyncOptions};
use strata::orchestrator::{Orchestrator, Turn, TurnInput};
use strata::runtime::context::Caller;
use strata::sessions::AgentConfig;

fn spec(name: &str, dir: &Path) -> KbSpec {
    KbSpec {
        name: name.into(),
        sources: vec![dir.display().to_string()],
        include: vec![],
        exclude: vec![],
        chunking: Chunking {
            size: 400,
            overlap: 60,
            ..Chunking::default()
        },
        embedding: DEFAULT_EMBEDDING.into(),
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const GARDEN: &str = "# Garden\n\n## Tomatoes\n\nTomatoes need full sun and deep watering twice a week. Stake them early so the stems do not break.\n\n## Compost\n\nCompost turns kitchen scraps into soil. Keep it moist and turn it every two weeks.\n";
const KITCHEN: &str = "# Kitchen\n\n## Bread\n\nBread dough rises best in a warm place. Knead it for ten minutes until it is smooth.\n\n## Knives\n\nA sharp knife is safer than a dull one. Hone the blade before each use.\n";
const BIKES: &str = "# Bikes\n\n## Tyres\n\nPump bicycle tyres to the pressure printed on the sidewall. Check it every week.\n";

async fn knowledge(dir: &Path) -> Arc<Knowledge> {
    let runtime = Arc::new(common::runtime(dir, Config::default()).await);
    Arc::new(Knowledge::new(runtime))
}

/// Syncs a base with the default options; it must succeed.
async fn sync(kb: &Knowledge, name: &str) -> strata::knowledge::SyncReport {
    kb.sync(name, &SyncOptions::default(), |_| {})
        .await
        .unwrap()
}

/// Retrieve (hybrid, no filter) from one base; it must succeed.
async fn search(kb: &Knowledge, name: &str, text: &str, k: usize) -> Vec<Hit> {
    kb.retrieve(&[name.to_string()], &Query::new(text, k))
        .await
        .unwrap()
}

/// Runs the binary on `dir`; it must succeed; returns its stdout.
fn run_ok(dir: &Path, args: &[&str]) -> String {
    let out = strata(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn files_of(report: &[String], dir: &Path) -> Vec<String> {
    let root = dir.display().to_string();
    report
        .iter()
        .map(|k| {
            k.strip_prefix(&root)
                .unwrap_or(k)
                .trim_start_matches('/')
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sync_embeds_only_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    write(&docs, "garden.md", GARDEN);
    write(&docs, "kitchen.md", KITCHEN);
    write(&docs, "bikes.md", BIKES);
    write(&docs, "logo.png", "\u{0}png");
    write(&docs, "notes.bin.txt", "abc\u{0}def");
    std::fs::write(
        docs.join("latin1.txt"),
        b"Caf\xe9 au lait is a coffee drink with hot milk.",
    )
    .unwrap();
    let kb = knowledge(&tmp.path().join("state")).await;
    kb.create(spec("home", &docs)).unwrap();
    let first = sync(&kb, "home").await;
    assert_eq!(first.added.len(), 4, "{first:?}");
    assert_eq!(first.embedded, first.chunks);
    assert_eq!(first.reused, 0);
    let skipped: Vec<_> = first
        .skipped
        .iter()
        .map(|s| {
            (
                files_of(std::slice::from_ref(&s.key), &docs)[0].clone(),
                s.reason.clone(),
            )
        })
        .collect();
    assert!(
        skipped
            .iter()
            .any(|(k, r)| k == "logo.png" && r.contains("binary")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|(k, r)| k == "notes.bin.txt" && r.contains("NUL")),
        "{skipped:?}"
    );
    assert_eq!(files_of(&first.lossy, &docs), ["latin1.txt"]);

    let hits = search(&kb, "home", "how often should I water tomato plants", 3).await;
    assert!(hits[0].chunk.file.key.ends_with("garden.md"));
    assert_eq!(hits[0].chunk.chunk.heading, ["Garden", "Tomatoes"]);

    // Touch one file (same bytes), change one section of another, delete one, add one.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(docs.join("bikes.md"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    write(
        &docs,
        "kitchen.md",
        &KITCHEN.replace("ten minutes", "twelve minutes"),
    );
    std::fs::remove_file(docs.join("garden.md")).unwrap();
    write(&docs, "boats.md", "# Boats\n\n## Knots\n\nA bowline makes a fixed loop at the end of a rope that will not slip.\n");
    let second = sync(&kb, "home").await;
    assert_eq!(files_of(&second.changed, &docs), ["kitchen.md"]);
    assert_eq!(files_of(&second.added, &docs), ["boats.md"]);
    assert_eq!(files_of(&second.removed, &docs), ["garden.md"]);
    assert_eq!(second.unchanged, 2, "bikes.md (touched) and latin1.txt");
    // Only the kitchen's changed chunk and the boats' chunk were embedded; the kitchen's
    // unchanged chunk kept its vector.
    let kitchen = kb
        .files("home")
        .unwrap()
        .into_iter()
        .find(|f| f.key.ends_with("kitchen.md"))
        .unwrap();
    let boats = kb
        .files("home")
        .unwrap()
        .into_iter()
        .find(|f| f.key.ends_with("boats.md"))
        .unwrap();
    assert_eq!((kitchen.chunks.len(), boats.chunks.len()), (2, 1));
    assert_eq!(
        second.embedded, 2,
        "the changed bread section and the new file: {second:?}"
    );
    assert_eq!(second.reused, second.chunks - 2);
    let hits = search(&kb, "home", "tomato watering", 5).await;
    assert!(
        hits.iter()
            .all(|h| !h.chunk.file.key.ends_with("garden.md")),
        "deleted file gone"
    );
    let hits = search(&kb, "home", "knot that makes a loop in a rope", 1).await;
    assert!(hits[0].chunk.file.key.ends_with("boats.md"));
    // Nothing changed: nothing is embedded.
    let third = sync(&kb, "home").await;
    assert_eq!((third.embedded, third.unchanged), (0, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_modes_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    write(&docs, "garden.md", GARDEN);
    write(&docs, "kitchen/knives.md", KITCHEN);
    let kb = knowledge(&tmp.path().join("state")).await;
    let err = kb
        .create(spec("x", &tmp.path().join("nowhere")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nowhere") && err.contains("does not exist"),
        "{err}"
    );
    let mut bad = spec("bad name", &docs);
    assert!(kb
        .create(bad.clone())
        .unwrap_err()
        .to_string()
        .contains("bad name"));
    bad.name = "m".into();
    bad.embedding = CHAT_MODEL.into();
    assert!(kb
        .create(bad)
        .unwrap_err()
        .to_string()
        .contains("not an embeddings model"));
    kb.create(spec("home", &docs)).unwrap();
    assert!(kb
        .create(spec("home", &docs))
        .unwrap_err()
        .to_string()
        .contains("already exists"));
    let err = kb
        .retrieve(&["home".into()], &Query::new("bread", 3))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("kb sync home"), "{err}");
    sync(&kb, "home").await;

    let mut q = Query::new("what should I do every week", 10);
    q.filter = Filter {
        path: Some("kitchen/*".into()),
        heading: None,
    };
    let hits = kb.retrieve(&["home".into()], &q).await.unwrap();
    assert!(!hits.is_empty() && hits.iter().all(|h| h.chunk.file.key.ends_with("knives.md")));
    q.filter = Filter {
        path: None,
        heading: Some("compost".into()),
    };
    let hits = kb.retrieve(&["home".into()], &q).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].chunk.chunk.heading, ["Garden", "Compost"]);

    // Keyword search finds an exact word; vector search scores by meaning.
    let mut q = Query::new("hone", 1);
    q.mode = Mode::Keyword;
    let hits = kb.retrieve(&["home".into()], &q).await.unwrap();
    assert!(hits[0].chunk.chunk.text.contains("Hone"));
    assert!(hits[0].keyword_score.is_some() && hits[0].vector_score.is_none());
    let mut q = Query::new("keeping a blade sharp", 1);
    q.mode = Mode::Vector;
    let hits = kb.retrieve(&["home".into()], &q).await.unwrap();
    assert!(hits[0].chunk.chunk.text.contains("knife"));

    // A model change asks to re-embed instead of mixing vectors.
    let options = SyncOptions {
        embedding: Some("openai/text-embedding-3-small".into()),
        ..SyncOptions::default()
    };
    let err = kb
        .sync("home", &options, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--reembed") && err.contains("local/all-minilm-l6-v2"),
        "{err}"
    );
    assert_eq!(
        kb.get("home").unwrap().spec.embedding,
        DEFAULT_EMBEDDING,
        "nothing changed"
    );
}

/// A sync killed with SIGKILL while embedding leaves the last committed state readable
/// and the next sync reuses every vector it stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_sync_keeps_the_last_state_and_resumes() {
    common::ensure_models().await;
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    write(&docs, "garden.md", GARDEN);
    let run = |args: &[&str]| run_ok(tmp.path(), args);
    run(&[
        "kb",
        "create",
        "big",
        "--source",
        docs.to_str().unwrap(),
        "--chunk-size",
        "300",
        "--overlap",
        "40",
    ]);
    run(&["kb", "sync", "big"]);
    // Many new documents: long enough to kill mid-way.
    for i in 0..60 {
        let body: String = (0..8)
            .map(|j| format!("## Part {j}\n\nDocument {i} part {j} talks about topic {} with plenty of words to embed, sentence after sentence, so that each section is its own chunk.\n\n", (i * 7 + j) % 13))
            .collect();
        write(
            &docs,
            &format!("doc{i:02}.md"),
            &format!("# Doc {i}\n\n{body}"),
        );
    }
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("strata"))
        .args(["kb", "sync", "big", "--batch", "16"])
        .env("STRATA_CONFIG", tmp.path().join("config.toml"))
        .env("STRATA_DATA_DIR", tmp.path().join("data"))
        .env("STRATA_CACHE_DIR", common::model_dir())
        .env("XDG_STATE_HOME", tmp.path().join("state"))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut embedded_before_kill = 0;
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("embedded ") {
            embedded_before_kill = rest.split('/').next().unwrap().parse().unwrap();
            if embedded_before_kill >= 64 {
                break;
            }
        }
    }
    assert!(
        embedded_before_kill >= 64,
        "the sync ended before it could be killed"
    );
    // A real SIGKILL mid-sync.
    child.kill().unwrap();
    child.wait().unwrap();

    let show: serde_json::Value =
        serde_json::from_str(&run(&["kb", "show", "big", "--json"])).unwrap();
    assert_eq!(
        show["files"], 1,
        "the base still holds its last complete state"
    );
    assert_eq!(show["interrupted_sync"], true);
    let hits: serde_json::Value =
        serde_json::from_str(&run(&["kb", "query", "big", "compost", "--json"])).unwrap();
    assert!(hits["results"][0]["source"]
        .as_str()
        .unwrap()
        .ends_with("garden.md"));

    let report: serde_json::Value =
        serde_json::from_str(&run(&["kb", "sync", "big", "--json"])).unwrap();
    assert_eq!(report["resumed"], true);
    let reused = report["reused"].as_u64().unwrap();
    let embedded = report["embedded"].as_u64().unwrap();
    // Vectors flushed before the kill are reused (the last batch may not have reached disk).
    assert!(
        reused as usize >= embedded_before_kill - 16,
        "reused {reused}, killed after {embedded_before_kill}"
    );
    assert_eq!(report["files"], 61);
    assert_eq!(reused + embedded, report["chunks"].as_u64().unwrap());
    let show: serde_json::Value =
        serde_json::from_str(&run(&["kb", "show", "big", "--json"])).unwrap();
    assert_eq!(
        (show["files"].as_u64(), show["interrupted_sync"].as_bool()),
        (Some(61), Some(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_sources_are_fetched_and_cited_by_url() {
    use axum::{routing::get, Router};
    use std::sync::atomic::{AtomicBool, Ordering};
    static DOWN: AtomicBool = AtomicBool::new(false);
    let app = Router::new()
        .route("/guide.html", get(|| async {
            if DOWN.load(Ordering::SeqCst) {
                return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
            }
            Ok(axum::response::Html("<html><head><title>Sailing</title></head><body><main><h1>Sailing</h1><h2>Reefing</h2><p>Reef the mainsail early when the wind rises above twenty knots.</p></main></body></html>"))
        }))
        .route("/missing", get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let tmp = tempfile::tempdir().unwrap();
    let kb = knowledge(tmp.path()).await;
    let url = format!("http://{addr}/guide.html");
    let mut s = spec("web", tmp.path());
    s.sources = vec![url.clone(), format!("http://{addr}/missing")];
    kb.create(s).unwrap();
    let report = sync(&kb, "web").await;
    assert_eq!(report.added, std::slice::from_ref(&url));
    assert!(
        report.skipped[0].reason.contains("404"),
        "{:?}",
        report.skipped
    );
    let hits = search(&kb, "web", "when to reduce sail area in strong wind", 1).await;
    assert_eq!(hits[0].chunk.file.key, url);
    assert_eq!(hits[0].chunk.chunk.heading, ["Sailing", "Reefing"]);
    assert_eq!(hits[0].chunk.file.title.as_deref(), Some("Sailing"));

    // The site is down at the next sync: the page keeps what the base had of it.
    DOWN.store(true, Ordering::SeqCst);
    let report = sync(&kb, "web").await;
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(report
        .skipped
        .iter()
        .any(|s| s.key == url && s.reason.contains("503") && s.reason.contains("kept")));
    assert_eq!(kb.files("web").unwrap().len(), 1);

    // Credentials in a URL would be stored: refused, without echoing them.
    let mut s = spec("secret", tmp.path());
    s.sources = vec!["https://alice:hunter2@example.com/docs".into()];
    let err = kb.create(s).unwrap_err().to_string();
    assert!(
        err.contains("credentials") && !err.contains("hunter2"),
        "{err}"
    );
}

/// RetrieveAndGenerate through the orchestrator with an exactly scripted answer: markers
/// map to the retrieved chunks, a stray one is dropped and reported, the prompt carries
/// the numbered passages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citations_map_to_retrieved_chunks_and_strays_are_dropped() {
    let url = scripted::start(
        vec![
            "Water tomatoes twice a week [1]. ".into(),
            "Turn compost often [2][9].".into(),
        ],
        scripted::Ending::Finished,
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    write(&docs, "garden.md", GARDEN);
    write(&docs, "bikes.md", BIKES);
    let runtime =
        Arc::new(common::runtime(&tmp.path().join("state"), scripted::config(&url)).await);
    let orchestrator = Orchestrator::new(runtime).unwrap();
    orchestrator.knowledge.create(spec("home", &docs)).unwrap();
    sync(&orchestrator.knowledge, "home").await;
    let mut agent = AgentConfig::default_for("scripted/model");
    agent.knowledge_bases = vec!["home".into()];
    agent.knowledge_top_k = Some(2);
    let session = orchestrator.sessions.create_with(agent).unwrap();
    let turn = Turn::new(
        session.id,
        TurnInput::Ask("How often do tomatoes need water?".into()),
        Caller::Test,
    );
    let (outcome, events) = common::run_turn(&orchestrator, turn).await;
    let answer = outcome.answer;
    assert_eq!(answer.sources.len(), 2);
    assert!(answer.sources[0].file.ends_with("garden.md"));
    assert!(answer.sources.iter().all(|s| s.cited && !s.inferred));
    assert_eq!(answer.dropped_citations, [9]);
    // The passages came as an event before any text, and the step shows the grounded prompt.
    let retrieved = events
        .iter()
        .position(|e| matches!(e, strata::orchestrator::events::RunEvent::Retrieved { .. }))
        .unwrap();
    let first_text = events
        .iter()
        .position(|e| matches!(e, strata::orchestrator::events::RunEvent::TextDelta { .. }))
        .unwrap();
    assert!(retrieved < first_text);
    let steps = orchestrator.runs.steps(outcome.run).unwrap();
    let system = steps[0].system.clone().unwrap();
    assert!(system.contains("[1] Garden > Tomatoes"), "{system}");
    // Stored with the answer.
    let stored = orchestrator.sessions.messages(session.id).unwrap();
    assert_eq!(stored.last().unwrap().dropped_citations, [9]);
    assert_eq!(stored.last().unwrap().sources.len(), 2);
}

/// `kb ask` on the real local model: every citation maps to a retrieved chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kb_ask_on_the_local_model_cites_retrieved_chunks() {
    common::ensure_models().await;
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    write(&docs, "garden.md", GARDEN);
    write(&docs, "kitchen.md", KITCHEN);
    write(&docs, "bikes.md", BIKES);
    let run = |args: &[&str]| run_ok(tmp.path(), args);
    run(&[
        "kb",
        "create",
        "home",
        "--source",
        docs.to_str().unwrap(),
        "--sync",
    ]);
    let out = run(&[
        "kb",
        "ask",
        "home",
        "How often should tomatoes be watered?",
        "-m",
        CHAT_MODEL,
        "--temperature",
        "0",
        "--max-tokens",
        "60",
        "-k",
        "3",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(!v["answer"].as_str().unwrap().is_empty());
    let retrieved = v["retrieved"].as_array().unwrap();
    assert_eq!(retrieved.len(), 3);
    let citations = v["citations"].as_array().unwrap();
    assert!(!citations.is_empty(), "no citations: {v}");
    for c in citations {
        let n = c["number"].as_u64().unwrap() as usize;
        let r = &retrieved[n - 1];
        assert_eq!(
            (
                c["file"].clone(),
                c["line_start"].clone(),
                c["text"].clone()
            ),
            (
                r["file"].clone(),
                r["line_start"].clone(),
                r["text"].clone()
            )
        );
    }
    assert!(retrieved[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("garden.md"));
}

/// With a guardrail, the question is searched with what its patterns would mask masked,
/// and a question its patterns would block is not searched (nor embedded) at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardrail_masks_the_question_before_it_is_searched() {
    use strata::guardrails::policy::Policy;
    use strata::guardrails::Guardrail;
    use strata::orchestrator::retrieval_query;
    let toml = "name = \"pii\"\n[sensitive_information]\nemail = \"anonymize\"\naws_access_key = \"block\"\n";
    let policy = Policy::parse(toml, "pii.toml").unwrap();
    let g = Guardrail::compile("pii", policy, None).await.unwrap();
    assert_eq!(
        retrieval_query(Some(&g), "mail jane@example.com about tomatoes").as_deref(),
        Some("mail {EMAIL} about tomatoes")
    );
    assert_eq!(
        retrieval_query(Some(&g), "my key is AKIAIOSFODNN7EXAMPLE"),
        None
    );
    assert_eq!(
        retrieval_query(None, "jane@example.com").as_deref(),
        Some("jane@example.com")
    );
}
