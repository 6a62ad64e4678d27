//! Agent tools end to end: command tools as real subprocesses (JSON in and out, exit codes,
//! timeouts that kill the whole process group, output caps, a cleaned environment), the
//! file tools' root, `http_get` against a real loopback server, and bad arguments. Every
//! failure is an error observation with a clear message, never a panic.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use strata::tools::{Binding, CommandTool, Tool, ToolOutcome};
use tokio_util::sync::CancellationToken;

fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn command_tool(dir: &Path, program: &[&str], edit: impl FnOnce(&mut CommandTool)) -> Tool {
    let mut spec = CommandTool::new(program.iter().map(|s| s.to_string()).collect(), dir);
    edit(&mut spec);
    Tool::new(
        "test_tool",
        "a test tool",
        json!({"type": "object"}),
        Binding::command(spec).unwrap(),
    )
    .unwrap()
}

async fn call(tool: &Tool, args: Value) -> ToolOutcome {
    tool.call(args, CancellationToken::new()).await
}

/// Whether a process exists and is not a zombie (killed processes whose new parent does not
/// reap them linger as zombies).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Live (non-zombie) processes in process group `group`.
fn group_members(group: i32) -> Vec<i32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // state ppid pgrp
        if fields.len() > 2 && fields[2] == group.to_string() && fields[0] != "Z" {
            members.push(pid);
        }
    }
    members
}

async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..40 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

#[tokio::test]
async fn a_command_reads_json_and_answers_json() {
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "echo.sh",
        "printf '{\"got\":'; cat; printf ',\"flag\":\"%s\"}' \"$1\"",
    );
    let tool = command_tool(dir.path(), &["./echo.sh", "--loud"], |_| {});
    let outcome = call(&tool, json!({"city": "Oslo", "n": 2})).await;
    assert!(outcome.ok, "{}", outcome.observation());
    assert_eq!(
        outcome.content,
        json!({"got": {"city": "Oslo", "n": 2}, "flag": "--loud"})
    );
    assert!(!outcome.truncated);
    assert!(outcome.duration_ms > 0.0);
    let seen = outcome.observation();
    assert!(!seen.contains('\n'), "compact JSON: {seen}");
    assert_eq!(
        serde_json::from_str::<Value>(&seen).unwrap(),
        outcome.content
    );

    // Text that is not JSON comes back as text; the working dir is the base dir.
    script(dir.path(), "where.sh", "echo \"in $(pwd)\"");
    let tool = command_tool(dir.path(), &["./where.sh"], |_| {});
    let outcome = call(&tool, json!({})).await;
    let real = dir.path().canonicalize().unwrap();
    assert_eq!(outcome.content, json!(format!("in {}", real.display())));
}

#[tokio::test]
async fn a_failing_command_is_an_error_with_its_exit_code_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "fail.sh",
        "echo 'partial result'; echo 'no such city' >&2; exit 3",
    );
    let tool = command_tool(dir.path(), &["./fail.sh"], |_| {});
    let outcome = call(&tool, json!({})).await;
    assert!(!outcome.ok);
    let seen = outcome.observation();
    assert!(
        seen.starts_with("error: `./fail.sh` exited with status 3"),
        "{seen}"
    );
    assert!(seen.contains("no such city"), "{seen}");
    assert!(seen.contains("partial result"), "{seen}");

    let tool = command_tool(dir.path(), &["./missing.sh"], |_| {});
    let seen = call(&tool, json!({})).await.observation();
    assert!(
        seen.starts_with("error: cannot start `./missing.sh`"),
        "{seen}"
    );
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    // The script starts a child of its own, records both ids, and waits.
    script(
        dir.path(),
        "slow.sh",
        "sleep 30 &\necho $! > child.pid\necho $$ > group.pid\nwait",
    );
    let tool = command_tool(dir.path(), &["./slow.sh"], |t| {
        t.timeout = Duration::from_millis(1000);
    });
    let started = Instant::now();
    let outcome = call(&tool, json!({})).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!outcome.ok);
    let seen = outcome.observation();
    assert!(seen.contains("timed out after 1 s"), "{seen}");

    let read = |name: &str| -> i32 {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (child, group) = (read("child.pid"), read("group.pid"));
    assert!(
        eventually(|| !alive(child)).await,
        "the script's own child was killed"
    );
    assert!(!alive(group), "the script was killed and reaped");
    assert!(
        eventually(|| group_members(group).is_empty()).await,
        "nothing is left in the process group: {:?}",
        group_members(group)
    );
}

