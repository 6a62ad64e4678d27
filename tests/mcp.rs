//! MCP servers as agent tools, on real servers: the small rmcp server written for these tests
//! (`examples/mcp_test_server.rs`, built next to this binary by `cargo test --all-targets`)
//! and PyPI's `mcp-server-time` (installed by `.ci/test` into `$STRATA_TEST_CACHE/mcp-venv`).
//! Agent files are parsed and connected as `strata agent run` does; the end-to-end test
//! drives the built binary with a loopback OpenAI-compatible model scripted to call an MCP
//! tool (the one fake: a stream scripted exactly).

mod common;

use common::scripted::Seen;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use strata::agents::{AgentSpec, AgentTools};
use strata::config::{Config, Paths};
use strata::knowledge::Knowledge;
use strata::runtime::Runtime;
use strata::tools::mcp::{McpServer, McpServerConfig};
use strata::tools::{Binding, ToolOutcome};
use tokio_util::sync::CancellationToken;

/// The test server, built by `cargo test --all-targets` into `target/debug/examples/`.
fn test_server() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/debug above the test binary");
    let server = debug.join("examples").join("mcp_test_server");
    assert!(
        server.is_file(),
        "the MCP test server is not built at {}: run the tests with `cargo test --all-targets` \
         (or build it first: `cargo build --example mcp_test_server`)",
        server.display()
    );
    server
}

/// PyPI's mcp-server-time in the test cache's venv.
fn mcp_server_time() -> PathBuf {
    let server = common::test_cache().join("mcp-venv/bin/mcp-server-time");
    assert!(
        server.is_file(),
        "mcp-server-time is not installed at {}: run `bash .ci/test` (it installs it once; \
         `bash .ci/mcp-server-time-venv.sh` installs only that)",
        server.display()
    );
    server
}

fn knowledge(dir: &Path) -> Arc<Knowledge> {
    let runtime = Runtime::with_config(Paths::under(dir), Config::default()).expect("runtime");
    Arc::new(Knowledge::new(Arc::new(runtime)))
}

/// An agent file in `dir` with these extra lines (after name and model).
fn agent(dir: &Path, extra: &str) -> AgentSpec {
    let file = dir.join("agent.toml");
    let text = format!("name = \"mcp-test\"\nmodel = \"s/m\"\n{extra}");
    std::fs::write(&file, &text).unwrap();
    AgentSpec::load(&file).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn server_lines(name: &str, command: &[&str], more: &str) -> String {
    let command: Vec<String> = command.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "\n[[mcp_servers]]\nname = \"{name}\"\ncommand = [{}]\n{more}\n",
        command.join(", ")
    )
}

fn test_server_agent(dir: &Path, top: &str, more: &str) -> AgentSpec {
    let server = test_server();
    let lines = server_lines("test", &[server.to_str().unwrap()], more);
    agent(dir, &format!("{top}\n{lines}"))
}

async fn connect(dir: &Path, spec: &AgentSpec) -> Result<AgentTools, String> {
    spec.connect(&knowledge(dir))
        .await
        .map_err(|e| e.to_string())
}

async fn call(tools: &AgentTools, name: &str, args: Value) -> ToolOutcome {
    tools
        .toolset
        .call_text(name, &args.to_string(), CancellationToken::new())
        .await
}

fn names(tools: &AgentTools) -> Vec<&str> {
    tools.toolset.tools().iter().map(|t| t.name()).collect()
}

fn server_pid(tools: &AgentTools, tool: &str) -> u32 {
    match tools.toolset.get(tool).expect("the tool").binding() {
        Binding::Mcp(t) => t.server().pid().expect("a pid"),
        _ => panic!("{tool} is not an MCP tool"),
    }
}

