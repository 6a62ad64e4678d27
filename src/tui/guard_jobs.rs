//! Guardrail work the UI asks for instead of doing it on its own task: listing guardrails,
//! a guardrail's versions with their diffs, saving a policy written in the TUI (checked,
//! its error at its line), freezing a version, deleting, checking a reference before
//! attaching it, the sandbox's debounced ApplyGuardrail, and approving or rejecting a
//! held answer. The
//! runner runs each job on a task and answers through an `Outbox<GuardMsg>` (the runner addresses them to the screen that asked).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::outbox::Outbox;
use crate::guardrails::engine::Assessment;
use crate::guardrails::store::{diff, GuardrailEntry, GuardrailRef, Revision};
use crate::guardrails::{ApplyContext, Source};
use crate::orchestrator::Orchestrator;
use crate::sessions::ChatMessage;
use crate::store::Id;

/// How long the sandbox waits after the last key before assessing.
pub const SANDBOX_DEBOUNCE: Duration = Duration::from_millis(250);

/// One piece of guardrail work.
#[derive(Debug, Clone)]
pub enum GuardJob {
    /// All guardrails (answered by `GuardMsg::List`).
    List,
    /// One guardrail's revisions, each with its diff from the one before.
    Detail { name: String },
    /// Whether a reference loads, before a session's guardrail is set to it.
    Attach { session: Id, reference: String },
    /// ApplyGuardrail for the sandbox, after the debounce, unless `latest` moved on.
    Sandbox {
        reference: String,
        source: Source,
        text: String,
        seq: u64,
        latest: Arc<AtomicU64>,
    },
    /// Approve or reject an answer held for review.
    Review {
        session: Id,
        message: Id,
        approve: bool,
    },
    /// Check a policy written in the TUI and store it: a new guardrail, or (`draft_of`)
    /// the draft of that one, whose name it must keep.
    Save {
        toml: String,
        draft_of: Option<String>,
    },
    /// Freeze a guardrail's draft as its next version.
    Version { name: String, note: Option<String> },
    /// Delete a guardrail, its draft and its versions.
    Delete { name: String },
}

/// Why a policy written in the TUI was not stored: the message, and the line it names
/// (0: none), so the editor can open there again.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveError {
    pub message: String,
    pub line: usize,
}

/// A revision of a guardrail as the screen lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionView {
    /// `name@3` or `name@draft`.
    pub label: String,
    pub created_us: u64,
    pub note: Option<String>,
    /// The unified diff from the revision before (empty for the first).
    pub diff: String,
}

/// The answers.
#[derive(Debug, Clone)]
pub enum GuardMsg {
    List(Result<Vec<GuardrailEntry>, String>),
    Detail {
        name: String,
        result: Result<Vec<RevisionView>, String>,
    },
    Attached {
        session: Id,
        reference: String,
        result: Result<String, String>,
    },
    Sandbox {
        seq: u64,
        result: Result<Assessment, String>,
    },
    Reviewed(Result<ChatMessage, String>),
    /// A policy was stored (the guardrail's name, and why it does not load yet, if it
    /// does not), or why not.
    Saved {
        draft_of: Option<String>,
        toml: String,
        result: Result<(String, Option<String>), SaveError>,
    },
    Versioned {
        name: String,
        result: Result<u32, String>,
    },
    Deleted {
        name: String,
        result: Result<usize, String>,
    },
}

