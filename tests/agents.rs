//! Agents with tools, end to end: a shipped agent file, its real command tools (the
//! scripts in `agents/`), the orchestrator's tool steps, and `strata agent …` on the built
//! binary. The model is a loopback OpenAI-compatible server scripted to call a tool first
//! and answer from the tool's result after (the one fake: a stream scripted exactly).

mod common;

use common::scripted::Seen;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use strata::agents::AgentSpec;
use strata::guardrails::policy::Policy;
use strata::orchestrator::approval::Decision;
use strata::orchestrator::diff::diff_steps;
use strata::orchestrator::runs::{RunStatus, StepKind};
use strata::orchestrator::{Fork, Orchestrator, Resume, ToolAccess, Turn, TurnInput, TurnOutcome};
use strata::runtime::context::Caller;
use strata::sessions::{AgentConfig, MessageStatus};
use strata::store::Id;

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("agents")
        .join(format!("{name}.toml"))
}

/// The shipped order-status agent's tools, bound, approved by nobody (or everything).
fn order_access(orchestrator: &Orchestrator, auto_approve: bool) -> ToolAccess {
    let spec = AgentSpec::load(&shipped("order-status")).unwrap();
    ToolAccess {
        tools: Some(Arc::new(spec.toolset(&orchestrator.knowledge).unwrap())),
        needs_approval: spec.tools_needing_approval(),
        auto_approve,
        agent_file: Some(spec.file.display().to_string()),
        ..ToolAccess::default()
    }
}

/// A turn of the order-status agent in `session`.
async fn order_turn(
    orchestrator: &Orchestrator,
    session: Id,
    question: &str,
    auto_approve: bool,
) -> TurnOutcome {
    let spec = AgentSpec::load(&shipped("order-status")).unwrap();
    let mut agent = spec.to_agent_config();
    agent.model = "scripted/model".into();
    let mut turn = Turn::new(session, TurnInput::Ask(question.into()), Caller::Test);
    turn.agent = Some(agent);
    turn.access = order_access(orchestrator, auto_approve);
    orchestrator.run_turn(turn, |_| {}).await.unwrap()
}

/// An orchestrator on the scripted model that calls `tool`, and a session of the
/// order-status agent.
async fn order_agent(dir: &Path, tool: &'static str, arguments: Value) -> (Orchestrator, Id, Seen) {
    let (url, seen) = common::scripted::tool_calling(tool, arguments).await;
    let runtime = Arc::new(common::runtime(dir, common::scripted::config(&url)).await);
    let orchestrator = Orchestrator::new(runtime).unwrap();
    let spec = AgentSpec::load(&shipped("order-status")).unwrap();
    let mut agent = spec.to_agent_config();
    agent.model = "scripted/model".into();
    let session = orchestrator
        .sessions
        .create_as(agent, Some("agent:order-status".into()))
        .unwrap();
    (orchestrator, session.id, seen)
}

/// Runs the shipped order-status agent on the scripted model; returns the orchestrator,
/// the outcome and the requests the model saw.
async fn run_order_agent(
    dir: &Path,
    tool: &'static str,
    arguments: Value,
    auto_approve: bool,
) -> (Orchestrator, TurnOutcome, Seen) {
    let (orchestrator, session, seen) = order_agent(dir, tool, arguments).await;
    let outcome = order_turn(
        &orchestrator,
        session,
        "Where is my order A1001?",
        auto_approve,
    )
    .await;
    (orchestrator, outcome, seen)
}

