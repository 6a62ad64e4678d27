//! Storage work the UI asks for instead of doing it on its own task: listing, opening,
//! creating, forking, saving, renaming, deleting and exporting sessions. A screen returns
//! an `Effect::Store` with a batch of `StoreJob`s; the runner runs the batches one after
//! another on a blocking thread (`run_batch`), and each job that has something to say
//! answers with a `Msg`. Which answer is still wanted (sequence numbers) is the screen's
//! business, not this module's.

use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;

use super::app::Msg;
use crate::sessions::{ChatMessage, Session, SessionStore};
use crate::store::{Id, StoreError};

/// Which session to open.
#[derive(Debug, Clone)]
pub enum OpenTarget {
    /// One that exists (from the sidebar): read it as stored.
    Existing(Id),
    /// A new one on this model.
    New(String),
    /// A fork of `from` before message `upto`.
    Fork { from: Box<Session>, upto: Id },
}

/// One piece of storage work.
#[derive(Debug, Clone)]
pub enum StoreJob {
    /// Save a session (title, draft, agent); answers only on failure.
    Save(Box<Session>),
    /// Save a session only if it still exists (it may just have been deleted).
    SaveIfExists(Box<Session>),
    /// Set the title of a stored session; answers only on failure.
    Rename { id: Id, title: String },
    /// Set the model of a stored session; answers only on failure.
    SetModel { id: Id, model: String },
    /// List the sessions (answered by `Msg::Sessions` with `seq`).
    List { seq: u64 },
    /// Open a session with its messages and the fresh list (answered by `Msg::Opened`).
    Open {
        target: OpenTarget,
        seq: u64,
        list_seq: u64,
    },
    /// Delete a session (answered by `Msg::Deleted`).
    Delete { id: Id, title: String },
    /// Write a session as Markdown or JSON into `dir` (answered by `Msg::Exported`).
    Export {
        id: Id,
        title: String,
        json: bool,
        dir: PathBuf,
    },
}

/// A session as opened: itself, its messages, and the session list after opening it.
#[derive(Debug, Clone)]
pub struct Opened {
    pub session: Session,
    pub messages: Vec<ChatMessage>,
    pub sessions: Vec<Session>,
}

/// Runs a batch of jobs in order (blocking: call it off the UI task), sending the answers.
pub fn run_batch(store: &SessionStore, jobs: Vec<StoreJob>, tx: &UnboundedSender<Msg>) {
    for job in jobs {
        if let Some(msg) = run_job(store, job) {
            if tx.send(msg).is_err() {
                return;
            }
        }
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> Option<Msg> {
    Some(Msg::StoreFailed(format!("could not {what}: {e}")))
}

fn run_job(store: &SessionStore, job: StoreJob) -> Option<Msg> {
    match job {
        StoreJob::Save(session) => store
            .save(&session)
            .err()
            .and_then(|e| failed("save the session", e)),
        StoreJob::SaveIfExists(session) => match store.get(session.id) {
            Ok(Some(_)) => store
                .save(&session)
                .err()
                .and_then(|e| failed("save the session", e)),
            Ok(None) => None,
            Err(e) => failed("save the session", e),
        },
        StoreJob::Rename { id, title } => update(store, id, |s| s.title = title)
            .err()
            .and_then(|e| failed("rename", e)),
        StoreJob::SetModel { id, model } => update(store, id, |s| s.agent.model = model)
            .err()
            .and_then(|e| failed("save", e)),
        StoreJob::List { seq } => Some(Msg::Sessions {
            seq,
            result: store.list().map_err(|e| e.to_string()),
        }),
        StoreJob::Open {
            target,
            seq,
            list_seq,
        } => Some(Msg::Opened {
            seq,
            list_seq,
            result: open(store, target).map_err(|e| e.to_string()),
        }),
        StoreJob::Delete { id, title } => Some(Msg::Deleted {
            id,
            title,
            result: crate::orchestrator::delete_session(store, id).map_err(|e| e.to_string()),
        }),
        StoreJob::Export {
            id,
            title,
            json,
            dir,
        } => Some(Msg::Exported(export(store, id, &title, json, &dir))),
    }
}

/// Changes a stored session, if it is still there.
fn update(
    store: &SessionStore,
    id: Id,
    change: impl FnOnce(&mut Session),
) -> Result<(), StoreError> {
    if let Some(mut s) = store.get(id)? {
        change(&mut s);
        store.save(&s)?;
    }
    Ok(())
}

/// Opens the target; None when an existing session is gone.
fn open(store: &SessionStore, target: OpenTarget) -> Result<Option<Box<Opened>>, StoreError> {
    let session = match target {
        OpenTarget::Existing(id) => match store.get(id)? {
            Some(s) => s,
            None => return Ok(None),
        },
        OpenTarget::New(model) => store.create(&model)?,
        OpenTarget::Fork { from, upto } => store.fork(&from, upto)?,
    };
    let messages = store.messages(session.id)?;
    let sessions = store.list()?;
    Ok(Some(Box::new(Opened {
        session,
        messages,
        sessions,
    })))
}

/// Writes the export file; returns its path.
fn export(
    store: &SessionStore,
    id: Id,
    title: &str,
    json: bool,
    dir: &std::path::Path,
) -> Result<PathBuf, String> {
    let text = if json {
        store.export_json(id)
    } else {
        store.export_markdown(id)
    }
    .map_err(|e| e.to_string())?;
    let ext = if json { "json" } else { "md" };
    let safe: String = title
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let path = dir.join(format!("{safe}-{id}.{ext}"));
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}
