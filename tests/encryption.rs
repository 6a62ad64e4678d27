//! Encryption at rest, end to end through the binary: known sentences written through a
//! chat, a knowledge base and an agent run (its task, tool arguments, tool result and
//! answer) are found in the files of a data dir in clear and nowhere in an encrypted one,
//! which still reads them back; a wrong key or passphrase is refused and changes nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Words that occur nowhere else: each names one place the text went through.
const MARKERS: [(&str, &str); 7] = [
    ("the chat question", "Marmalade"),
    ("the chat answer", "turbines"),
    ("a knowledge-base document", "Zirconium"),
    ("the agent's task", "harpsichord"),
    ("a tool's arguments", "pistachio"),
    ("a tool's result", "albatross"),
    ("the agent's answer", "Result: "),
];

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = common::strata(dir);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let (ok, out, err) = run(dir, args, env);
    assert!(ok, "strata {args:?} failed:\n{out}\n{err}");
    out
}

/// Every file under `root`, with its bytes.
fn files(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Which markers occur in which files under `roots`.
fn leaks(roots: &[PathBuf]) -> BTreeMap<&'static str, Vec<PathBuf>> {
    let mut found: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
    for root in roots {
        for (path, bytes) in files(root) {
            for (what, marker) in MARKERS {
                if bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                    found.entry(what).or_default().push(path.clone());
                }
            }
        }
    }
    found
}

fn fingerprint(root: &Path) -> BTreeMap<PathBuf, String> {
    files(root)
        .into_iter()
        .map(|(p, b)| (p, hex::encode(Sha256::digest(&b))))
        .collect()
}