/// Resumes a paused run with `decision`.
async fn resume(orchestrator: &Orchestrator, run: Id, decision: Decision) -> TurnOutcome {
    orchestrator
        .resume(
            Resume {
                run,
                decision,
                access: order_access(orchestrator, false),
                cancel: Default::default(),
                caller: Caller::Test,
            },
            |_| {},
        )
        .await
        .unwrap()
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
    // A checkpoint (rig's state and what the driver needs) before and after every step.
    for index in 0..=3 {
        let checkpoint = orchestrator.runs.checkpoint(run.id, index).unwrap();
        assert!(checkpoint.is_some(), "no checkpoint at step {index}");
    }
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
async fn a_confirm_tool_pauses_the_run_until_the_user_decides() {
    let dir = tempfile::tempdir().unwrap();
    let (orchestrator, session, seen) =
        order_agent(dir.path(), "cancel_order", json!({"order_id": "A1002"})).await;
    let ask = |q: &'static str| order_turn(&orchestrator, session, q, false);

    // Paused before the call: stored as awaiting approval, the model called once.
    let paused = ask("Cancel order A1002").await;
    assert!(paused.error.is_none(), "{:?}", paused.error);
    let pending = paused.pending.clone().expect("the run waits for approval");
    assert_eq!(pending.call.name, "cancel_order");
    assert_eq!(pending.step, 2);
    assert_eq!(paused.answer.status, MessageStatus::AwaitingApproval);
    let run = orchestrator.runs.get(paused.run).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::AwaitingApproval);
    assert_eq!(run.pending.as_ref().unwrap().call.name, "cancel_order");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let steps = orchestrator.runs.steps(paused.run).unwrap();
    assert_eq!(steps[1].outcome, "awaiting_approval");

    // Approved: the real script runs and the model answers from its result.
    let done = resume(&orchestrator, paused.run, Decision::Approve).await;
    assert!(
        done.error.is_none() && done.pending.is_none(),
        "{:?}",
        done.error
    );
    assert!(tool_message(&seen).contains("\"cancelled\":true"));
    assert_eq!(done.answer.status, MessageStatus::Complete);
    let run = orchestrator.runs.get(paused.run).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Done);
    let steps = orchestrator.runs.steps(paused.run).unwrap();
    let outcomes: Vec<&str> = steps.iter().map(|s| s.outcome.as_str()).collect();
    assert_eq!(outcomes, ["ok", "ok", "ok"]);
    // Resuming a finished run is refused with a reason.
    let again = orchestrator
        .resume(
            Resume {
                run: paused.run,
                decision: Decision::Approve,
                access: order_access(&orchestrator, false),
                cancel: Default::default(),
                caller: Caller::Test,
            },
            |_| {},
        )
        .await;
    assert!(
        matches!(&again, Err(e) if e.to_string().contains("not awaiting approval")),
        "{:?}",
        again.err()
    );

    // The next turn's history is valid for an OpenAI-compatible server: the call, then
    // its result, then the answer.
    let n = seen.lock().unwrap().len();
    let denied = ask("Cancel order A1002 again").await;
    let history = seen.lock().unwrap()[n]["messages"].clone();
    let roles: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "assistant", "user"],
        "{history}"
    );
    assert_eq!(
        history[2]["tool_calls"][0]["id"], history[3]["tool_call_id"],
        "{history}"
    );

    // Denied with a reason: the model reads it; the tool never ran.
    let done = resume(&orchestrator, denied.run, Decision::Deny("keep it".into())).await;
    let result = last_tool_message(&seen);
    assert!(
        result.contains("denied") && result.contains("keep it"),
        "{result}"
    );
    let steps = orchestrator.runs.steps(done.run).unwrap();
    assert_eq!(steps[1].outcome, "denied");

    // Edited arguments: the tool runs with them.
    let edited = ask("Cancel order A1002, please").await;
    resume(
        &orchestrator,
        edited.run,
        Decision::EditArgs(r#"{"order_id": "A1001"}"#.into()),
    )
    .await;
    let result = last_tool_message(&seen);
    assert!(
        result.contains("A1001") && result.contains("user set"),
        "{result}"
    );
    let steps = orchestrator.runs.steps(edited.run).unwrap();
    assert_eq!(steps[1].tool_calls[1].arguments, r#"{"order_id": "A1001"}"#);

    // A result given by hand: the model reads it as the tool's.
    let by_hand = ask("Cancel order A1002 now").await;
    resume(
        &orchestrator,
        by_hand.run,
        Decision::Result(r#"{"cancelled": false, "why": "already shipped"}"#.into()),
    )
    .await;
    let result = last_tool_message(&seen);
    assert!(result.contains("already shipped"), "{result}");

    // Approved for the session: later calls of the tool run without asking.
    let always = ask("Cancel it").await;
    resume(&orchestrator, always.run, Decision::ApproveAlways).await;
    let session_now = orchestrator.sessions.get(session).unwrap().unwrap();
    assert!(session_now.approved_tools.contains("cancel_order"));
    let next = ask("Cancel it once more").await;
    assert!(next.pending.is_none(), "asked again after approve-always");
    assert!(last_tool_message(&seen).contains("cancelled"));

    // --yes: nothing pauses.
    let dir = tempfile::tempdir().unwrap();
    let (_, outcome, seen) = run_order_agent(
        dir.path(),
        "cancel_order",
        json!({"order_id": "A1002"}),
        true,
    )
    .await;
    assert!(outcome.pending.is_none() && outcome.error.is_none());
    assert!(tool_message(&seen).contains("\"cancelled\":true"));
}

/// The tool message of the newest request.
fn last_tool_message(seen: &Seen) -> String {
    let last = seen.lock().unwrap().len() - 1;
    tool_message_of(seen, last)
}

/// The tool message in request `index` (after its newest question).
fn tool_message_of(seen: &Seen, index: usize) -> String {
    let requests = seen.lock().unwrap();
    requests[index]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take_while(|m| m["role"] != "user")
        .find(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .expect("a tool message after the question")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_forks_from_a_step_with_an_edited_result_and_diffs_against_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let (orchestrator, outcome, seen) = run_order_agent(
        dir.path(),
        "lookup_order",
        json!({"order_id": "A1001"}),
        false,
    )
    .await;
    assert!(outcome.answer.content.contains("shipped"));
    let calls_before = seen.lock().unwrap().len();

    // Fork at the tool step with another result: steps 1..2 shared, step 3 is new.
    let mut fork = Fork::new(outcome.run, 2);
    fork.tool_result = Some((2, r#"{"status": "lost in transit"}"#.into()));
    fork.access = order_access(&orchestrator, false);
    let forked = orchestrator.fork(fork, |_| {}).await.unwrap();
    assert!(forked.error.is_none(), "{:?}", forked.error);
    assert!(
        forked.answer.content.contains("lost in transit"),
        "{}",
        forked.answer.content
    );
    // Only the new model call ran: the tool was not called again.
    assert_eq!(seen.lock().unwrap().len(), calls_before + 1);
    let run = orchestrator.runs.get(forked.run).unwrap().unwrap();
    let parent = run.parent.expect("the fork records its parent");
    assert_eq!((parent.run, parent.step), (outcome.run, 2));
    let steps = orchestrator.runs.steps(forked.run).unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[1].outcome, "edited");
    // The fork lives in its own session; the parent's is untouched.
    assert_ne!(
        run.session,
        orchestrator.runs.get(outcome.run).unwrap().unwrap().session
    );

    let parent_steps = orchestrator.runs.steps(outcome.run).unwrap();
    let diff = diff_steps(&parent_steps, &steps);
    assert_eq!(
        diff.first_divergence,
        Some(1),
        "step 2's result differs first"
    );
    assert!(diff.rows[0].same);

    // Fork at step 2 with other instructions: the next request carries them.
    let mut fork = Fork::new(outcome.run, 2);
    fork.instructions = Some("Answer in five words.".into());
    fork.access = order_access(&orchestrator, false);
    orchestrator.fork(fork, |_| {}).await.unwrap();
    let last = seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(last["messages"][0]["content"], "Answer in five words.");

    // A replay: recorded tool results, live model calls.
    let mut replay = Fork::new(outcome.run, 0);
    replay.replay = true;
    replay.access = order_access(&orchestrator, false);
    let n = seen.lock().unwrap().len();
    let replayed = orchestrator.fork(replay, |_| {}).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        n + 2,
        "both model calls are live"
    );
    let steps = orchestrator.runs.steps(replayed.run).unwrap();
    assert_eq!(steps[1].outcome, "recorded");
    assert_eq!(steps[1].output, parent_steps[1].output);
    assert_eq!(
        diff_steps(&parent_steps, &steps).first_divergence,
        None,
        "a replay on the same scripted model matches"
    );

    // Bad forks are refused with what to do.
    let err = orchestrator
        .fork(Fork::new(outcome.run, 9), |_| {})
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("no step 9"), "{err}");
    let mut fork = Fork::new(outcome.run, 3);
    fork.tool_result = Some((2, "{}".into()));
    let err = orchestrator.fork(fork, |_| {}).await.err().unwrap();
    assert!(err.to_string().contains("--from-step 2"), "{err}");
}

/// Stores a guardrail that anonymizes emails and phone numbers in the orchestrator's
/// store, frozen as version 1; returns its reference (what an agent's `guardrail` names).
fn store_pii_guardrail(orchestrator: &Orchestrator) -> String {
    let toml =
        "name = \"pii\"\n[sensitive_information]\nemail = \"anonymize\"\nphone = \"anonymize\"\n";
    let policy = Policy::parse(toml, "pii.toml").unwrap();
    let store = orchestrator.guardrails.store();
    store.save_draft(&policy, toml, false).unwrap();
    store.create_version(&policy.name, None).unwrap();
    policy.name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_results_go_through_the_input_checks_before_the_model_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let (orchestrator, session, seen) =
        order_agent(dir.path(), "lookup_order", json!({"order_id": "A1005"})).await;
    let spec = AgentSpec::load(&shipped("order-status")).unwrap();
    let mut agent = spec.to_agent_config();
    agent.model = "scripted/model".into();
    agent.guardrail = Some(store_pii_guardrail(&orchestrator));
    let mut turn = Turn::new(
        session,
        TurnInput::Ask("Who handles order A1005?".into()),
        Caller::Test,
    );
    turn.agent = Some(agent);
    turn.access = order_access(&orchestrator, false);
    let outcome = orchestrator.run_turn(turn, |_| {}).await.unwrap();
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    // The tool returned the address (the trace keeps what the tool said)…
    let steps = orchestrator.runs.steps(outcome.run).unwrap();
    assert!(steps[1].output.contains("ops.desk@example.com"));
    // …but the model read it masked.
    let result = tool_message(&seen);
    assert!(
        !result.contains("ops.desk@example.com") && result.contains("held"),
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masked_question_is_never_stored_raw() {
    let dir = tempfile::tempdir().unwrap();
    // A provider nobody listens on: the call fails after the question is stored.
    let url = format!("http://127.0.0.1:{}/v1", common::free_port());
    let runtime = Arc::new(common::runtime(dir.path(), common::scripted::config(&url)).await);
    let orchestrator = Orchestrator::new(runtime).unwrap();
    let mut agent = AgentConfig::default_for("scripted/model");
    agent.guardrail = Some(store_pii_guardrail(&orchestrator));
    let session = orchestrator.sessions.create_with(agent).unwrap();
    let raw = "jane.roe.4471@example.org";
    let turn = Turn::new(
        session.id,
        TurnInput::Ask(format!("Write to {raw} about the refund")),
        Caller::Test,
    );
    let outcome = orchestrator.run_turn(turn, |_| {}).await.unwrap();
    assert!(outcome.error.is_some(), "the provider call should fail");
    let messages = orchestrator.sessions.messages(session.id).unwrap();
    assert!(
        !messages[0].content.contains(raw),
        "{}",
        messages[0].content
    );
    orchestrator.sessions.flush().unwrap();
    drop(orchestrator);
    for entry in walkdir::WalkDir::new(dir.path()) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(
                !bytes.windows(raw.len()).any(|w| w == raw.as_bytes()),
                "the raw value is in {}",
                entry.path().display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_shows_runs_and_traces_agents() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (url, _) =
        common::scripted::tool_calling("lookup_order", json!({"order_id": "A1003"})).await;
    common::scripted::write_config(d, &url);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_stops_at_an_approval_and_a_later_process_resumes_forks_and_diffs() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (url, seen) =
        common::scripted::tool_calling("cancel_order", json!({"order_id": "A1002"})).await;
    common::scripted::write_config(d, &url);
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
    // No terminal, no --yes: the run stops at the confirm tool and says how to go on.
    let (code, _, err) = cli(&["agent", "run", "order-status", "Cancel A1002", "-m", "s/m"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("strata agent resume") && err.contains("cancel_order"),
        "{err}"
    );
    let (_, out, _) = cli(&["agent", "runs", "--json"]);
    let runs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs[0]["status"], "awaiting_approval");
    assert_eq!(runs[0]["pending"]["call"]["name"], "cancel_order");
    let id = runs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(seen.lock().unwrap().len(), 1);

    // A later process denies it with a reason; the model reads the reason.
    let (code, out, err) = cli(&["agent", "resume", &id, "--deny", "not this one", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["status"], "done");
    assert_eq!(run["steps"][1]["outcome"], "denied");
    assert!(
        run["answer"].as_str().unwrap().contains("not this one"),
        "{run}"
    );
    let (code, _, err) = cli(&["agent", "resume", &id, "--approve"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("not awaiting approval"), "{err}");
    let (code, _, err) = cli(&["agent", "resume", &id, "--args", "[1]"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("not a JSON object"), "{err}");

    // Fork from step 2 with the result by hand, then diff the two.
    let (code, out, err) = cli(&[
        "agent",
        "fork",
        &id,
        "--from-step",
        "2",
        "--tool-result",
        "2={\"cancelled\": true, \"by\": \"hand\"}",
        "--json",
    ]);
    // Step 2 of the parent was the denied call: its result was in the batch at step 2.
    assert_eq!(code, Some(0), "{err}");
    let fork: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(fork["parent_run"], id.as_str());
    assert_eq!(fork["parent_step"], 2);
    assert!(fork["answer"].as_str().unwrap().contains("hand"), "{fork}");
    let fork_id = fork["id"].as_str().unwrap();
    let (code, out, _) = cli(&["agent", "diff", &id, fork_id, "--json"]);
    assert_eq!(code, Some(0));
    let diff: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(diff["first_divergence"], 2, "{diff}");
    let (code, out, _) = cli(&["agent", "diff", &id, fork_id]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("first divergence at step 2") && out.contains('▶'),
        "{out}"
    );

    // --yes approves everything.
    let (code, out, err) = cli(&[
        "agent",
        "run",
        "order-status",
        "Cancel A1002",
        "-m",
        "s/m",
        "--yes",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["steps"][1]["outcome"], "ok");
}

/// The shipped order-status agent on its own local model (SmolLM2-135M, greedy, tools by
/// constrained decoding): it calls its command tool, reads the result, and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_agent_completes_a_task_on_the_local_model() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(common::runtime(dir.path(), strata::config::Config::default()).await);
    let orchestrator = Orchestrator::new(runtime).unwrap();
    let (outcome, steps) = local_order_run(&orchestrator, "local/smollm2-135m").await;
    check_order_trace(&outcome, &steps);
}

/// The same agent against llama.cpp's OpenAI-compatible server (tools in its
/// chatml-function-calling format) on the same GGUF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_agent_completes_a_task_on_the_llama_cpp_server() {
    let server =
        common::LlamaServer::start_with(&["--chat_format", "chatml-function-calling"]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::scripted::config(&server.base_url);
    config.models[0].remote_name = Some("smollm2".into());
    let runtime = Arc::new(common::runtime(dir.path(), config).await);
    let orchestrator = Orchestrator::new(runtime).unwrap();
    let (outcome, steps) = local_order_run(&orchestrator, "scripted/model").await;
    check_order_trace(&outcome, &steps);
}

/// A run of the shipped order-status agent on `model`, every call approved.
async fn local_order_run(
    orchestrator: &Orchestrator,
    model: &str,
) -> (TurnOutcome, Vec<strata::orchestrator::runs::Step>) {
    let spec = AgentSpec::load(&shipped("order-status")).unwrap();
    let mut agent = spec.to_agent_config();
    agent.model = model.into();
    agent.tools = spec.tools.iter().map(|t| t.to_tool_def()).collect();
    let session = orchestrator
        .sessions
        .create_as(agent.clone(), None)
        .unwrap();
    let mut turn = Turn::new(
        session.id,
        TurnInput::Ask("What is the status of order A1001?".into()),
        Caller::Test,
    );
    turn.agent = Some(agent);
    turn.access = order_access(orchestrator, true);
    let outcome = orchestrator.run_turn(turn, |_| {}).await.unwrap();
    let steps = orchestrator.runs.steps(outcome.run).unwrap();
    (outcome, steps)
}

/// The trace of a finished order question: a model call that asks for lookup_order with
/// the order's id, the tool's real result, and a model call that answers in text.
fn check_order_trace(outcome: &TurnOutcome, steps: &[strata::orchestrator::runs::Step]) {
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let trace: Vec<_> = steps.iter().map(|s| (s.kind, s.outcome.clone())).collect();
    assert!(steps.len() >= 3, "{trace:?}");
    assert_eq!(steps[0].kind, StepKind::ModelCall);
    let call = &steps[0].tool_calls[0];
    assert_eq!(call.name, "lookup_order", "{trace:?}");
    assert!(call.arguments.contains("1001"), "{}", call.arguments);
    assert_eq!(
        (steps[1].kind, steps[1].outcome.as_str()),
        (StepKind::ToolCall, "ok")
    );
    assert!(steps[1].output.contains("shipped"), "{}", steps[1].output);
    let last = steps.last().unwrap();
    assert_eq!(last.kind, StepKind::ModelCall, "{trace:?}");
    assert!(
        last.tool_calls.is_empty(),
        "the run ends with an answer: {trace:?}"
    );
    assert!(!outcome.answer.content.trim().is_empty());
}

/// `memory = "session"` (order-status) goes on in the agent's last conversation: the second
/// run's model call sees the first question; `--fresh` starts a new one; `memory = "fresh"`
/// (the files agent) always does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_keeps_the_conversation_across_runs_or_starts_fresh() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (url, seen) =
        common::scripted::tool_calling("lookup_order", json!({"order_id": "A1003"})).await;
    common::scripted::write_config(d, &url);
    let run = |args: &[&str]| -> Value {
        let out = common::strata(d)
            .args(["agent", "run"])
            .args(args)
            .args(["-m", "s/m", "--yes", "--json"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let questions_seen = |seen: &Seen| -> Vec<String> {
        let last = seen.lock().unwrap().last().cloned().unwrap();
        last["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .map(|m| m["content"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let first = run(&["order-status", "Where is order A1003?"]);
    let second = run(&["order-status", "And when did it arrive?"]);
    assert_eq!(
        first["session"], second["session"],
        "the conversation goes on"
    );
    assert_eq!(
        questions_seen(&seen),
        ["Where is order A1003?", "And when did it arrive?"]
    );
    let third = run(&["order-status", "Where is order A1003?", "--fresh"]);
    assert_ne!(third["session"], second["session"]);
    assert_eq!(questions_seen(&seen), ["Where is order A1003?"]);
    // The files agent keeps nothing between runs.
    let a = run(&["files", "List the notes."]);
    let b = run(&["files", "List the notes."]);
    assert_ne!(a["session"], b["session"]);
}
