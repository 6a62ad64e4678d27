//! The orchestrator on real components: chat turns as rig agent runs with their steps and
//! records in sled, checks that hold and mask on the live stream (real local model and a
//! scripted loopback server), cached answers checked again, blocked and cut answers, and
//! records written when a call starts.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use common::scripted::{self, Ending};
use common::streamed_text;
use strata::config::Config;
use strata::orchestrator::events::{RunErrorKind, RunEvent};
use strata::orchestrator::runs::{RunStatus, StepKind};
use strata::orchestrator::{Orchestrator, Turn, TurnInput};
use strata::runtime::checks::{Check, MaskSpan, OutputDecision, Stage};
use strata::runtime::context::{CallContext, Caller};
use strata::runtime::invoke::InvokeRequest;
use strata::runtime::record::Outcome;
use strata::runtime::types::{Action, ChatRequest, Message, Params, Role, StreamEvent};
use strata::sessions::MessageStatus;
use tokio_util::sync::CancellationToken;

/// Masks every whole occurrence of a word and holds back a tail that could begin it.
struct MaskWord {
    word: String,
    /// The configuration digest (tests pick it to hit or miss the cache).
    digest: String,
    calls: AtomicUsize,
}

impl MaskWord {
    fn new(word: &str, digest: &str) -> Arc<MaskWord> {
        Arc::new(MaskWord {
            word: word.to_string(),
            digest: digest.to_string(),
            calls: AtomicUsize::new(0),
        })
    }
    fn placeholder(&self) -> String {
        format!("{{{}}}", self.word.to_uppercase())
    }
}

#[async_trait]
impl Check for MaskWord {
    fn name(&self) -> &str {
        "mask-word"
    }
    fn config_digest(&self) -> String {
        self.digest.clone()
    }
    async fn check_output(&self, text: &str, released: usize, end: bool) -> OutputDecision {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(i) = text[released..].find(&self.word) {
            let start = released + i;
            return OutputDecision::Mask(vec![MaskSpan {
                start,
                end: start + self.word.len(),
                placeholder: self.placeholder(),
            }]);
        }
        if end {
            return OutputDecision::Allow;
        }
        let tail = (1..self.word.len())
            .rev()
            .find(|n| self.word.is_char_boundary(*n) && text.ends_with(&self.word[..*n]))
            .unwrap_or(0);
        OutputDecision::Hold {
            chars: self.word[..tail].chars().count(),
        }
    }
}

/// Blocks the answer once it contains a word.
struct BlockWord(&'static str);

#[async_trait]
impl Check for BlockWord {
    fn name(&self) -> &str {
        "block-word"
    }
    fn config_digest(&self) -> String {
        self.0.to_string()
    }
    async fn check_output(&self, text: &str, _released: usize, _end: bool) -> OutputDecision {
        match text.contains(self.0) {
            true => OutputDecision::Block {
                reason: format!("the answer mentions {}", self.0),
            },
            false => OutputDecision::Allow,
        }
    }
}

async fn orchestrator(dir: &std::path::Path, config: Config) -> Orchestrator {
    let runtime = Arc::new(common::runtime(dir, config).await);
    Orchestrator::new(runtime).unwrap()
}

/// An orchestrator on a temp dir whose model `scripted/model` streams `pieces`, and a
/// new session on it.
async fn scripted_session(
    pieces: &[&str],
    ending: Ending,
) -> (tempfile::TempDir, Orchestrator, strata::sessions::Session) {
    let url = scripted::start(pieces.iter().map(|s| s.to_string()).collect(), ending).await;
    let dir = tempfile::tempdir().unwrap();
    let o = orchestrator(dir.path(), scripted::config(&url)).await;
    let session = o.sessions.create("scripted/model").unwrap();
    (dir, o, session)
}

/// The invocation record with this id.
fn record(
    o: &Orchestrator,
    id: Option<strata::store::Id>,
) -> strata::runtime::record::InvocationRecord {
    o.runtime()
        .record(id.expect("a record id"))
        .unwrap()
        .expect("the record is stored")
}

fn greedy(max_tokens: u32) -> Params {
    Params {
        temperature: Some(0.0),
        max_tokens: Some(max_tokens),
        ..Params::default()
    }
}

/// Runs a turn and collects its events.
async fn ask(
    o: &Orchestrator,
    session: strata::store::Id,
    text: &str,
    checks: Vec<Arc<dyn Check>>,
) -> (strata::orchestrator::TurnOutcome, Vec<RunEvent>) {
    let mut turn = Turn::new(session, TurnInput::Ask(text.into()), Caller::Test);
    turn.checks = checks;
    common::run_turn(o, turn).await
}

#[tokio::test]
async fn a_chat_turn_is_an_agent_run_with_its_steps_and_records_in_sled() {
    let dir = tempfile::tempdir().unwrap();
    let o = orchestrator(dir.path(), Config::default()).await;
    let mut session = o.sessions.create(common::CHAT_MODEL).unwrap();
    session.agent.params = greedy(12);
    o.sessions.save(&session).unwrap();

    let (first, events) = ask(&o, session.id, "What is the capital of France?", vec![]).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert!(matches!(events.first(), Some(RunEvent::Started { .. })));
    assert!(matches!(events.last(), Some(RunEvent::Finished { .. })));
    assert_eq!(streamed_text(&events), first.answer.content);

    let stored = o.sessions.messages(session.id).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].role, Role::User);
    assert_eq!(stored[1].status, MessageStatus::Complete);
    assert_eq!(stored[1].run_id, Some(first.run));
    let record_id = stored[1].record_id.expect("the answer keeps its record id");

    let run = o.runs.get(first.run).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Done);
    let checkpoint = o.runs.checkpoint(first.run, 1).unwrap();
    assert!(
        checkpoint.is_some_and(|c| c.agent_run.is_object()),
        "rig's run state is stored after the step"
    );
    let steps = o.runs.steps(first.run).unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].kind, StepKind::ModelCall);
    assert_eq!(steps[0].record_id, Some(record_id));
    assert_eq!(steps[0].output, first.answer.content);
    assert!(
        !steps[0].prompt_tokens_estimated,
        "a local model counts with its tokenizer"
    );

    let record = o.runtime().record(record_id).unwrap().unwrap();
    assert_eq!(record.outcome, Outcome::Ok);
    assert_eq!(record.context.caller, Caller::Test);
    assert_eq!(record.context.session, Some(session.id));
    assert_eq!(record.context.run, Some(first.run));
    assert_eq!(record.context.step, Some(1));

    // The next turn continues the session: its history is sent.
    let (second, _) = ask(&o, session.id, "And of Italy?", vec![]).await;
    let steps = o.runs.steps(second.run).unwrap();
    let sent: Vec<&str> = steps[0].input.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        sent,
        [
            "What is the capital of France?",
            first.answer.content.as_str(),
            "And of Italy?"
        ]
    );
    assert_eq!(o.runs.for_session(session.id).unwrap().len(), 2);
}

