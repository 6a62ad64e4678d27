//! Comparison work the UI asks for: one question sent to several models at once (each a
//! one-off run through the orchestrator on its own task, so a slow local model never
//! holds up a remote one's updates), votes stored and tallied, and a column's answer
//! taken back into the conversation. Answers go to an `Outbox<CompareMsg>`.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::outbox::Outbox;
use crate::eval::votes::{self, PairTally, Vote};
use crate::orchestrator::events::RunEvent;
use crate::orchestrator::oneshot::OneShot;
use crate::orchestrator::{describe_intervention, Orchestrator};
use crate::runtime::context::Caller;
use crate::runtime::types::{Role, Usage};
use crate::sessions::{AgentConfig, ChatMessage, Session};
use crate::store::Id;

/// The conversation a comparison asks in: the session, and the message to ask before
/// (all of it when none).
#[derive(Debug, Clone)]
pub struct AskContext {
    pub session: Box<Session>,
    pub upto: Option<Id>,
}

/// One piece of comparison work.
#[derive(Debug, Clone)]
pub enum CompareJob {
    /// Ask `question` of every model (column order), as run `seq`.
    Ask {
        seq: u64,
        question: String,
        /// One agent per column (the model differs).
        agents: Vec<AgentConfig>,
        context: Option<AskContext>,
        cancel: CancellationToken,
    },
    /// Store a vote and answer with the new tally.
    Vote(Box<Vote>),
    /// The tally of every stored vote.
    Tally,
    /// Put the question and a column's answer into a chat session (see `keep`).
    Keep {
        context: Option<AskContext>,
        /// The session to add to when there is no context.
        session: Id,
        question: String,
        answer: Box<ChatMessage>,
    },
}

/// What a column's run reports.
#[derive(Debug, Clone)]
pub enum ColumnEvent {
    /// Answer text, and when it arrived (ms since the question was sent).
    Text { text: String, at_ms: f64 },
    /// Tokens so far.
    Usage(Usage),
    /// A guardrail masked or blocked something.
    Intervention(String),
    /// The run ended: the answer as stored, its error, and the total time.
    Finished {
        answer: Box<ChatMessage>,
        error: Option<String>,
        elapsed_ms: f64,
    },
}

/// The answers.
#[derive(Debug, Clone)]
pub enum CompareMsg {
    Column {
        seq: u64,
        column: usize,
        event: ColumnEvent,
    },
    Tally(Result<Vec<PairTally>, String>),
    /// A column's answer is in this session now (to show in the chat).
    Kept(Result<Id, String>),
}

