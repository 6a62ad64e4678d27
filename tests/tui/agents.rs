//! The Agents screen, the keyboard trace debugger: an agent run from the keyboard, held
//! before each step and stepped, a tool call approved in the prompt, a held tool step given
//! its result by hand, a fork with an edited tool result and its diff with the parent, a
//! replay, a run left waiting for an approval and decided later (here and in the chat).
//! The agent's tool is the shipped order-status script (a real subprocess); the model is
//! the loopback server scripted to call the tool, then answer from its result.

use serde_json::json;
use strata::orchestrator::runs::{RunStatus, StepKind};
use strata::tui::screens::agents::AgentsScreen;

use super::*;

/// An agent file in the config dir whose one tool asks before every call.
fn write_agent(dir: &std::path::Path) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("agents/order-status/lookup_order.sh");
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::write(
        agents.join("orders.toml"),
        format!(
            r#"name = "orders"
description = "Looks orders up, asking first."
instructions = "Call lookup_order with the order id, then answer."
model = "scripted/model"
max_steps = 6

[[tools]]
name = "lookup_order"
description = "Look up an order by its id."
kind = "command"
command = [{script:?}]
timeout_secs = 10
confirm = true

[tools.parameters]
type = "object"
properties = {{ order_id = {{ type = "string" }} }}
required = ["order_id"]
"#
        ),
    )
    .unwrap();
}

fn agents(app: &App) -> &AgentsScreen {
    app.find().expect("an agents screen")
}

/// The step the debugger holds the live run before, if any.
fn held_step(app: &App) -> Option<&strata::orchestrator::approval::NextStep> {
    agents(app).live.as_ref().and_then(|l| l.held.as_ref())
}

fn approval_open(app: &App) -> bool {
    matches!(app.top_layer(), Some(Layer::Approval(_)))
}

fn shown_status(app: &App) -> Option<RunStatus> {
    agents(app).shown.as_ref().map(|s| s.run.status)
}