#[tokio::test]
async fn a_pattern_split_across_deltas_never_reaches_events_or_sled() {
    let pieces = [
        "Your key is sk-",
        "ab",
        "c12",
        "3 and the rest",
        " is fine.",
    ];
    let (_dir, o, session) = scripted_session(&pieces, Ending::Finished).await;
    let check = MaskWord::new("sk-abc123", "v1");

    let (outcome, events) = ask(&o, session.id, "key?", vec![check.clone()]).await;
    let shown = streamed_text(&events);
    assert_eq!(shown, "Your key is {SK-ABC123} and the rest is fine.");
    for e in &events {
        if let RunEvent::TextDelta { text, .. } = e {
            assert!(
                !text.contains("sk-") && !text.contains("abc"),
                "leaked: {text:?}"
            );
        }
    }
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::Intervention {
            action: Action::Mask,
            ..
        }
    )));
    let stored = o.sessions.messages(session.id).unwrap();
    assert_eq!(stored[1].content, shown, "the masked span is stored masked");
    let steps = o.runs.steps(outcome.run).unwrap();
    assert!(!steps[0].output.contains("abc"));
    let record = record(&o, stored[1].record_id);
    let decision = record
        .checks
        .iter()
        .find(|d| d.check == "mask-word" && d.stage == Stage::Output)
        .unwrap();
    assert_eq!(decision.action, Action::Mask);
    assert!(decision.calls >= pieces.len() as u32);
}

#[tokio::test]
async fn the_local_model_answer_is_masked_while_it_streams() {
    let dir = tempfile::tempdir().unwrap();
    let o = orchestrator(dir.path(), Config::default()).await;
    let question = "Write two sentences about the sea.";
    // The greedy answer without checks, to pick a word the model will write.
    let plain = o
        .runtime()
        .invoke(
            InvokeRequest::new(
                common::CHAT_MODEL,
                ChatRequest {
                    model: String::new(),
                    system: None,
                    messages: vec![Message::user(question)],
                    params: greedy(40),
                    tools: vec![],
                    tool_choice: Default::default(),
                },
            ),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .unwrap();
    let word = plain
        .text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 5)
        .nth(1)
        .expect("the answer has a few long words")
        .to_string();

    let mut session = o.sessions.create(common::CHAT_MODEL).unwrap();
    session.agent.params = greedy(40);
    o.sessions.save(&session).unwrap();
    let check = MaskWord::new(&word, "v1");
    let (outcome, events) = ask(&o, session.id, question, vec![check.clone()]).await;
    let shown = streamed_text(&events);
    assert!(!shown.contains(&word), "{word:?} leaked into {shown:?}");
    assert!(shown.contains(&check.placeholder()));
    assert_eq!(shown, plain.text.replace(&word, &check.placeholder()));
    assert_eq!(outcome.answer.content, shown);
    let stored = o.sessions.messages(session.id).unwrap();
    assert!(!stored[1].content.contains(&word));
}