/// Starts the work off the UI task.
pub fn run(job: CompareJob, orchestrator: &Orchestrator, tx: &Outbox<CompareMsg>) {
    match job {
        CompareJob::Ask {
            seq,
            question,
            agents,
            context,
            cancel,
        } => {
            for (column, agent) in agents.into_iter().enumerate() {
                let orchestrator = orchestrator.clone();
                let tx = tx.clone();
                let question = question.clone();
                let context = context.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    ask_column(
                        orchestrator,
                        seq,
                        column,
                        agent,
                        question,
                        context,
                        cancel,
                        tx,
                    )
                    .await
                });
            }
        }
        CompareJob::Vote(vote) => {
            let orchestrator = orchestrator.clone();
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let store = votes::VoteStore::new(orchestrator.runtime().store.clone());
                let result = store
                    .put(&vote)
                    .and_then(|()| store.tally())
                    .map_err(|e| e.to_string());
                let _ = tx.send(CompareMsg::Tally(result));
            });
        }
        CompareJob::Tally => {
            let store = votes::VoteStore::new(orchestrator.runtime().store.clone());
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let result = store.tally().map_err(|e| e.to_string());
                let _ = tx.send(CompareMsg::Tally(result));
            });
        }
        CompareJob::Keep {
            context,
            session,
            question,
            answer,
        } => {
            let orchestrator = orchestrator.clone();
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let result = keep(&orchestrator, context, session, question, *answer)
                    .map_err(|e| e.to_string());
                let _ = tx.send(CompareMsg::Kept(result));
            });
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn ask_column(
    orchestrator: Orchestrator,
    seq: u64,
    column: usize,
    agent: AgentConfig,
    question: String,
    context: Option<AskContext>,
    cancel: CancellationToken,
    tx: Outbox<CompareMsg>,
) {
    let started = Instant::now();
    let send = |event: ColumnEvent| {
        let _ = tx.send(CompareMsg::Column { seq, column, event });
    };
    let emit = |event: RunEvent| match event {
        RunEvent::TextDelta { text, .. } => send(ColumnEvent::Text {
            text,
            at_ms: started.elapsed().as_secs_f64() * 1000.0,
        }),
        RunEvent::Usage { usage, .. } => send(ColumnEvent::Usage(usage)),
        RunEvent::Intervention {
            check,
            action,
            detail,
            ..
        } => send(ColumnEvent::Intervention(describe_intervention(
            &check, action, &detail,
        ))),
        _ => {}
    };
    let shot = OneShot {
        agent: agent.clone(),
        history: Vec::new(),
        question,
        origin: "compare".into(),
        caller: Caller::Tui,
        tags: vec!["compare".into()],
        use_cache: Some(false),
        cancel,
    };
    let result = match &context {
        Some(c) => {
            orchestrator
                .run_forked(&c.session, c.upto, shot, emit)
                .await
        }
        None => orchestrator.run_once(shot, emit).await,
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (answer, error) = match result {
        Ok(done) => (done.outcome.answer, done.outcome.error.map(|e| e.message)),
        Err(e) => {
            let mut answer = ChatMessage::new(Role::Assistant, "");
            answer.model = Some(agent.model.clone());
            (answer, Some(e.to_string()))
        }
    };
    send(ColumnEvent::Finished {
        answer: Box::new(answer),
        error,
        elapsed_ms,
    });
}

/// Takes a column's answer back into the conversation. With a context that asked before
/// message M: when M is the session's last question, the answers after it are replaced;
/// otherwise a fork holding the conversation up to M gets the answer (the original is
/// left as it was). Without a context, the question and the answer are added to
/// `session`. Returns the session that now holds the answer.
fn keep(
    orchestrator: &Orchestrator,
    context: Option<AskContext>,
    session: Id,
    question: String,
    answer: ChatMessage,
) -> Result<Id, crate::store::StoreError> {
    let sessions = &orchestrator.sessions;
    // The kept copy gets a new id (and time) when it is stored: ids are time-ordered, so
    // it sorts after whatever it follows.
    let copy = || ChatMessage {
        id: Id::new(),
        created_us: crate::store::now_micros(),
        ..answer.clone()
    };
    let mut target = match context.as_ref().and_then(|c| c.upto.map(|u| (c, u))) {
        Some((c, upto)) => {
            let messages = sessions.messages(c.session.id)?;
            let at = messages.iter().position(|m| m.id == upto);
            let later_question =
                at.is_some_and(|i| messages[i + 1..].iter().any(|m| m.role == Role::User));
            // Only the very question re-asked, still the last one, has its answers
            // replaced; anything else goes into a fork.
            let same_question = at.is_some_and(|i| messages[i].content == question);
            match at {
                Some(i) if !later_question && same_question => {
                    for m in &messages[i + 1..] {
                        sessions.remove_message(c.session.id, m.id)?;
                    }
                    let mut s = sessions
                        .get(c.session.id)?
                        .unwrap_or_else(|| (*c.session).clone());
                    sessions.put_message(&mut s, &copy())?;
                    return Ok(s.id);
                }
                _ => {
                    // A fork up to that question keeps the original intact.
                    let mut fork = sessions.fork(&c.session, upto)?;
                    fork.title = format!("{} (compared)", c.session.title);
                    sessions.save(&fork)?;
                    fork
                }
            }
        }
        None => match sessions.get(session)? {
            Some(s) => s,
            None => sessions.create(answer.model.as_deref().unwrap_or_default())?,
        },
    };
    // The question first: ids are time-ordered, so it must be made before the answer's.
    sessions.put_message(&mut target, &ChatMessage::new(Role::User, question))?;
    sessions.put_message(&mut target, &copy())?;
    Ok(target.id)
}