/// Starts a job on a task; its answer goes to `tx`.
pub fn run(job: GuardJob, orchestrator: &Orchestrator, tx: &Outbox<GuardMsg>) {
    let orchestrator = orchestrator.clone();
    let tx = tx.clone();
    tokio::spawn(async move {
        let guardrails = orchestrator.guardrails.clone();
        let answer = match job {
            GuardJob::List => {
                let store = guardrails.store().clone();
                let result = tokio::task::spawn_blocking(move || store.list())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                Some(GuardMsg::List(result))
            }
            GuardJob::Detail { name } => {
                let store = guardrails.store().clone();
                let n = name.clone();
                let result = tokio::task::spawn_blocking(move || revisions(&store, &n))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                Some(GuardMsg::Detail { name, result })
            }
            GuardJob::Attach { session, reference } => {
                let result = guardrails
                    .load(&reference)
                    .await
                    .map(|g| g.label.clone())
                    .map_err(|e| e.to_string());
                Some(GuardMsg::Attached {
                    session,
                    reference,
                    result,
                })
            }
            GuardJob::Sandbox {
                reference,
                source,
                text,
                seq,
                latest,
            } => {
                tokio::time::sleep(SANDBOX_DEBOUNCE).await;
                if latest.load(Ordering::SeqCst) != seq {
                    None
                } else {
                    let result = guardrails
                        .apply(&reference, source, &text, &ApplyContext::default())
                        .await
                        .map_err(|e| e.to_string());
                    Some(GuardMsg::Sandbox { seq, result })
                }
            }
            GuardJob::Review {
                session,
                message,
                approve,
            } => {
                let o = orchestrator.clone();
                let result =
                    tokio::task::spawn_blocking(move || o.review(session, message, approve))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()));
                Some(GuardMsg::Reviewed(result))
            }
            GuardJob::Save { toml, draft_of } => {
                let result = save(&guardrails, &toml, draft_of.as_deref()).await;
                Some(GuardMsg::Saved {
                    draft_of,
                    toml,
                    result,
                })
            }
            GuardJob::Version { name, note } => {
                let store = guardrails.store().clone();
                let n = name.clone();
                let result = tokio::task::spawn_blocking(move || store.create_version(&n, note))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                Some(GuardMsg::Versioned { name, result })
            }
            GuardJob::Delete { name } => {
                let store = guardrails.store().clone();
                let n = name.clone();
                let result = tokio::task::spawn_blocking(move || store.delete(&n))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                Some(GuardMsg::Deleted { name, result })
            }
        };
        if let Some(answer) = answer {
            let _ = tx.send(answer);
        }
    });
}

/// Checks `toml` and stores it as a new guardrail's draft, or as `draft_of`'s draft;
/// then compiles it once, so a policy whose parts cannot load is reported now.
async fn save(
    guardrails: &crate::guardrails::Guardrails,
    toml: &str,
    draft_of: Option<&str>,
) -> Result<(String, Option<String>), SaveError> {
    use crate::guardrails::policy::{Policy, PolicyError};
    let file = draft_of.map_or("the new guardrail".to_string(), |n| format!("{n}@draft"));
    let policy = Policy::parse(toml, &file).map_err(|e| SaveError {
        line: match &e {
            PolicyError::Parse { line, .. } | PolicyError::Invalid { line, .. } => *line,
            PolicyError::Read { .. } => 0,
        },
        message: e.to_string(),
    })?;
    if let Some(name) = draft_of.filter(|n| *n != policy.name) {
        return Err(SaveError {
            message: format!(
                "{file}: the name is {name:?} (a draft keeps its guardrail's name); put it \
                 back, or make a new guardrail (n) for the name {:?}",
                policy.name
            ),
            line: toml
                .lines()
                .position(|l| l.trim_start().starts_with("name"))
                .map_or(0, |i| i + 1),
        });
    }
    let store = guardrails.store().clone();
    let (p, text, draft_of) = (policy.clone(), toml.to_string(), draft_of.map(String::from));
    let entry = tokio::task::spawn_blocking(move || {
        // The draft of a guardrail deleted meanwhile does not make it again unasked.
        if let Some(name) = &draft_of {
            store.get(name)?;
        }
        store.save_draft(&p, &text, draft_of.is_some())
    })
    .await
    .map_err(|e| SaveError {
        message: e.to_string(),
        line: 0,
    })?
    .map_err(|e| SaveError {
        message: e.to_string(),
        line: 0,
    })?;
    let warning = guardrails
        .load(&format!("{}@draft", entry.name))
        .await
        .err()
        .map(|e| format!("it does not load yet: {e}"));
    Ok((entry.name, warning))
}

/// Every revision of a guardrail, oldest first, then the draft, each with its diff.
fn revisions(
    store: &crate::guardrails::GuardrailStore,
    name: &str,
) -> Result<Vec<RevisionView>, String> {
    let entry = store.get(name).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut previous: Option<(String, String)> = None;
    let mut revs: Vec<(Revision, u64, Option<String>)> = entry
        .versions
        .iter()
        .map(|v| (Revision::Version(v.version), v.created_us, v.note.clone()))
        .collect();
    revs.push((Revision::Draft, entry.updated_us, None));
    for (revision, created_us, note) in revs {
        let r = GuardrailRef {
            name: name.to_string(),
            revision,
        };
        let resolved = store.resolve(&r).map_err(|e| e.to_string())?;
        let label = resolved.label();
        let d = match &previous {
            Some((plabel, ptoml)) => diff(plabel, ptoml, &label, &resolved.toml),
            None => String::new(),
        };
        previous = Some((label.clone(), resolved.toml));
        out.push(RevisionView {
            label,
            created_us,
            note,
            diff: d,
        });
    }
    out.reverse();
    Ok(out)
}