#[tokio::test]
async fn cancelling_kills_the_command() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "wait.sh", "echo $$ > group.pid\nsleep 30");
    let tool = command_tool(dir.path(), &["./wait.sh"], |_| {});
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let outcome = tool.call(json!({}), cancel).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        outcome.observation().starts_with("error: cancelled"),
        "{}",
        outcome.observation()
    );
    let group: i32 = std::fs::read_to_string(dir.path().join("group.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(eventually(|| group_members(group).is_empty()).await);
}

#[tokio::test]
async fn oversize_output_is_cut_and_the_command_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let tool = command_tool(dir.path(), &["yes", "0123456789"], |t| {
        t.max_output = 1000;
    });
    let started = Instant::now();
    let outcome = call(&tool, json!({})).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(outcome.ok, "{}", outcome.observation());
    assert!(outcome.truncated);
    let text = outcome.content.as_str().unwrap();
    assert!(text.len() <= 1000 && text.len() > 900, "{}", text.len());
    assert!(text.starts_with("0123456789\n0123456789"));
    assert!(outcome
        .observation()
        .ends_with("[output truncated at the tool's size limit]"));
}

#[tokio::test]
async fn secrets_stay_out_of_the_environment_unless_named() {
    // Rust 2021: setting a variable is safe; std's env lock orders it with spawns.
    std::env::set_var("OPENAI_API_KEY", "sk-tools-test-secret");
    let dir = tempfile::tempdir().unwrap();
    let tool = command_tool(dir.path(), &["env"], |_| {});
    let outcome = call(&tool, json!({})).await;
    let seen = outcome.content.as_str().unwrap().to_string();
    assert!(!seen.contains("sk-tools-test-secret"), "{seen}");
    assert!(!seen.contains("OPENAI_API_KEY"), "{seen}");
    assert!(seen.contains("PATH="), "PATH is passed: {seen}");
    for line in seen.lines() {
        let name = line.split('=').next().unwrap();
        assert!(
            ["PATH", "HOME", "LANG", "TZ", "TMPDIR"].contains(&name),
            "only the basic variables pass: {line}"
        );
    }

    let tool = command_tool(dir.path(), &["env"], |t| {
        t.env_names = vec!["OPENAI_API_KEY".into()];
    });
    let seen = call(&tool, json!({})).await.observation();
    assert!(
        seen.contains("OPENAI_API_KEY=sk-tools-test-secret"),
        "{seen}"
    );
}

#[tokio::test]
async fn bad_arguments_are_refused_before_the_command_runs() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "mark.sh", "touch ran");
    let spec = CommandTool::new(vec!["./mark.sh".into()], dir.path());
    let tool = Tool::new(
        "mark",
        "marks",
        json!({
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"]
        }),
        Binding::command(spec).unwrap(),
    )
    .unwrap();
    let seen = call(&tool, json!({"n": "three"})).await.observation();
    assert!(
        seen.starts_with("error: invalid arguments for `mark`"),
        "{seen}"
    );
    assert!(seen.contains("field `n`"), "{seen}");
    let seen = tool
        .call_text("not json", CancellationToken::new())
        .await
        .observation();
    assert!(seen.contains("not valid JSON"), "{seen}");
    assert!(!dir.path().join("ran").exists(), "the command never ran");
    assert!(call(&tool, json!({"n": 3})).await.ok);
    assert!(dir.path().join("ran").exists());

    // Built-ins check theirs too.
    let read = Tool::builtin(Binding::builtin_read_file(dir.path()).unwrap()).unwrap();
    let seen = call(&read, json!({"path": 3})).await.observation();
    assert!(seen.contains("field `path`"), "{seen}");
    let seen = call(&read, json!({"path": "a", "mode": "w"}))
        .await
        .observation();
    assert!(seen.contains("mode"), "{seen}");
}

