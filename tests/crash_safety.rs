//! Crash safety: the real binary killed with SIGKILL at seeded-random points, then the data
//! dir reopened by later processes and checked.
//!
//! Five scenarios, each a loop of `STRATA_CRASH_RUNS` rounds (default 3; 50 for a benchmark
//! run): a streaming answer from a slow scripted server, an agent run whose command tool
//! sleeps, guardrail drafts frozen as versions, session deletes, and the re-encryption pass
//! of a data-key rotation. Each round's kill delay
//! comes from a `StdRng` seeded by `STRATA_CRASH_SEED` (default fixed); the seed and every
//! round's delay are printed, so a failure replays with the same variables. A kill can land
//! before the command did anything, mid-work, or after it finished; each scenario prints how
//! many landed mid-work and how many invariants it checked.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const DEFAULT_SEED: u64 = 17;

fn rounds() -> usize {
    std::env::var("STRATA_CRASH_RUNS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(3)
}

/// The scenario's RNG: the run's seed mixed with the scenario's name, so each scenario
/// replays on its own.
fn rng_for(scenario: &str) -> (u64, StdRng) {
    let seed = std::env::var("STRATA_CRASH_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mixed = scenario
        .bytes()
        .fold(seed, |h, b| h.rotate_left(5) ^ u64::from(b));
    println!(
        "crash_safety[{scenario}]: STRATA_CRASH_SEED={seed} STRATA_CRASH_RUNS={}",
        rounds()
    );
    (seed, StdRng::seed_from_u64(mixed))
}

/// The built binary as a plain process (so it can be killed), on `dir` like `common::strata`.
fn strata_process(dir: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("strata"));
    cmd.env("STRATA_CONFIG", dir.join("config.toml"))
        .env("STRATA_DATA_DIR", dir.join("data"))
        .env("STRATA_CACHE_DIR", common::model_dir())
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env_remove("STRATA_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Starts `cmd` and kills it with SIGKILL once `delay` has passed; true when the kill
/// landed while it was still running (false: it had already exited).
fn kill_after(mut cmd: Command, delay: Duration) -> bool {
    let mut child = cmd.spawn().expect("start strata");
    let deadline = Instant::now() + delay;
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if Instant::now() >= deadline {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A later process's run of `args`: its exit code, stdout and stderr. No output of any
/// reopening command may say a stored record could not be read.
fn cli(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = common::strata(dir).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !stdout.contains("could not be read") && !stderr.contains("could not be read"),
        "`strata {}` met a torn record:\n{stdout}\n{stderr}",
        args.join(" ")
    );
    (out.status.code(), stdout, stderr)
}

/// `cli` that must succeed with JSON on stdout.
fn cli_json(dir: &Path, args: &[&str]) -> Value {
    let (code, out, err) = cli(dir, args);
    assert_eq!(code, Some(0), "`strata {}` failed: {err}", args.join(" "));
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`strata {}` printed no JSON ({e}): {out}", args.join(" ")))
}

fn summary(scenario: &str, rounds: usize, mid_work: usize, checks: usize) {
    println!(
        "crash_safety[{scenario}]: {rounds} rounds, {mid_work} kills mid-work, {} after the \
         command finished, {checks} invariants checked",
        rounds - mid_work
    );
}

/// The sessions' messages and runs, every one read back: each answer complete (the whole
/// scripted text) or interrupted (a prefix of it), each question stored once, no run left
/// running. Returns how many invariants held.
fn check_sessions(dir: &Path, full: &str) -> usize {
    let mut checks = 0;
    let list = cli_json(dir, &["sessions", "list", "--json"]);
    for s in list.as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        let shown = cli_json(dir, &["sessions", "show", id, "--json"]);
        let messages = shown["messages"].as_array().unwrap();
        assert_eq!(s["messages"], messages.len(), "list and show agree on {id}");
        let questions: Vec<&Value> = messages.iter().filter(|m| m["role"] == "user").collect();
        assert_eq!(questions.len(), 1, "the question is stored once: {shown}");
        checks += 2;
        for m in messages.iter().filter(|m| m["role"] == "assistant") {
            let text = m["content"].as_str().unwrap();
            match m["status"].as_str().unwrap() {
                "complete" => assert_eq!(
                    text.trim_end(),
                    full.trim_end(),
                    "a complete answer is whole"
                ),
                "interrupted" => assert!(
                    full.starts_with(text),
                    "an interrupted answer keeps a prefix of what streamed: {text:?}"
                ),
                other => panic!("answer of {id} is {other} after reopening: {shown}"),
            }
            checks += 1;
        }
        for run in shown["runs"].as_array().unwrap() {
            let status = run["run"]["status"].as_str().unwrap();
            assert!(
                ["done", "interrupted"].contains(&status),
                "run of {id} is {status} after reopening"
            );
            checks += 1;
        }
    }
    checks
}

/// Scenario 1: `strata invoke` streaming a slow answer, killed at a random point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_answer_killed_anywhere_is_complete_or_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 300 pieces, 5 ms apart: about 1.5 s of streaming after the process has started.
    let pieces: Vec<String> = (0..300).map(|i| format!("w{i} ")).collect();
    let full = pieces.concat();
    let url = common::scripted::start(pieces, common::scripted::Ending::Finished).await;
    common::scripted::write_config(d, &url);
    let (seed, mut rng) = rng_for("streaming");
    let n = rounds();
    let (mut mid, mut checks) = (0, 0);
    for round in 0..n {
        let delay = Duration::from_millis(rng.gen_range(0..2500));
        println!("crash_safety[streaming]: seed={seed} round={round} delay={delay:?}");
        let mut cmd = strata_process(d);
        cmd.args(["invoke", "-m", "s/m", &format!("Question {round}?")]);
        mid += usize::from(kill_after(cmd, delay));
        checks += check_sessions(d, &full);
    }
    // The store still takes a whole answer.
    let answer = cli_json(d, &["invoke", "-m", "s/m", "--json", "Last question?"]);
    assert_eq!(answer["text"].as_str().unwrap().trim_end(), full.trim_end());
    assert_eq!(answer["status"], "complete");
    checks += check_sessions(d, &full) + 1;
    summary("streaming", n, mid, checks);
}

/// Scenario 2: an agent run whose command tool sleeps, killed at a random point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_run_killed_anywhere_is_done_or_interrupted_with_contiguous_steps() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (url, _) = common::scripted::tool_calling("slow_lookup", json!({"order_id": "A1"})).await;
    common::scripted::write_config(d, &url);
    let agents = d.join("agent-files");
    std::fs::create_dir_all(&agents).unwrap();
    let tool = agents.join("slow_lookup.sh");
    std::fs::write(
        &tool,
        "#!/bin/sh\nsleep 0.4\necho '{\"status\": \"shipped\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = agents.join("crash.toml");
    std::fs::write(
        &file,
        r#"name = "crash"
description = "Looks an order up with a slow tool."
instructions = "Call slow_lookup, then answer from its result."
model = "s/m"
max_steps = 6
approval = "never"
memory = "fresh"

[[tools]]
name = "slow_lookup"
description = "Look up an order by its id."
kind = "command"
command = ["./slow_lookup.sh"]
timeout_secs = 10

[tools.parameters]
type = "object"
properties = { order_id = { type = "string" } }
required = ["order_id"]
"#,
    )
    .unwrap();
    let file = file.to_str().unwrap().to_string();

    let check_runs = |d: &Path| -> usize {
        let mut checks = 0;
        let runs = cli_json(d, &["agent", "runs", "--json"]);
        for run in runs.as_array().unwrap() {
            let id = run["id"].as_str().unwrap();
            let status = run["status"].as_str().unwrap();
            assert!(
                ["done", "interrupted", "cancelled"].contains(&status),
                "run {id} is {status} after reopening: {run}"
            );
            let trace = cli_json(d, &["agent", "trace", id, "--json"]);
            assert_eq!(trace["status"], status, "runs and trace agree on {id}");
            let steps = trace["steps"].as_array().unwrap();
            let indexes: Vec<u64> = steps.iter().map(|s| s["index"].as_u64().unwrap()).collect();
            let expected: Vec<u64> = (1..=steps.len() as u64).collect();
            assert_eq!(indexes, expected, "steps of {id} are 1..n: {trace}");
            checks += 3;
            if status == "done" {
                let kinds: Vec<&str> = steps.iter().map(|s| s["kind"].as_str().unwrap()).collect();
                assert_eq!(kinds, ["chat", "execute_tool", "chat"], "{trace}");
                // The last model call answered from the tool's result.
                assert!(
                    steps[2]["output"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("shipped"),
                    "{trace}"
                );
                checks += 2;
            } else {
                assert!(steps.len() <= 3, "an interrupted run has no extra steps");
                checks += 1;
            }
        }
        checks
    };

    let (seed, mut rng) = rng_for("agent");
    let n = rounds();
    let (mut mid, mut checks) = (0, 0);
    for round in 0..n {
        let delay = Duration::from_millis(rng.gen_range(0..700));
        println!("crash_safety[agent]: seed={seed} round={round} delay={delay:?}");
        let mut cmd = strata_process(d);
        cmd.args(["agent", "run", &file, "Where is order A1?"])
            .args(["-m", "s/m", "--yes", "--json"]);
        mid += usize::from(kill_after(cmd, delay));
        checks += check_runs(d);
    }
    // A run after the kills still completes.
    let run = cli_json(
        d,
        &[
            "agent",
            "run",
            &file,
            "Where is order A1?",
            "-m",
            "s/m",
            "--yes",
            "--json",
        ],
    );
    assert_eq!(run["status"], "done", "{run}");
    checks += check_runs(d) + 1;
    summary("agent", n, mid, checks);
}

/// Scenario 3: `guardrail create --update --version` (a new draft frozen as the next
/// version), killed at random points.
#[test]
fn guardrail_versions_stay_contiguous_and_loadable_across_kills() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let policy = |round: usize| {
        let path = d.join(format!("policy-{round}.toml"));
        std::fs::write(
            &path,
            format!("name = \"crash-guard\"\n[word_filters]\nwords = [\"word{round}\"]\n"),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    // The guardrail exists before the kills (a killed first `create` would leave nothing
    // for `--update`).
    let first = policy(0);
    let (code, _, err) = cli(d, &["guardrail", "create", "--version", "--file", &first]);
    assert_eq!(code, Some(0), "{err}");

    // Versions 1..n, each loadable, the newest exported; returns n and the checks made.
    let check = |d: &Path| -> (usize, usize) {
        let shown = cli_json(d, &["guardrail", "show", "crash-guard", "--json"]);
        let versions: Vec<u64> = shown["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = (1..=versions.len() as u64).collect();
        assert_eq!(versions, expected, "versions are contiguous: {shown}");
        let n = versions.len();
        for v in &versions {
            cli_json(
                d,
                &["guardrail", "show", &format!("crash-guard@{v}"), "--json"],
            );
        }
        cli_json(d, &["guardrail", "show", "crash-guard@draft", "--json"]);
        let (code, exported, err) = cli(d, &["guardrail", "export", &format!("crash-guard@{n}")]);
        assert_eq!(code, Some(0), "{err}");
        let parsed: toml::Value = toml::from_str(&exported)
            .unwrap_or_else(|e| panic!("the export is not TOML ({e}): {exported}"));
        assert!(parsed["word_filters"]["words"][0]
            .as_str()
            .unwrap()
            .starts_with("word"));
        (n, 3 + n)
    };

    let (seed, mut rng) = rng_for("guardrail");
    let rounds_n = rounds();
    let (mut mid, mut checks) = (0, 0);
    let mut versions = check(d).0;
    for round in 1..=rounds_n {
        let delay = Duration::from_millis(rng.gen_range(0..25));
        println!("crash_safety[guardrail]: seed={seed} round={round} delay={delay:?}");
        let file = policy(round);
        let mut cmd = strata_process(d);
        cmd.args(["guardrail", "create", "--update", "--version", "--file"])
            .arg(&file);
        let killed = kill_after(cmd, delay);
        mid += usize::from(killed);
        let (now, made) = check(d);
        checks += made + 1;
        if killed {
            assert!(
                now == versions || now == versions + 1,
                "a killed freeze adds at most one version"
            );
        } else {
            assert_eq!(now, versions + 1, "a finished freeze adds one version");
        }
        versions = now;
    }
    summary("guardrail", rounds_n, mid, checks);
}

/// Scenario 4: `sessions delete` over several sessions, one process after another, killed
/// at a random point; each session is then wholly there or wholly gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_delete_leaves_each_session_whole_or_gone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pieces: Vec<String> = (0..5).map(|i| format!("p{i} ")).collect();
    let url = common::scripted::start(pieces, common::scripted::Ending::Finished).await;
    common::scripted::write_config(d, &url);
    let (seed, mut rng) = rng_for("delete");
    let n = rounds();
    let (mut mid, mut checks) = (0, 0);
    let mut made = Vec::new();
    for round in 0..n {
        let ids: Vec<String> = (0..3)
            .map(|i| {
                let answer = cli_json(
                    d,
                    &["invoke", "-m", "s/m", "--json", &format!("Q {round}.{i}?")],
                );
                answer["session_id"].as_str().unwrap().to_string()
            })
            .collect();
        made.extend(ids.iter().cloned());
        let delay = Duration::from_millis(rng.gen_range(0..60));
        println!("crash_safety[delete]: seed={seed} round={round} delay={delay:?}");
        // One delete after another until the delay runs out; the one running then is killed.
        let deadline = Instant::now() + delay;
        let mut killed = false;
        for id in &ids {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut cmd = strata_process(d);
            cmd.args(["sessions", "delete", id]);
            if kill_after(cmd, left) {
                killed = true;
                break;
            }
        }
        mid += usize::from(killed);

        let listed = cli_json(d, &["sessions", "list", "--json"]);
        let listed: Vec<(String, Value)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["id"].as_str().unwrap().to_string(), s["messages"].clone()))
            .collect();
        let mut gone = Vec::new();
        for id in &made {
            match listed.iter().find(|(l, _)| l == id) {
                Some((_, count)) => {
                    let shown = cli_json(d, &["sessions", "show", id, "--json"]);
                    let messages = shown["messages"].as_array().unwrap();
                    assert_eq!(messages.len(), 2, "a kept session is whole: {shown}");
                    assert_eq!(count, &json!(2));
                    assert!(messages.iter().all(|m| m["status"] == "complete"));
                    assert_eq!(shown["runs"].as_array().unwrap().len(), 1, "{shown}");
                    checks += 4;
                }
                None => {
                    let (code, _, _) = cli(d, &["sessions", "show", id]);
                    assert_ne!(code, Some(0), "a deleted session {id} cannot be shown");
                    gone.push(id.clone());
                    checks += 1;
                }
            }
        }
        // Nothing of a deleted session is left under it in the store.
        let runtime = strata::runtime::Runtime::with_config(
            strata::config::Paths::under(d),
            strata::config::Config::default(),
        )
        .unwrap();
        let sessions = strata::sessions::SessionStore::new(runtime.store.clone());
        let runs = strata::orchestrator::runs::RunStore::new(runtime.store.clone());
        for id in &gone {
            let id = strata::store::Id::parse(id).unwrap();
            assert!(sessions.messages(id).unwrap().is_empty(), "orphan messages");
            assert!(runs.for_session(id).unwrap().is_empty(), "orphan runs");
            checks += 2;
        }
        drop((sessions, runs, runtime));
    }
    summary("delete", n, mid, checks);
}

/// Opens the store from this process, waiting while a killed process's lock is released.
fn open_when_free(data: &Path) -> Result<strata::store::Store, strata::store::StoreError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match strata::store::Store::open(data) {
            Err(strata::store::StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

/// Scenario 5: `strata keys rotate-data-key` re-encrypting an encrypted store, killed at a
/// random point. After each kill every record reads back unchanged, no value is sealed with
/// a key the keyring dropped, none is in clear, and the next run resumes or finishes.
#[test]
fn a_killed_data_key_rotation_loses_nothing_and_resumes() {
    use strata::store::keyring::{KeyAccess, KeySource};
    use strata::store::Store;
    const RECORDS: u32 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), "").unwrap();
    let data = d.join("data");
    let key = d.join("keys/data.key");
    {
        let access = KeyAccess {
            enable: Some(KeySource::File { path: key.clone() }),
            source: None,
        };
        let store = Store::open_with(&data, &access).unwrap();
        for i in 0..RECORDS {
            store
                .put("crash_notes", &i.to_be_bytes(), &format!("note {i}"))
                .unwrap();
        }
        store.flush().unwrap();
    }
    let (seed, mut rng) = rng_for("rotation");
    let n = rounds();
    let (mut mid, mut checks, mut left_pending) = (0, 0, 0);
    for round in 0..n {
        let delay = Duration::from_millis(rng.gen_range(0..1500));
        println!("crash_safety[rotation]: seed={seed} round={round} delay={delay:?}");
        let mut cmd = strata_process(d);
        cmd.args(["keys", "rotate-data-key"]);
        mid += usize::from(kill_after(cmd, delay));
        let store = open_when_free(&data).expect("the keyring survives the kill");
        let status = store.key_status().unwrap();
        left_pending += usize::from(status.rotation.is_some());
        for generation in status.values_by_generation.keys() {
            assert!(
                status.generations.contains(generation),
                "values sealed with key {generation}, which the keyring dropped: {status:?}"
            );
            checks += 1;
        }
        for i in 0..RECORDS {
            let got: Option<String> = store
                .get("crash_notes", &i.to_be_bytes(), "note")
                .unwrap_or_else(|e| panic!("record {i} after round {round}: {e}"));
            assert_eq!(got, Some(format!("note {i}")));
        }
        checks += RECORDS as usize;
    }
    // A last run finishes whatever was left, with one key (once sled let this process's
    // lock go: its flusher thread may hold it a moment after the drop).
    let deadline = Instant::now() + Duration::from_secs(10);
    let (code, err) = loop {
        let (code, _, err) = cli(d, &["keys", "rotate-data-key"]);
        if !err.contains("in use") || Instant::now() > deadline {
            break (code, err);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0), "{err}");
    let status = cli_json(d, &["keys", "status", "--json"]);
    assert_eq!(
        status["generations"].as_array().unwrap().len(),
        1,
        "{status}"
    );
    assert_eq!(status["rotation"], Value::Null);
    checks += 2;
    println!("crash_safety[rotation]: {left_pending} kills left a pass half done, resumed later");
    summary("rotation", n, mid, checks);
}