/// Whether `pid` is gone: no process, not even a zombie waiting to be reaped.
async fn gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    eprintln!("process {pid} is still there: {stat}");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_servers_tools_are_listed_and_called() {
    let dir = tempfile::tempdir().unwrap();
    let spec = test_server_agent(
        dir.path(),
        "approval = \"on-request\"\n\n[[tools]]\nname = \"calculator\"\nkind = \"builtin\"\nbuiltin = \"calculator\"\n",
        "env = { GREETING = \"hello\" }",
    );
    let tools = connect(dir.path(), &spec).await.unwrap();
    assert_eq!(
        names(&tools),
        [
            "calculator",
            "echo",
            "add",
            "fail",
            "slow",
            "delete_file",
            "big",
            "env",
            "cwd",
            "exit"
        ]
    );
    // What the model is shown: the server's descriptions and schemas.
    let defs = tools.toolset.defs();
    let add = defs.iter().find(|d| d.name == "add").unwrap();
    assert_eq!(add.description, "Add two numbers.");
    assert_eq!(add.parameters["required"], json!(["a", "b"]));

    // Approvals from annotations: destructive asks under on-request, read-only does not,
    // and neither does an unannotated tool.
    assert!(tools.needs_approval.contains("delete_file"));
    for quiet in ["echo", "add", "slow", "calculator"] {
        assert!(!tools.needs_approval.contains(quiet), "{quiet}");
    }

    let outcome = call(&tools, "echo", json!({"text": "hi there"})).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.observation(), "hi there");
    // JSON text comes back as JSON.
    let outcome = call(&tools, "add", json!({"a": 2, "b": 3.5})).await;
    assert_eq!(outcome.content, json!({"sum": 5.5}));
    // isError: a failed outcome with the server's text.
    let outcome = call(&tools, "fail", json!({})).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.observation(), "error: the fail tool always fails");
    // Arguments are checked against the server's schema before anything is sent.
    let outcome = call(&tools, "echo", json!({"text": 7})).await;
    assert!(!outcome.ok);
    assert!(
        outcome
            .observation()
            .contains("invalid arguments for `echo`"),
        "{}",
        outcome.observation()
    );
    // The output cap (64 KiB by default).
    let outcome = call(&tools, "big", json!({"bytes": 100_000})).await;
    assert!(outcome.ok && outcome.truncated, "{outcome:?}");
    assert_eq!(outcome.content.as_str().unwrap().len(), 64 * 1024);
    assert!(outcome
        .observation()
        .ends_with("[output truncated at the tool's size limit]"));

    // A cleaned environment plus the file's `env`, in the agent file's folder.
    let outcome = call(&tools, "env", json!({"name": "GREETING"})).await;
    assert_eq!(outcome.content, json!({"value": "hello"}));
    let passed = ["PATH", "HOME", "LANG", "TZ", "TMPDIR"];
    let (secret, _) = std::env::vars()
        .find(|(k, _)| !passed.contains(&k.as_str()))
        .expect("some variable of the test's environment");
    let outcome = call(&tools, "env", json!({"name": secret})).await;
    assert_eq!(outcome.content, json!({"value": null}), "{secret} leaked");
    let outcome = call(&tools, "cwd", json!({})).await;
    assert_eq!(
        Path::new(outcome.content.as_str().unwrap())
            .canonicalize()
            .unwrap(),
        dir.path().canonicalize().unwrap()
    );

    // Dropped: the server is killed and reaped.
    let pid = server_pid(&tools, "echo");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(tools);
    assert!(gone(pid).await, "the server outlived its tools");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_cancellation_and_a_dead_server_are_observations() {
    let dir = tempfile::tempdir().unwrap();
    let spec = test_server_agent(dir.path(), "", "timeout_secs = 1");
    let tools = connect(dir.path(), &spec).await.unwrap();

    let started = Instant::now();
    let outcome = call(&tools, "slow", json!({"seconds": 30})).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!outcome.ok);
    assert!(
        outcome.observation().contains("`slow` timed out after 1 s"),
        "{}",
        outcome.observation()
    );
    // The server is still there for the next call.
    assert_eq!(
        call(&tools, "echo", json!({"text": "still here"}))
            .await
            .observation(),
        "still here"
    );

    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.cancel();
    });
    let started = Instant::now();
    let outcome = tools
        .toolset
        .call_text("slow", "{\"seconds\": 0.9}", cancel)
        .await;
    assert!(started.elapsed() < Duration::from_millis(800));
    assert!(
        outcome.observation().contains("cancelled"),
        "{}",
        outcome.observation()
    );

    // A server that dies: the call and every later one say so, with its exit and stderr.
    let pid = server_pid(&tools, "echo");
    let outcome = call(&tools, "exit", json!({})).await;
    let text = outcome.observation();
    assert!(!outcome.ok);
    assert!(
        text.contains("MCP server `test`")
            && text.contains("is no longer running")
            && text.contains("exited with status 7")
            && text.contains("exiting as asked"),
        "{text}"
    );
    let text = call(&tools, "echo", json!({"text": "x"}))
        .await
        .observation();
    assert!(text.contains("is no longer running"), "{text}");
    // Reaped as soon as it exited, before the tools are dropped.
    assert!(gone(pid).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_policies_and_server_confirm() {
    let dir = tempfile::tempdir().unwrap();
    let all = [
        "echo",
        "add",
        "fail",
        "slow",
        "delete_file",
        "big",
        "env",
        "cwd",
        "exit",
    ];
    let spec = test_server_agent(dir.path(), "approval = \"always\"", "");
    let tools = connect(dir.path(), &spec).await.unwrap();
    assert_eq!(tools.needs_approval.len(), all.len());

    let spec = test_server_agent(dir.path(), "approval = \"never\"", "");
    let tools = connect(dir.path(), &spec).await.unwrap();
    assert!(
        tools.needs_approval.is_empty(),
        "{:?}",
        tools.needs_approval
    );

    // `confirm = true` on the server: every tool asks, even under `never`.
    let spec = test_server_agent(dir.path(), "approval = \"never\"", "confirm = true");
    let tools = connect(dir.path(), &spec).await.unwrap();
    assert_eq!(tools.needs_approval.len(), all.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_filter_and_name_clashes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = test_server_agent(dir.path(), "", "tools = [\"echo\", \"delete_file\"]");
    let tools = connect(dir.path(), &spec).await.unwrap();
    assert_eq!(names(&tools), ["echo", "delete_file"]);

    let spec = test_server_agent(dir.path(), "", "tools = [\"echo\", \"nope\"]");
    let err = connect(dir.path(), &spec).await.unwrap_err();
    assert!(
        err.contains("agent.toml")
            && err.contains("MCP server `test`")
            && err.contains("has no tool `nope`")
            && err.contains("its tools are: echo, add, fail"),
        "{err}"
    );

    let spec = test_server_agent(
        dir.path(),
        "[[tools]]\nname = \"echo\"\nkind = \"builtin\"\nbuiltin = \"calculator\"\n",
        "",
    );
    let err = connect(dir.path(), &spec).await.unwrap_err();
    assert!(
        err.contains(
            "MCP server `test`'s tool `echo` and the agent's tool `echo` are both named `echo`"
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_cannot_start_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let spec = agent(
        dir.path(),
        &server_lines("time", &["mcp-server-no-such-thing", "--x"], ""),
    );
    let err = connect(dir.path(), &spec).await.unwrap_err();
    assert!(
        err.contains("agent.toml")
            && err.contains("MCP server `time` (`mcp-server-no-such-thing --x`)")
            && err.contains("not on PATH")
            && err.contains("pip install mcp-server-no-such-thing"),
        "{err}"
    );

    let server = test_server();
    let spec = agent(
        dir.path(),
        &server_lines("bad", &[server.to_str().unwrap(), "--fail-at-start"], ""),
    );
    let err = connect(dir.path(), &spec).await.unwrap_err();
    assert!(
        err.contains("MCP server `bad`")
            && err.contains("--fail-at-start")
            && err.contains("exited with status 3 before it finished starting")
            && err.contains("refusing to start"),
        "{err}"
    );

    // Not an MCP server: `cat` echoes the handshake back, which is no answer.
    let mut config = McpServerConfig::new("cat", vec!["cat".into()], dir.path());
    config.start_timeout = Duration::from_secs(2);
    let err = McpServer::start(&config).await.unwrap_err();
    assert!(
        err.contains("MCP server `cat` (`cat`)")
            && err.contains("check that the command starts an MCP server on stdio"),
        "{err}"
    );

    // One that never answers: stopped at the start timeout.
    let mut config = McpServerConfig::new(
        "hang",
        vec![server.to_str().unwrap().into(), "--hang".into()],
        dir.path(),
    );
    config.start_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = McpServer::start(&config).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        err.contains("did not finish the MCP handshake and list its tools within 1 s")
            && err.contains("hanging (--hang)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypi_mcp_server_time_is_listed_and_called() {
    let server = mcp_server_time();
    // The shipped agent, with the server from the test venv instead of PATH.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("agents/time-mcp.toml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    assert!(text.contains("\"mcp-server-time\""));
    let text = text.replace(
        "\"mcp-server-time\"",
        &format!("{:?}", server.to_str().unwrap()),
    );
    let spec = AgentSpec::parse(&text, &shipped).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tools = connect(dir.path(), &spec).await.unwrap();
    assert_eq!(
        names(&tools),
        ["time", "calculator", "get_current_time", "convert_time"]
    );
    // Annotated read-only: nothing asks (and the agent's policy is `never` anyway).
    assert!(tools.needs_approval.is_empty());

    let outcome = call(&tools, "get_current_time", json!({"timezone": "UTC"})).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.content["timezone"], "UTC");
    let datetime = outcome.content["datetime"].as_str().expect("a datetime");
    let parsed = chrono::DateTime::parse_from_rfc3339(datetime).expect("RFC 3339");
    let age = chrono::Utc::now().signed_duration_since(parsed);
    assert!(age.num_seconds().abs() < 120, "{datetime}");

    let outcome = call(
        &tools,
        "convert_time",
        json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
    )
    .await;
    assert!(outcome.ok, "{outcome:?}");
    assert!(
        outcome.content["target"]["datetime"]
            .as_str()
            .is_some_and(|d| d.contains("T21:00")),
        "{:?}",
        outcome.content
    );

    let outcome = call(
        &tools,
        "get_current_time",
        json!({"timezone": "Nowhere/Else"}),
    )
    .await;
    assert!(!outcome.ok);
    assert!(
        outcome.observation().contains("Invalid timezone"),
        "{}",
        outcome.observation()
    );

    let pid = server_pid(&tools, "get_current_time");
    drop(tools);
    assert!(gone(pid).await);
}

// --- the end-to-end run through the binary -------------------------------------------

/// `strata agent run FILE task --json` on `dir` with the scripted model as `s/m`.
async fn run_cli(dir: &Path, file: &Path, tool: &'static str, arguments: Value) -> (Value, Seen) {
    let (url, seen) = common::scripted::tool_calling(tool, arguments).await;
    common::scripted::write_config(dir, &url);
    let file = file.to_path_buf();
    let d = dir.to_path_buf();
    // The binary runs off the async runtime: the scripted model is served on it meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = common::strata(&d);
        cmd.env("XDG_CONFIG_HOME", d.join("xdg"))
            .args(["agent", "run"])
            .arg(&file)
            .args(["Say it back", "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 0: done; 3: stopped, waiting for an approval.
    assert!(matches!(out.status.code(), Some(0 | 3)), "{stderr}");
    let run: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (run, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_run_calls_an_mcp_tool_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let agents = d.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    let server = test_server();
    let file = agents.join("echoer.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"echoer\"\nmodel = \"s/m\"\napproval = \"on-request\"\nmemory = \"fresh\"\n{}",
            server_lines("test", &[server.to_str().unwrap()], "")
        ),
    )
    .unwrap();

    let (run, seen) = run_cli(d, &file, "echo", json!({"text": "hello from MCP"})).await;
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["answer"], "Result: hello from MCP");
    // The model was shown the server's tools.
    let advertised: Vec<String> = seen.lock().unwrap()[0]["tools"]
        .as_array()
        .expect("tools in the request")
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        advertised.contains(&"echo".to_string()) && advertised.contains(&"delete_file".to_string()),
        "{advertised:?}"
    );
    let kinds: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["chat", "execute_tool", "chat"]);

    // The trace shows the execute_tool step with the server's result.
    let id = run["id"].as_str().unwrap().to_string();
    let d2 = d.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        common::strata(&d2)
            .env("XDG_CONFIG_HOME", d2.join("xdg"))
            .args(["agent", "trace", &id, "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let trace: Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = &trace["steps"][1];
    assert_eq!(step["kind"], "execute_tool");
    assert_eq!(step["outcome"], "ok");
    assert!(
        step["output"]
            .as_str()
            .is_some_and(|o| o.contains("hello from MCP")),
        "{step}"
    );
    assert_eq!(trace["steps"], run["steps"]);

    // A tool the server annotates as destructive is not run without approval: the run
    // stops, waiting for it.
    let (run, _) = run_cli(d, &file, "delete_file", json!({"path": "/tmp/x"})).await;
    assert_eq!(run["status"], "awaiting_approval", "{run}");
    assert_eq!(run["steps"][1]["outcome"], "awaiting_approval", "{run}");
    assert_eq!(run["pending"]["call"]["name"], "delete_file", "{run}");
}