#[tokio::test]
async fn file_tools_stay_under_their_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/a.md"), "# A\nhello").unwrap();
    std::fs::write(root.join("b.txt"), "bee").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
    std::os::unix::fs::symlink("docs/a.md", root.join("inner.md")).unwrap();

    let read = Tool::builtin(Binding::builtin_read_file(&root).unwrap()).unwrap();
    let list = Tool::builtin(Binding::builtin_list_dir(&root).unwrap()).unwrap();

    let ok = call(&read, json!({"path": "docs/a.md"})).await;
    assert_eq!(ok.observation(), "# A\nhello");
    let ok = call(&read, json!({"path": "inner.md"})).await;
    assert_eq!(
        ok.observation(),
        "# A\nhello",
        "a link inside the root is fine"
    );

    for (path, why) in [
        ("../outside.txt", "outside the tool's root (`..`)"),
        ("docs/../../root/b.txt", "outside the tool's root (`..`)"),
        (
            outside.path().join("secret.txt").to_str().unwrap(),
            "absolute path",
        ),
        ("leak.txt", "symbolic link"),
        ("out/secret.txt", "symbolic link"),
        ("missing.txt", "there is no `missing.txt`"),
    ] {
        let outcome = call(&read, json!({"path": path})).await;
        assert!(!outcome.ok, "{path}");
        let seen = outcome.observation();
        assert!(seen.starts_with("error: "), "{seen}");
        assert!(seen.contains(why), "{path}: {seen}");
        assert!(!seen.contains("top secret"));
    }
    let seen = call(&list, json!({"path": "out"})).await.observation();
    assert!(seen.contains("symbolic link"), "{seen}");
    let seen = call(&list, json!({"path": ".."})).await.observation();
    assert!(seen.contains("outside"), "{seen}");

    let listing = call(&list, json!({})).await;
    assert!(listing.ok);
    assert_eq!(
        listing.content["entries"],
        json!([
            {"name": "b.txt", "kind": "file", "size": 3},
            {"name": "docs", "kind": "dir"},
            {"name": "inner.md", "kind": "symlink"},
            {"name": "leak.txt", "kind": "symlink"},
            {"name": "out", "kind": "symlink"},
        ])
    );
    let docs = call(&list, json!({"path": "docs"})).await;
    assert_eq!(
        docs.content["entries"],
        json!([{"name": "a.md", "kind": "file", "size": 9}])
    );
}

/// A loopback server: `/hello`, `/big` (1 MiB), `/json`, a redirect inside and one out,
/// and a 404; it counts the requests it gets.
async fn server() -> (u16, Arc<AtomicUsize>) {
    use axum::http::{header, StatusCode};
    use axum::routing::get;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello there" }))
        .route("/big", get(|| async { "x".repeat(1 << 20) }))
        .route(
            "/json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], "{\"a\":1}") }),
        )
        .route(
            "/inside",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/hello")]) }),
        )
        .route(
            "/outside",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, "http://elsewhere.invalid/hello")],
                )
            }),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    next.run(request).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (port, hits)
}