/// Goes to the Agents screen and waits for its lists.
async fn open_agents_screen(h: &mut Harness) {
    while h.app.active != ScreenId::Agents {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    h.pump_until(|app| !agents(app).agents.is_empty()).await;
}

/// Selects the agent `name` in the agents list and gives it `task`.
fn run_agent(h: &mut Harness, name: &str, task: &str) {
    while agents(&h.app).focus != strata::tui::screens::agents::Pane::Agents {
        h.key(KeyCode::Tab, KeyModifiers::NONE);
    }
    let at = agents(&h.app)
        .agents
        .iter()
        .position(|a| a.name == name)
        .expect("the agent is listed");
    while agents(&h.app).agent_selected < at {
        h.type_text("j");
    }
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(
        matches!(h.app.top_layer(), Some(Layer::Prompt(..))),
        "{:?} {:?}",
        h.app.cx.flash,
        agents(&h.app).focus
    );
    h.type_text(task);
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(agents(&h.app).is_running());
}

/// The Agents screen over the `orders` agent, on a model that looks `order` up; the
/// requests the model received.
async fn orders_on_agents_screen(
    dir: &std::path::Path,
    order: &str,
) -> (Harness, common::scripted::Seen) {
    let (url, seen) =
        common::scripted::tool_calling("lookup_order", json!({ "order_id": order })).await;
    write_agent(dir);
    let mut h = Harness::with_config(dir, common::scripted::config(&url)).await;
    open_agents_screen(&mut h).await;
    (h, seen)
}

/// Ids as the screen shows them, and record ids, replaced by names; times redacted.
fn redact(screen: &str, names: &[(strata::store::Id, &str)]) -> String {
    let mut out = screen.to_string();
    for (id, name) in names {
        out = out.replace(&id.to_string(), name);
        out = out.replace(&strata::tui::screens::agents::short_id(*id), name);
    }
    let records = regex::Regex::new(r"record [0-9a-f]{8}").unwrap();
    redact_times(&records.replace_all(&out, "record RECORD"))
}

/// Pause, step, approve, edit a held step, fork with an edited result, diff, replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debugger_steps_approves_forks_and_diffs_from_the_keyboard() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, _seen) = orders_on_agents_screen(dir.path(), "A1001").await;

    // p with no run going on: the next run starts held before its first step.
    h.type_text("p");
    assert!(agents(&h.app).start_paused);
    run_agent(&mut h, "orders", "Where is order A1001?");
    h.pump_until(|app| agents(app).is_held()).await;
    let held = agents(&h.app).live.as_ref().unwrap().held.clone().unwrap();
    assert_eq!((held.index, held.kind), (1, StepKind::ModelCall));
    assert_eq!(
        held.instructions.as_deref(),
        Some("Call lookup_order with the order id, then answer.")
    );
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(screen.contains("held before step 1"), "{screen}");

    // s: the model call runs (it asks for the tool), then the run holds before the tool.
    h.type_text("s");
    h.pump_until(|app| held_step(app).is_some_and(|n| n.index == 2))
        .await;
    let held = agents(&h.app).live.as_ref().unwrap().held.clone().unwrap();
    assert_eq!(held.kind, StepKind::ToolCall);
    assert_eq!(held.call.as_ref().unwrap().name, "lookup_order");
    // The step list shows step 1 (the model's call) while step 2 waits.
    h.pump_until(|app| {
        agents(app)
            .shown
            .as_ref()
            .is_some_and(|s| s.steps.first().is_some_and(|s| s.outcome == "ok"))
    })
    .await;
    let shown = agents(&h.app).shown.as_ref().unwrap();
    assert_eq!(shown.steps.len(), 1);
    assert_eq!(shown.steps[0].tool_calls[0].name, "lookup_order");

    // c: no more holding; the confirm tool asks, y approves, the run ends.
    h.type_text("c");
    h.pump_until(approval_open).await;
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(screen.contains("Approve tool call?"), "{screen}");
    assert!(screen.contains(r#"{"order_id":"A1001"}"#), "{screen}");
    h.type_text("y");
    h.pump_until(|app| !agents(app).is_running()).await;
    h.pump_until(|app| shown_status(app) == Some(RunStatus::Done))
        .await;
    let first = agents(&h.app).shown.clone().unwrap();
    let kinds: Vec<(StepKind, &str)> = first
        .steps
        .iter()
        .map(|s| (s.kind, s.outcome.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (StepKind::ModelCall, "ok"),
            (StepKind::ToolCall, "ok"),
            (StepKind::ModelCall, "ok")
        ]
    );
    assert!(
        first.steps[1].output.contains("shipped"),
        "the real tool ran"
    );
    assert!(
        first.steps[2].output.contains("shipped"),
        "{:?}",
        first.steps[2]
    );

    // The finished run: steps and the selected step's detail, at both sizes (once the
    // runs list has it done too).
    h.pump_until(|app| {
        agents(app)
            .runs
            .iter()
            .any(|r| r.run.id == first.run.id && r.run.status == RunStatus::Done)
    })
    .await;
    h.type_text("k");
    for (w, ht) in [(80u16, 24u16), (120, 40)] {
        let screen = text(&draw(&mut h.app, w, ht));
        assert!(screen.contains("execute_tool"), "{screen}");
        insta::assert_snapshot!(
            format!("agents_run_{w}x{ht}"),
            redact(&screen, &[(first.run.id, "RUN-1")])
        );
    }

    // f on the tool step: the fork form; the tool result edited; the fork runs.
    assert_eq!(agents(&h.app).step_selected, 1);
    h.type_text("f");
    assert!(matches!(h.app.top_layer(), Some(Layer::Form(_))));
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text(r#"{"status": "lost"}"#);
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(agents(&h.app).is_running());
    // Runs still start held: the fork waits before its first step of its own.
    h.pump_until(|app| agents(app).is_held()).await;
    let held = agents(&h.app).live.as_ref().unwrap().held.clone().unwrap();
    assert_eq!((held.index, held.kind), (3, StepKind::ModelCall));
    h.type_text("c");
    h.pump_until(|app| !agents(app).is_running()).await;
    h.pump_until(|app| {
        agents(app)
            .shown
            .as_ref()
            .is_some_and(|s| s.run.parent.is_some() && s.run.status == RunStatus::Done)
    })
    .await;
    let fork = agents(&h.app).shown.clone().unwrap();
    assert_eq!(fork.run.parent.unwrap().run, first.run.id);
    assert_eq!(fork.run.parent.unwrap().step, 2);
    assert_eq!(fork.steps[1].outcome, "edited");
    assert!(
        fork.steps.last().unwrap().output.contains("lost"),
        "the model read the edited result: {:?}",
        fork.steps.last()
    );

    // d on a fork: diffed with its parent, the first divergence at the edited step.
    h.pump_until(|app| {
        agents(app)
            .runs
            .iter()
            .any(|r| r.run.id == fork.run.id && r.run.status == RunStatus::Done)
    })
    .await;
    h.type_text("d");
    h.pump_until(|app| agents(app).diff.is_some()).await;
    let diff = agents(&h.app).diff.clone().unwrap();
    assert_eq!(diff.diff.first_divergence, Some(1));
    for (w, ht) in [(80u16, 24u16), (120, 40)] {
        let screen = text(&draw(&mut h.app, w, ht));
        assert!(screen.contains("first divergence at step 2"), "{screen}");
        insta::assert_snapshot!(
            format!("agents_diff_{w}x{ht}"),
            redact(&screen, &[(first.run.id, "RUN-1"), (fork.run.id, "FORK-1")])
        );
    }
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert!(agents(&h.app).diff.is_none());

    // A run held before its tool step, given the result by hand (e): the tool never runs.
    assert!(agents(&h.app).start_paused);
    run_agent(&mut h, "orders", "Where is order A1001, again?");
    h.pump_until(|app| agents(app).is_held()).await;
    h.type_text("s");
    h.pump_until(|app| held_step(app).is_some_and(|n| n.kind == StepKind::ToolCall))
        .await;
    h.type_text("e");
    assert!(matches!(h.app.top_layer(), Some(Layer::Form(_))));
    h.type_text(r#"{"status": "on the moon"}"#);
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Held again before the last model call; c lets it finish.
    h.pump_until(|app| held_step(app).is_some_and(|n| n.index == 3))
        .await;
    h.type_text("c");
    h.pump_until(|app| !agents(app).is_running()).await;
    h.pump_until(|app| {
        agents(app).shown.as_ref().is_some_and(|s| {
            s.run.status == RunStatus::Done && s.run.id != first.run.id && s.run.id != fork.run.id
        })
    })
    .await;
    let edited = agents(&h.app).shown.clone().unwrap();
    assert_eq!(edited.steps[1].outcome, "user_result");
    assert!(edited.steps[1].output.contains("on the moon"));
    assert!(edited.steps[2].output.contains("on the moon"));

    // R: a replay of the first run answers the tool from its recorded result (the
    // approval is still asked: the call is the same call).
    h.type_text("p");
    assert!(!agents(&h.app).start_paused);
    let runs = &agents(&h.app).runs;
    let at = runs.iter().position(|r| r.run.id == first.run.id).unwrap();
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    assert_eq!(
        agents(&h.app).focus,
        strata::tui::screens::agents::Pane::Runs
    );
    while agents(&h.app).run_selected < at {
        h.type_text("j");
    }
    while agents(&h.app).run_selected > at {
        h.type_text("k");
    }
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| agents(app).shown.as_ref().map(|s| s.run.id) == Some(first.run.id))
        .await;
    h.type_text("R");
    // The same call asks again (approvals are per call), then its recorded result answers.
    h.pump_until(approval_open).await;
    h.type_text("y");
    h.pump_until(|app| !agents(app).is_running()).await;
    h.pump_until(|app| {
        agents(app).shown.as_ref().is_some_and(|s| {
            s.run.parent.map(|p| p.step) == Some(0) && s.run.status == RunStatus::Done
        })
    })
    .await;
    let replay = agents(&h.app).shown.clone().unwrap();
    assert_eq!(replay.steps[1].outcome, "recorded");
}

/// A run left waiting for its approval (Esc: later) is stored as awaiting approval; Enter
/// on it asks again and a denial with a reason goes to the model. Another one is decided
/// in the chat: A on the answer opens the same prompt, and the answer is the run's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_wait_and_are_decided_later_here_and_in_the_chat() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, seen) = orders_on_agents_screen(dir.path(), "A1002").await;

    run_agent(&mut h, "orders", "Where is order A1002?");
    h.pump_until(approval_open).await;
    // Esc: decide later. The run stops, stored as waiting.
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    h.pump_until(|app| !agents(app).is_running()).await;
    h.pump_until(|app| shown_status(app) == Some(RunStatus::AwaitingApproval))
        .await;
    let waiting = agents(&h.app).shown.clone().unwrap();
    assert_eq!(
        waiting.run.pending.as_ref().unwrap().call.name,
        "lookup_order"
    );
    let screen = text(&draw(&mut h.app, 80, 24));
    assert!(screen.contains("awaiting_approval"), "{screen}");

    // Enter on the run asks again; n with a reason denies; the model reads the reason.
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(approval_open).await;
    h.type_text("n");
    h.type_text("not this one");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(agents(&h.app).is_running());
    h.pump_until(|app| !agents(app).is_running()).await;
    h.pump_until(|app| shown_status(app) == Some(RunStatus::Done))
        .await;
    let denied = agents(&h.app).shown.clone().unwrap();
    assert_eq!(denied.run.id, waiting.run.id, "the same run went on");
    let tool = denied
        .steps
        .iter()
        .find(|s| s.kind == StepKind::ToolCall && s.outcome == "denied")
        .expect("a denied tool step");
    assert!(tool.output.contains("not this one"), "{}", tool.output);
    let told = seen.lock().unwrap().last().cloned().unwrap();
    assert!(told.to_string().contains("not this one"));

    // Another run left waiting, then decided in the chat.
    run_agent(&mut h, "orders", "And order A1002 once more?");
    h.pump_until(approval_open).await;
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    h.pump_until(|app| shown_status(app) == Some(RunStatus::AwaitingApproval))
        .await;
    let session = agents(&h.app).shown.as_ref().unwrap().run.session;
    let fx = h
        .app
        .update(Msg::To(ScreenId::Chat, ScreenMsg::ShowSession(session)));
    h.apply(fx);
    while h.app.active != ScreenId::Chat {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    h.pump_until(|app| {
        app.chat().session.id == session
            && app
                .chat()
                .messages
                .last()
                .is_some_and(|m| m.status == MessageStatus::AwaitingApproval)
    })
    .await;
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(screen.contains("waiting for your approval"), "{screen}");
    h.key(KeyCode::Char('2'), KeyModifiers::ALT);
    h.type_text("A");
    h.pump_until(approval_open).await;
    h.type_text("y");
    h.pump_until(|app| {
        app.chat()
            .messages
            .last()
            .is_some_and(|m| m.status == MessageStatus::Complete)
    })
    .await;
    assert!(
        h.last().content.contains("processing"),
        "the answer is the run's end: {}",
        h.last().content
    );
    // T opens the answer's run in the debugger.
    let chat_run = h.last().run_id.unwrap();
    h.type_text("T");
    assert_eq!(h.app.active, ScreenId::Agents);
    h.pump_until(|app| {
        agents(app)
            .shown
            .as_ref()
            .is_some_and(|s| s.run.id == chat_run && s.run.status == RunStatus::Done)
    })
    .await;
}

/// `T` on an evaluation item opens its run in the debugger; a fork with another model is
/// scored again with the job's metrics, beside the item's own scores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_item_opens_in_the_debugger_and_its_fork_is_scored_again() {
    let first =
        common::scripted::start(vec!["Paris".into()], common::scripted::Ending::Finished).await;
    let second = common::scripted::start(
        vec!["I think ".into(), "it is Lyon".into()],
        common::scripted::Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("data.jsonl"),
        "{\"prompt\": \"Capital of France?\", \"reference\": \"Paris\"}\n",
    )
    .unwrap();
    let file = dir.path().join("job.toml");
    std::fs::write(
        &file,
        "name = \"capital\"\ndataset = \"data.jsonl\"\nmodels = [\"scripted/model\"]\n\
         metrics = [\"exact_match\"]\n",
    )
    .unwrap();
    let mut h = Harness::with_config(dir.path(), two_models(&first, &second)).await;
    while h.app.active != ScreenId::Evals {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    h.type_text("o");
    h.type_text(&file.display().to_string());
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| !app.evals().is_running()).await;
    h.pump_until(|app| {
        app.evals()
            .loaded
            .as_ref()
            .is_some_and(|l| l.results.len() == 1)
    })
    .await;
    let item_run = h.app.evals().loaded.as_ref().unwrap().results[0].run;
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.type_text("T");
    assert_eq!(h.app.active, ScreenId::Agents);
    h.pump_until(|app| agents(app).shown.as_ref().map(|s| s.run.id) == Some(item_run))
        .await;
    // f on the model step: the model field first; the fork redoes the step on other/m.
    h.type_text("f");
    assert!(matches!(h.app.top_layer(), Some(Layer::Form(_))));
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text("other/m");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| agents(app).scored.is_some()).await;
    let (scored_run, summary) = agents(&h.app).scored.clone().unwrap();
    assert_ne!(
        scored_run, item_run,
        "the fork is scored, not the item's run"
    );
    assert_eq!(summary, "exact_match 1.00 → 0.00");
    h.pump_until(|app| agents(app).shown.as_ref().map(|s| s.run.id) == Some(scored_run))
        .await;
    let fork = agents(&h.app).shown.clone().unwrap();
    assert_eq!(fork.run.agent.model, "other/m");
    assert_eq!(fork.run.parent.unwrap().step, 0);
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(screen.contains("scored again"), "{screen}");
}

/// A run held before a step and stopped (Ctrl-C) ends cancelled without taking the step;
/// a call's approval asked while another screen is shown opens there, and the decision
/// goes to the run that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_run_stops_cleanly_and_approvals_reach_their_run_from_any_screen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, _seen) = orders_on_agents_screen(dir.path(), "A1001").await;

    h.type_text("p");
    run_agent(&mut h, "orders", "Where is order A1001?");
    h.pump_until(|app| agents(app).is_held()).await;
    h.type_text("s");
    h.pump_until(|app| held_step(app).is_some_and(|n| n.kind == StepKind::ToolCall))
        .await;
    h.key(KeyCode::Char('c'), KeyModifiers::CONTROL);
    h.pump_until(|app| !agents(app).is_running()).await;
    h.pump_until(|app| shown_status(app) == Some(RunStatus::Cancelled))
        .await;
    let stopped = agents(&h.app).shown.clone().unwrap();
    assert!(
        stopped.steps.iter().all(|s| s.kind == StepKind::ModelCall),
        "the held tool step was not taken: {:?}",
        stopped.steps
    );
    assert!(!approval_open(&h.app));

    // Not held; the user goes to the chat before the tool asks.
    h.type_text("p");
    assert!(!agents(&h.app).start_paused);
    run_agent(&mut h, "orders", "Where is order A1001, please?");
    while h.app.active != ScreenId::Chat {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    h.pump_until(approval_open).await;
    h.type_text("y");
    assert_eq!(
        h.app.active,
        ScreenId::Chat,
        "deciding does not move the user"
    );
    h.pump_until(|app| !agents(app).is_running()).await;
    let runs =
        strata::orchestrator::runs::RunStore::new(h.runner.orchestrator().runtime().store.clone());
    let done = runs
        .list()
        .unwrap()
        .into_iter()
        .filter(|r| r.status == RunStatus::Done)
        .count();
    assert_eq!(done, 1, "the run that asked went on with the decision");
}