#[tokio::test]
async fn cached_answers_pass_the_checks_and_a_changed_check_misses_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = common::runtime(dir.path(), Config::default()).await;
    let call = |check: Arc<MaskWord>| {
        let mut request = InvokeRequest::new(
            common::CHAT_MODEL,
            ChatRequest {
                model: String::new(),
                system: None,
                messages: vec![Message::user("Name a colour.")],
                params: greedy(10),
                tools: vec![],
                tool_choice: Default::default(),
            },
        );
        request.use_cache = Some(true);
        request.context = CallContext {
            checks: vec![check],
            ..CallContext::new(Caller::Test)
        };
        request
    };
    let collect = |seen: &mut String, e: &StreamEvent| {
        if let StreamEvent::TextDelta { text } = e {
            seen.push_str(text)
        }
    };
    let first = runtime
        .invoke(
            call(MaskWord::new("zzzz", "d1")),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(!first.cached);
    let word = first
        .text
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| w.len() >= 3)
        .expect("a word in the answer")
        .to_string();

    // The same check configuration digest hits the cache, and the hit still goes through
    // the check: this one masks a word of the cached answer.
    let masking = MaskWord::new(&word, "d1");
    let mut seen = String::new();
    let hit = runtime
        .invoke(
            call(masking.clone()),
            |e| collect(&mut seen, e),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(hit.cached, "the same check configuration hits the cache");
    assert!(
        masking.calls.load(Ordering::SeqCst) > 0,
        "the hit was checked"
    );
    assert!(
        !seen.contains(&word) && !hit.text.contains(&word),
        "{seen:?}"
    );
    assert_eq!(hit.text, first.text.replace(&word, &masking.placeholder()));

    // A changed configuration digest changes the cache key.
    let changed = runtime
        .invoke(
            call(MaskWord::new("zzzz", "d2")),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(
        !changed.cached,
        "a changed check configuration misses the cache"
    );
    assert_eq!(changed.text, first.text);
}

#[tokio::test]
async fn a_blocked_answer_is_stored_and_recorded_as_blocked() {
    let pieces = ["Here is how: ", "first the ", "forbidden", " part"];
    let (_dir, o, session) = scripted_session(&pieces, Ending::Finished).await;
    let (outcome, events) = ask(
        &o,
        session.id,
        "how?",
        vec![Arc::new(BlockWord("forbidden"))],
    )
    .await;
    assert_eq!(outcome.error.as_ref().unwrap().kind, RunErrorKind::Blocked);
    assert_eq!(outcome.answer.status, MessageStatus::Blocked);
    assert!(!streamed_text(&events).contains("forbidden"));
    let stored = o.sessions.messages(session.id).unwrap();
    assert_eq!(stored[1].status, MessageStatus::Blocked);
    assert!(!stored[1].content.contains("forbidden"));
    let record = record(&o, stored[1].record_id);
    assert_eq!(record.outcome, Outcome::Blocked);
    assert_eq!(record.guardrail.as_deref(), Some("block-word"));
    assert_eq!(
        o.runs.get(outcome.run).unwrap().unwrap().status,
        RunStatus::Blocked
    );
}

#[tokio::test]
async fn cut_and_cancelled_calls_record_their_input_tokens() {
    // A cut stream from a remote model: input tokens estimated, and marked so.
    let (_dir, o, session) = scripted_session(&["partial ", "answer"], Ending::Cut).await;
    let (outcome, _) = ask(&o, session.id, "a question of some length", vec![]).await;
    assert_eq!(
        outcome.error.as_ref().unwrap().kind,
        RunErrorKind::BrokenStream
    );
    assert_eq!(outcome.answer.status, MessageStatus::Incomplete);
    assert_eq!(outcome.answer.content, "partial answer");
    let record = record(&o, outcome.answer.record_id);
    assert!(record.input_tokens > 0);
    assert!(record.usage_estimated);

    // A cancelled local call: input tokens counted by the model's tokenizer.
    let dir = tempfile::tempdir().unwrap();
    let o = orchestrator(dir.path(), Config::default()).await;
    let mut records = o.runtime().subscribe_records();
    let mut session = o.sessions.create(common::CHAT_MODEL).unwrap();
    session.agent.params = greedy(200);
    o.sessions.save(&session).unwrap();
    let turn = Turn::new(
        session.id,
        TurnInput::Ask("Tell me a long story about a dragon.".into()),
        Caller::Test,
    );
    let cancel = turn.cancel.clone();
    let outcome = o
        .run_turn(turn, move |e| {
            if matches!(e, RunEvent::TextDelta { .. }) {
                cancel.cancel();
            }
        })
        .await
        .unwrap();
    assert_eq!(
        outcome.error.as_ref().unwrap().kind,
        RunErrorKind::Cancelled
    );
    assert_eq!(outcome.answer.status, MessageStatus::Cancelled);
    let record = records.recv().await.unwrap();
    assert_eq!(record.outcome, Outcome::Cancelled);
    assert!(record.input_tokens > 5, "{}", record.input_tokens);
    assert!(!record.usage_estimated);
    assert_eq!(Some(record.id), outcome.answer.record_id);
}

/// Blocks questions that mention a word, before the model is called.
struct BlockInput(&'static str);

#[async_trait]
impl Check for BlockInput {
    fn name(&self) -> &str {
        "block-input"
    }
    fn config_digest(&self) -> String {
        self.0.to_string()
    }
    async fn check_input(
        &self,
        request: &mut ChatRequest,
    ) -> strata::runtime::checks::InputDecision {
        let asked = request.messages.iter().any(|m| m.content.contains(self.0));
        match asked {
            true => strata::runtime::checks::InputDecision::Block {
                reason: format!("questions about {} are not allowed", self.0),
            },
            false => strata::runtime::checks::InputDecision::Allow,
        }
    }
}

#[tokio::test]
async fn a_blocked_question_never_reaches_the_model() {
    // The scripted server would answer; the check stops the call before it.
    let (_dir, o, session) = scripted_session(&["an answer"], Ending::Finished).await;
    let (outcome, events) = ask(
        &o,
        session.id,
        "tell me about dragons",
        vec![Arc::new(BlockInput("dragons"))],
    )
    .await;
    assert_eq!(outcome.error.as_ref().unwrap().kind, RunErrorKind::Blocked);
    assert!(outcome
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("not allowed"));
    assert_eq!(outcome.answer.status, MessageStatus::Blocked);
    assert!(streamed_text(&events).is_empty());
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::Intervention {
            action: Action::Block,
            ..
        }
    )));
    let steps = o.runs.steps(outcome.run).unwrap();
    assert_eq!(steps[0].outcome, "blocked");
    let record = record(&o, steps[0].record_id);
    assert_eq!(record.outcome, Outcome::Blocked);
    assert_eq!(record.checks[0].stage, Stage::Input);
    // The refused question is kept, marked blocked, and not sent again as history.
    let stored = o.sessions.messages(session.id).unwrap();
    assert_eq!(stored[0].status, MessageStatus::Blocked);
    let (next, _) = ask(&o, session.id, "hello", vec![]).await;
    let sent: Vec<String> = o.runs.steps(next.run).unwrap()[0]
        .input
        .iter()
        .map(|m| m.content.clone())
        .collect();
    assert_eq!(sent, ["hello"]);
}