#[tokio::test]
async fn http_get_keeps_to_its_hosts_and_its_size_cap() {
    let (port, hits) = server().await;
    let tool =
        Tool::builtin(Binding::http_get(&["127.0.0.1".to_string()], 64 * 1024).unwrap()).unwrap();
    let base = format!("http://127.0.0.1:{port}");

    let ok = call(&tool, json!({"url": format!("{base}/hello")})).await;
    assert!(ok.ok, "{}", ok.observation());
    assert_eq!(ok.content["status"], 200);
    assert_eq!(ok.content["body"], "hello there");
    assert!(!ok.truncated);

    // Same server, other name: refused without a request.
    let before = hits.load(Ordering::SeqCst);
    for url in [
        format!("http://localhost:{port}/hello"),
        "https://example.com/".to_string(),
        format!("ftp://127.0.0.1:{port}/hello"),
    ] {
        let outcome = call(&tool, json!({"url": url})).await;
        assert!(!outcome.ok, "{url}");
        let seen = outcome.observation();
        assert!(
            seen.contains("is not allowed") || seen.contains("only those"),
            "{seen}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), before, "nothing was sent");

    // The body is cut at the cap.
    let big = call(&tool, json!({"url": format!("{base}/big")})).await;
    assert!(big.ok);
    assert!(big.truncated);
    assert_eq!(big.content["body"].as_str().unwrap().len(), 64 * 1024);

    // Redirects: followed on an allowed host, not followed off it.
    let inside = call(&tool, json!({"url": format!("{base}/inside")})).await;
    assert_eq!(inside.content["body"], "hello there");
    let outside = call(&tool, json!({"url": format!("{base}/outside")})).await;
    assert!(!outside.ok);
    let seen = outside.observation();
    assert!(seen.contains("elsewhere.invalid"), "{seen}");
    assert!(seen.contains("not followed"), "{seen}");

    // A status that is not success is an error the model can read.
    let missing = call(&tool, json!({"url": format!("{base}/nope")})).await;
    assert!(!missing.ok);
    assert!(missing
        .observation()
        .starts_with("error: the server answered 404"));

    let json_body = call(&tool, json!({"url": format!("{base}/json")})).await;
    assert_eq!(json_body.content["content_type"], "application/json");
}

#[tokio::test]
async fn http_get_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and never answers.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let tool = Tool::builtin(
        Binding::http_get_with_timeout(&["127.0.0.1".into()], 1024, Duration::from_millis(300))
            .unwrap(),
    )
    .unwrap();
    let outcome = call(&tool, json!({"url": format!("http://127.0.0.1:{port}/")})).await;
    assert!(!outcome.ok);
    assert!(
        outcome.observation().contains("timed out"),
        "{}",
        outcome.observation()
    );
}

#[tokio::test]
async fn calculator_answers_and_explains_its_errors() {
    let tool = Tool::builtin(Binding::calculator()).unwrap();
    let ok = call(&tool, json!({"expression": "(2 + 3) * 4 ^ 2 / 8 - -1"})).await;
    assert_eq!(ok.content["result"], json!(11));
    for (expression, why) in [
        ("1 / 0", "division by zero"),
        ("7 % 0", "division by zero"),
        ("2 * (3 + 4", "never closed"),
        ("2 +* 3", "expected a number"),
        ("rm -rf /", "expected a number"),
    ] {
        let outcome = call(&tool, json!({"expression": expression})).await;
        assert!(!outcome.ok, "{expression}");
        let seen = outcome.observation();
        assert!(seen.starts_with("error: cannot evaluate"), "{seen}");
        assert!(seen.contains(why), "{expression}: {seen}");
    }
    let seen = call(&tool, json!({"expression": ""})).await.observation();
    assert!(seen.contains("field `expression`"), "{seen}");
}

#[tokio::test]
async fn time_says_now() {
    let tool = Tool::builtin(Binding::time()).unwrap();
    let outcome = call(&tool, json!({})).await;
    let unix = outcome.content["unix"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - unix).abs() < 5);
    let seen = call(&tool, json!({"zone": "CET"})).await.observation();
    assert!(seen.contains("invalid arguments"), "{seen}");
}
