//! Agents with tools, end to end: a shipped agent file, its real command tools (the
//! scripts in `agents/`), the orchestrator's tool steps, and `strata agent …` on the built
//! binary. The model is a loopback OpenAI-compatible server scripted to call a tool first
//! and answer from the tool's result after (the one fake: a stream scripted exactly).

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use strata::agents::AgentSpec;
use strata::orchestrator::runs::StepKind;
use strata::orchestrator::{Orchestrator, Turn, TurnInput};
use strata::runtime::context::Caller;

/// The requests the scripted model received.
type Seen = Arc<Mutex<Vec<Value>>>;

fn sse(body: Value) -> String {
    format!("data: {body}\n\n")
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    sse(json!({
        "id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }]
    }))
}

/// A model that calls `tool` with `arguments` until a tool result is in the conversation,
/// then answers "Result: " and that result.
async fn tool_calling_model(tool: &'static str, arguments: Value) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| {
            let log = log.clone();
            let arguments = arguments.clone();
            async move {
                log.lock().unwrap().push(body.clone());
                let last_tool = body["messages"]
                    .as_array()
                    .and_then(|m| m.iter().rev().find(|m| m["role"] == "tool"))
                    .map(|m| m["content"].as_str().unwrap_or_default().to_string());
                let mut parts = Vec::new();
                match last_tool {
                    None => {
                        parts.push(chunk(
                            json!({ "tool_calls": [{ "index": 0, "id": "call_1", "type": "function",
                                "function": { "name": tool, "arguments": arguments.to_string() } }] }),
                            None,
                        ));
                        parts.push(chunk(json!({}), Some("tool_calls")));
                    }
                    Some(result) => {
                        parts.push(chunk(json!({ "content": format!("Result: {result}") }), None));
                        parts.push(chunk(json!({}), Some("stop")));
                    }
                }
                parts.push(sse(json!({
                    "id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                    "choices": [], "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 }
                })));
                parts.push("data: [DONE]\n\n".into());
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from(parts.concat()))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1"), seen)
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("agents")
        .join(format!("{name}.toml"))
}

/// Runs the shipped order-status agent on the scripted model; returns the orchestrator,
/// the outcome and the requests the model saw.
async fn run_order_agent(
    dir: &Path,
    tool: &'static str,
    arguments: Value,
    auto_approve: bool,
) -> (Orchestrator, strata::orchestrator::TurnOutcome, Seen) {
    let (url, seen) = tool_calling_model(tool, arguments).await;
    let runtime = Arc::new(common::runtime(dir, common::scripted::config(&url)).await);
    let orchestrator = Orchestrator::new(runtime).unwrap();
    let spec = AgentSpec::load(&shipped("order-status")).unwrap();
    let mut agent = spec.to_agent_config();
    agent.model = "scripted/model".into();
    let session = orchestrator
        .sessions
        .create_as(agent.clone(), Some("agent:order-status".into()))
        .unwrap();
    let mut turn = Turn::new(
        session.id,
        TurnInput::Ask("Where is my order A1001?".into()),
        Caller::Test,
    );
    turn.agent = Some(agent);
    turn.tools = Some(Arc::new(spec.toolset(&orchestrator.knowledge).unwrap()));
    turn.needs_approval = spec.tools_needing_approval();
    turn.auto_approve = auto_approve;
    let outcome = orchestrator.run_turn(turn, |_| {}).await.unwrap();
    (orchestrator, outcome, seen)
}

