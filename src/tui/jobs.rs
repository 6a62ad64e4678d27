//! Storage work the UI asks for instead of doing it on its own task: listing, opening,
//! creating, forking, saving, renaming, deleting and exporting sessions. A screen returns
//! an `Effect::Store` with a batch of `StoreJob`s; the runner runs the batches one after
//! another on a blocking thread (`run_batch`), and each job that has something to say
//! answers with a `StoreMsg`. Which answer is still wanted (sequence numbers) is the screen's
//! business, not this module's.

use std::path::PathBuf;

use super::outbox::Outbox;
use crate::sessions::{ChatMessage, Session, SessionStore, UiState};
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
    /// List the sessions (answered by `StoreMsg::Sessions` with `seq`).
    List { seq: u64 },
    /// Open a session with its messages and the fresh list (answered by `StoreMsg::Opened`).
    Open {
        target: OpenTarget,
        seq: u64,
        list_seq: u64,
    },
    /// Delete a session (answered by `StoreMsg::Deleted`).
    Delete { id: Id, title: String },
    /// Write a session as Markdown or JSON into `dir` (answered by `StoreMsg::Exported`).
    Export {
        id: Id,
        title: String,
        json: bool,
        dir: PathBuf,
    },
    /// What survives an exit: the session (with its draft), an answer cut short (stored as
    /// cancelled) and where the user was. Failures are logged: nobody is left to tell.
    Exit {
        session: Box<Session>,
        cancelled: Option<Box<ChatMessage>>,
        ui: UiState,
    },
}

/// The answers of storage work.
#[derive(Debug)]
pub enum StoreMsg {
    /// The session list as stored (only the latest `seq` counts).
    Sessions {
        seq: u64,
        result: Result<Vec<Session>, String>,
    },
    /// A session opened, created or forked, with its messages and the list after it;
    /// `None` when it was gone. Only the latest `seq` counts; the list only if
    /// `list_seq` is the latest list asked for.
    Opened {
        seq: u64,
        list_seq: u64,
        result: Result<Option<Box<Opened>>, String>,
    },
    /// A session was deleted (or could not be).
    Deleted {
        id: Id,
        title: String,
        result: Result<(), String>,
    },
    /// An export was written (its path) or failed.
    Exported(Result<PathBuf, String>),
    /// A background save failed.
    Failed(String),
}

/// A session as opened: itself, its messages, and the session list after opening it.
#[derive(Debug, Clone)]
pub struct Opened {
    pub session: Session,
    pub messages: Vec<ChatMessage>,
    pub sessions: Vec<Session>,
}

/// Runs a batch of jobs in order (blocking: call it off the UI task), sending the answers.
pub fn run_batch(store: &SessionStore, jobs: Vec<StoreJob>, tx: &Outbox<StoreMsg>) {
    for job in jobs {
        if let Some(msg) = run_job(store, job) {
            if tx.send(msg).is_err() {
                return;
            }
        }
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> Option<StoreMsg> {
    Some(StoreMsg::Failed(format!("could not {what}: {e}")))
}

fn run_job(store: &SessionStore, job: StoreJob) -> Option<StoreMsg> {
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
        StoreJob::List { seq } => Some(StoreMsg::Sessions {
            seq,
            result: store.list().map_err(|e| e.to_string()),
        }),
        StoreJob::Open {
            target,
            seq,
            list_seq,
        } => Some(StoreMsg::Opened {
            seq,
            list_seq,
            result: open(store, target).map_err(|e| e.to_string()),
        }),
        StoreJob::Delete { id, title } => Some(StoreMsg::Deleted {
            id,
            title,
            result: crate::orchestrator::delete_session(store, id).map_err(|e| e.to_string()),
        }),
        StoreJob::Export {
            id,
            title,
            json,
            dir,
        } => Some(StoreMsg::Exported(export(store, id, &title, json, &dir))),
        StoreJob::Exit {
            mut session,
            cancelled,
            ui,
        } => {
            if let Err(e) = store.save(&session) {
                tracing::warn!("could not save the session: {e}");
            }
            if let Some(m) = cancelled {
                if let Err(e) = store.put_message(&mut session, &m) {
                    tracing::warn!("could not save the answer: {e}");
                }
            }
            if let Err(e) = store.save_ui(&ui) {
                tracing::warn!("could not save the UI state: {e}");
            }
            None
        }
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

/// What the app starts on: the session list, the session to show with its messages, and
/// where the user was last time.
#[derive(Debug, Clone)]
pub struct Startup {
    pub sessions: Vec<Session>,
    pub session: Session,
    pub messages: Vec<ChatMessage>,
    pub ui: UiState,
    /// A session created for this start (`--model` asked for another model), to show
    /// instead of `session`.
    pub fresh: Option<Session>,
}

/// Reads what the app starts on (blocking: call it off the UI task): the session the user
/// was in (else the latest, else a new one on `default_model`). With `new_on_model`, a
/// new session is started unless that session already runs `default_model`.
pub fn load_startup(
    store: &SessionStore,
    default_model: &str,
    new_on_model: bool,
) -> Result<Startup, StoreError> {
    let mut sessions = store.list()?;
    let ui = store.load_ui();
    let last = ui
        .session
        .and_then(|id| sessions.iter().find(|s| s.id == id));
    let session = match last.or(sessions.first()) {
        Some(s) => s.clone(),
        None => {
            let s = store.create(default_model)?;
            sessions.push(s.clone());
            s
        }
    };
    let messages = store.messages(session.id)?;
    let mut startup = Startup {
        sessions,
        session,
        messages,
        ui,
        fresh: None,
    };
    if new_on_model && startup.session.agent.model != default_model {
        startup.fresh = Some(store.create(default_model)?);
    }
    Ok(startup)
}