/// Writes the config (a chatting model `s/m`, a tool-calling model `t/m`) and an agent
/// with a command tool; returns the agent file.
fn setup(d: &Path, chat_url: &str, tool_url: &str, encryption: &str) -> String {
    std::fs::write(
        d.join("config.toml"),
        format!(
            "max_retries = 0\n\
             [providers.s]\nkind = \"openai\"\nbase_url = \"{chat_url}\"\n\
             [providers.t]\nkind = \"openai\"\nbase_url = \"{tool_url}\"\n\
             [[models]]\nid = \"s/m\"\nprovider = \"s\"\ncapabilities = [\"chat\"]\n\
             [[models]]\nid = \"t/m\"\nprovider = \"t\"\ncapabilities = [\"chat\", \"tools\"]\n\
             {encryption}"
        ),
    )
    .unwrap();
    let agents = d.join("agent-files");
    std::fs::create_dir_all(&agents).unwrap();
    let tool = agents.join("lookup.sh");
    std::fs::write(
        &tool,
        "#!/bin/sh\necho '{\"status\": \"delivered by a crystalline albatross\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = agents.join("parcels.toml");
    std::fs::write(
        &file,
        r#"name = "parcels"
description = "Finds parcels."
instructions = "Call lookup, then answer from its result."
model = "t/m"
max_steps = 4
approval = "never"
memory = "fresh"

[[tools]]
name = "lookup"
description = "Look a parcel up."
kind = "command"
command = ["./lookup.sh"]
timeout_secs = 10

[tools.parameters]
type = "object"
properties = { label = { type = "string" } }
required = ["label"]
"#,
    )
    .unwrap();
    file.to_str().unwrap().to_string()
}

/// Writes the known sentences through a chat, a knowledge base and an agent run.
fn fill(d: &Path, agent: &str, env: &[(&str, &str)]) {
    let answer = run_ok(
        d,
        &[
            "invoke",
            "-m",
            "s/m",
            "--json",
            "Marmalade otters negotiate lighthouse tariffs every Tuesday?",
        ],
        env,
    );
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert!(answer["text"].as_str().unwrap().contains("turbines"));
    let docs = d.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("birds.md"),
        "# Birds\n\nZirconium kestrels migrate toward the saffron quarry every spring.\n",
    )
    .unwrap();
    run_ok(
        d,
        &[
            "kb",
            "create",
            "birds",
            "--sync",
            "--source",
            docs.to_str().unwrap(),
        ],
        env,
    );
    // The documents themselves are the user's; only what strata stored is checked.
    std::fs::remove_dir_all(&docs).unwrap();
    let run = run_ok(
        d,
        &[
            "agent",
            "run",
            agent,
            "Find the parcel labelled quixotic harpsichord.",
            "--yes",
            "--json",
        ],
        env,
    );
    let run: Value = serde_json::from_str(&run).unwrap();
    assert_eq!(run["status"], "done", "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_data_dir_holds_no_text_in_clear_and_refuses_a_wrong_key() {
    common::ensure_models().await;
    let pieces: Vec<String> = "Velvet turbines hum beneath the cobalt glacier."
        .split_inclusive(' ')
        .map(str::to_string)
        .collect();
    let chat_url = common::scripted::start(pieces, common::scripted::Ending::Finished).await;
    let (tool_url, _) =
        common::scripted::tool_calling("lookup", json!({"label": "wandering pistachio"})).await;

    // In clear, the same steps leave every sentence in the data dir: the search works.
    let plain = tempfile::tempdir().unwrap();
    let agent = setup(plain.path(), &chat_url, &tool_url, "");
    fill(plain.path(), &agent, &[]);
    let found = leaks(&[plain.path().join("data")]);
    for (what, _) in MARKERS {
        assert!(
            found.contains_key(what),
            "{what} is stored in clear: {found:?}"
        );
    }

    // Encrypted by the config switch with a key file outside the data dir.
    let enc = tempfile::tempdir().unwrap();
    let d = enc.path();
    let key = d.join("keys/data.key");
    let agent = setup(
        d,
        &chat_url,
        &tool_url,
        &format!(
            "[encryption]\nenabled = true\nkey = \"file:{}\"\n",
            key.display()
        ),
    );
    fill(d, &agent, &[]);
    assert!(key.exists(), "the key file was made");
    let found = leaks(&[d.join("data"), d.join("state")]);
    assert!(
        found.is_empty(),
        "text in clear under the data dir: {found:?}"
    );

    // Everything reads back with the key.
    let hits: Value = serde_json::from_str(&run_ok(
        d,
        &["kb", "query", "birds", "kestrels", "--json"],
        &[],
    ))
    .unwrap();
    assert!(hits.to_string().contains("Zirconium kestrels"), "{hits}");
    let sessions: Value =
        serde_json::from_str(&run_ok(d, &["sessions", "list", "--json"], &[])).unwrap();
    let first = sessions.as_array().unwrap().iter().find_map(|s| {
        let id = s["id"].as_str()?;
        let text = run_ok(d, &["sessions", "export", id, "--format", "md"], &[]);
        text.contains("Marmalade otters").then_some(text)
    });
    assert!(
        first.is_some_and(|t| t.contains("Velvet turbines")),
        "the chat reads back"
    );
    let runs: Value = serde_json::from_str(&run_ok(d, &["agent", "runs", "--json"], &[])).unwrap();
    let id = runs[0]["id"].as_str().unwrap();
    let trace = run_ok(d, &["agent", "trace", id, "--json"], &[]);
    assert!(trace.contains("crystalline albatross") && trace.contains("wandering pistachio"));
    let status: Value =
        serde_json::from_str(&run_ok(d, &["keys", "status", "--json"], &[])).unwrap();
    assert_eq!(status["encrypted"], true);
    assert_eq!(status["values_by_generation"].get("0"), None, "{status}");

    // A wrong key: a clear error naming its source, and not one byte changed.
    let wrong = d.join("keys/wrong.key");
    std::fs::write(&wrong, format!("{}\n", "ab".repeat(32))).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = fingerprint(&d.join("data"));
    let source = format!("file:{}", wrong.display());
    let (ok, _, err) = run(
        d,
        &["sessions", "list"],
        &[("STRATA_KEY_SOURCE", source.as_str())],
    );
    assert!(!ok);
    assert!(
        err.contains("does not open") && err.contains("wrong.key"),
        "{err}"
    );
    assert!(!err.contains(&"ab".repeat(32)), "the key is never printed");
    assert_eq!(fingerprint(&d.join("data")), before, "nothing changed");

    // Rotating the data key keeps everything readable and drops the old key.
    run_ok(d, &["keys", "rotate-data-key"], &[]);
    let status: Value =
        serde_json::from_str(&run_ok(d, &["keys", "status", "--json"], &[])).unwrap();
    assert_eq!(status["generations"], json!([2]), "{status}");
    let trace = run_ok(d, &["agent", "trace", id, "--json"], &[]);
    assert!(trace.contains("crystalline albatross"));
    assert!(leaks(&[d.join("data")]).is_empty());
}

#[test]
fn a_passphrase_opens_only_with_the_same_passphrase_and_init_encrypts_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("config.toml"), "").unwrap();
    let policy = d.join("policy.toml");
    std::fs::write(
        &policy,
        "name = \"sweets\"\n[word_filters]\nwords = [\"Gingerbread\"]\n",
    )
    .unwrap();
    // A guardrail stored in clear first, then the data dir is encrypted by `init`.
    run_ok(
        d,
        &["guardrail", "create", "--file", policy.to_str().unwrap()],
        &[],
    );
    assert!(!leaks_word(&d.join("data"), "Gingerbread").is_empty());
    let pass = [("STRATA_PASSPHRASE", "correct horse battery staple")];
    let out = run_ok(d, &["init", "--encrypt", "--key", "passphrase"], &pass);
    assert!(out.contains("sealed again"), "{out}");
    let status: Value =
        serde_json::from_str(&run_ok(d, &["keys", "status", "--json"], &pass)).unwrap();
    assert_eq!(status["source"], "passphrase");
    assert_eq!(status["values_by_generation"].get("0"), None, "{status}");
    let shown = run_ok(d, &["guardrail", "show", "sweets"], &pass);
    assert!(shown.contains("Gingerbread"), "{shown}");

    let (ok, _, err) = run(
        d,
        &["guardrail", "list"],
        &[("STRATA_PASSPHRASE", "wrong horse")],
    );
    assert!(!ok && err.contains("does not open"), "{err}");
    let (ok, _, err) = run(d, &["guardrail", "list"], &[]);
    assert!(!ok && err.contains("STRATA_PASSPHRASE"), "{err}");
}

fn leaks_word(root: &Path, word: &str) -> Vec<PathBuf> {
    files(root)
        .into_iter()
        .filter(|(_, b)| b.windows(word.len()).any(|w| w == word.as_bytes()))
        .map(|(p, _)| p)
        .collect()
}