/// The tool message the model received in its second request.
fn tool_message(seen: &Seen) -> String {
    let requests = seen.lock().unwrap();
    assert!(
        requests.len() >= 2,
        "the model was called again after the tool"
    );
    requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .expect("a tool message in the second request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_agent_runs_its_command_tool_and_answers_from_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let (orchestrator, outcome, seen) = run_order_agent(
        dir.path(),
        "lookup_order",
        json!({"order_id": "A1001"}),
        false,
    )
    .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    // The real script's answer reached the model and the final answer.
    let result = tool_message(&seen);
    assert!(
        result.contains("shipped") && result.contains("DHL"),
        "{result}"
    );
    assert!(
        outcome.answer.content.contains("shipped"),
        "{}",
        outcome.answer.content
    );
    // The tools were advertised to the model.
    let first = &seen.lock().unwrap()[0];
    let names: Vec<&str> = first["tools"]
        .as_array()
        .expect("tools in the request")
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lookup_order", "cancel_order"]);
    // The trace: chat, execute_tool, chat, each stored with what it did.
    let steps = orchestrator.runs.steps(outcome.run).unwrap();
    let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [StepKind::ModelCall, StepKind::ToolCall, StepKind::ModelCall]
    );
    assert_eq!(steps[0].tool_calls[0].name, "lookup_order");
    assert_eq!(steps[1].outcome, "ok");
    assert!(steps[1].output.contains("shipped"), "{}", steps[1].output);
    assert!(steps[1].tool_calls[0].arguments.contains("A1001"));
    let run = orchestrator.runs.get(outcome.run).unwrap().unwrap();
    assert_eq!(run.step_count, 3);
    assert!(run.state.is_some(), "rig's state is stored with the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tool_is_an_observation_not_a_stuck_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, outcome, seen) =
        run_order_agent(dir.path(), "drop_tables", json!({"really": true}), false).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let result = tool_message(&seen);
    assert!(
        result.contains("there is no tool `drop_tables`") && result.contains("lookup_order"),
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_tool_does_not_run_unapproved_and_runs_when_approved() {
    let dir = tempfile::tempdir().unwrap();
    let (orchestrator, outcome, seen) = run_order_agent(
        dir.path(),
        "cancel_order",
        json!({"order_id": "A1002"}),
        false,
    )
    .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let result = tool_message(&seen);
    assert!(result.contains("needs the user's approval"), "{result}");
    let steps = orchestrator.runs.steps(outcome.run).unwrap();
    assert_eq!(steps[1].outcome, "needs_approval");

    let dir = tempfile::tempdir().unwrap();
    let (_, outcome, seen) = run_order_agent(
        dir.path(),
        "cancel_order",
        json!({"order_id": "A1002"}),
        true,
    )
    .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let result = tool_message(&seen);
    assert!(result.contains("\"cancelled\":true"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_shows_runs_and_traces_agents() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (url, _) = tool_calling_model("lookup_order", json!({"order_id": "A1003"})).await;
    std::fs::write(
        d.join("config.toml"),
        format!(
            "max_retries = 0\n[providers.s]\nkind = \"openai\"\nbase_url = \"{url}\"\n\
             [[models]]\nid = \"s/m\"\nprovider = \"s\"\ncapabilities = [\"chat\"]\n"
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = common::strata(d);
        cmd.env("XDG_CONFIG_HOME", d.join("xdg"));
        let out = cmd.args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = cli(&["agent", "list", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for shipped in ["order-status", "rust-book", "files", "time-mcp"] {
        assert!(names.contains(&shipped), "{names:?}");
    }
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["problems"].as_array().unwrap().is_empty()));

    let (code, out, _) = cli(&["agent", "show", "order-status"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("tool lookup_order: command") && out.contains("[asks first]"),
        "{out}"
    );

    let (code, out, err) = cli(&[
        "agent",
        "run",
        "order-status",
        "Where is order A1003?",
        "-m",
        "s/m",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["status"], "done");
    assert_eq!(run["agent"], "order-status");
    assert!(
        run["answer"].as_str().unwrap().contains("delivered"),
        "{run}"
    );
    let kinds: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["chat", "execute_tool", "chat"]);
    let id = run["id"].as_str().unwrap();

    let (code, out, _) = cli(&["agent", "runs", "--json"]);
    assert_eq!(code, Some(0));
    let runs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs[0]["id"], id);

    let (code, out, _) = cli(&["agent", "trace", id, "--json"]);
    assert_eq!(code, Some(0));
    let trace: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(trace["steps"], run["steps"]);
    let (code, out, _) = cli(&["agent", "trace", id]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("execute_tool") && out.contains("lookup_order"),
        "{out}"
    );

    let (code, _, err) = cli(&["agent", "run", "no-such-agent", "hi"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("no-such-agent"), "{err}");
}