#[tokio::test]
async fn a_held_tail_is_dropped_when_the_stream_is_cut() {
    // The stream breaks while a possible secret is being held back.
    let (_dir, o, session) = scripted_session(&["Your key is sk-ab"], Ending::Cut).await;
    let (outcome, events) = ask(
        &o,
        session.id,
        "key?",
        vec![MaskWord::new("sk-abc123", "v1")],
    )
    .await;
    assert_eq!(
        outcome.error.as_ref().unwrap().kind,
        RunErrorKind::BrokenStream
    );
    assert_eq!(streamed_text(&events), "Your key is ");
    assert_eq!(outcome.answer.content, "Your key is ");
    let stored = o.sessions.messages(session.id).unwrap();
    assert!(!stored[1].content.contains("sk-"));
    let steps = o.runs.steps(outcome.run).unwrap();
    assert!(!steps[0].output.contains("sk-"));
}

#[tokio::test]
async fn deleting_a_session_deletes_its_runs_and_steps() {
    let (_dir, o, session) = scripted_session(&["fine"], Ending::Finished).await;
    let (outcome, _) = ask(&o, session.id, "how are you?", vec![]).await;
    assert_eq!(o.runs.steps(outcome.run).unwrap().len(), 1);
    o.delete_session(session.id).unwrap();
    assert!(o.runs.get(outcome.run).unwrap().is_none());
    assert!(o.runs.steps(outcome.run).unwrap().is_empty());
    assert!(o.runs.for_session(session.id).unwrap().is_empty());
    assert!(o.sessions.messages(session.id).unwrap().is_empty());
}
