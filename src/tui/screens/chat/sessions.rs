//! The chat's sessions: starting on one, the sidebar's list, opening, creating, forking,
//! deleting, exporting (as store jobs, applied when their answer arrives) and what an exit
//! saves. Not responsible for drawing the sidebar (see `sidebar`) or for running storage.

use super::*;

impl ChatScreen {
    /// Shows `session`, just created for this start, instead of the one resumed (an empty
    /// conversation and input, first in the sidebar).
    pub fn start_fresh(&mut self, session: Session) {
        self.sidebar.sessions.insert(0, session.clone());
        self.session = session;
        self.messages.clear();
        self.views.clear();
        self.composer.input = InputBox::default();
        self.sidebar.selected = 0;
        self.resume_scroll = None;
    }

    /// What survives an exit, as one storage job: the draft, any answer still streaming
    /// (stopped, stored as cancelled) and where the user is (session, focus, scroll) for
    /// the next start.
    pub fn exit_job(&mut self) -> StoreJob {
        self.session.draft = self.composer.input.text().to_string();
        let mut cancelled = None;
        if let Some(s) = self.streaming.take() {
            s.cancel.cancel();
            if let Some(m) = self.messages.iter().find(|m| m.id == s.message) {
                let mut m = m.clone();
                m.status = MessageStatus::Cancelled;
                cancelled = Some(Box::new(m));
            }
        }
        let ui = crate::sessions::UiState {
            session: Some(self.session.id),
            focus: match self.focus {
                Focus::Sidebar => "sidebar",
                Focus::Chat => "chat",
                Focus::Input => "input",
            }
            .to_string(),
            scroll: (!self.follow).then_some(self.scroll),
        };
        StoreJob::Exit {
            session: Box::new(self.session.clone()),
            cancelled,
            ui,
        }
    }

    /// Lists the sessions afresh, off the UI task (answered by `Msg::Sessions`).
    pub(super) fn reload_sidebar(&mut self) {
        self.list_seq += 1;
        self.jobs.push(StoreJob::List { seq: self.list_seq });
    }

    /// The session list arrived: show it (the search runs again on it).
    pub(super) fn apply_sessions(&mut self, sessions: Vec<Session>) {
        self.deferred.extend(self.sidebar.apply(sessions));
    }

    pub(super) fn on_sessions(
        &mut self,
        cx: &mut Shared,
        seq: u64,
        result: Result<Vec<Session>, String>,
    ) {
        if seq != self.list_seq {
            return;
        }
        match result {
            Ok(sessions) => self.apply_sessions(sessions),
            Err(e) => cx.flash = Some(format!("could not list sessions: {e}")),
        }
    }

    /// Shows a session another screen changed (a compared answer taken back), read
    /// again as stored; returns the storage work to run.
    pub(super) fn open_sidebar_session(&mut self, cx: &mut Shared) {
        let Some(id) = self.sidebar.selected_session().map(|s| s.id) else {
            return;
        };
        self.focus = Focus::Input;
        if id == self.session.id {
            return;
        }
        // The sidebar's copy may be stale: the job reads the session as stored.
        self.open(
            cx,
            OpenTarget::Existing(id),
            Opening::new("open the session"),
        );
    }

    /// Asks for a session to be shown (an existing one, a new one, a fork): the current
    /// one's draft is saved first, and the screen switches when `Msg::Opened` arrives.
    pub(super) fn open(&mut self, cx: &mut Shared, target: OpenTarget, mut opening: Opening) {
        if self.streaming.is_some() {
            self.cancel_generation(cx);
        }
        // The current session may just have been deleted: only saved if it still exists.
        self.session.draft = self.composer.input.text().to_string();
        self.jobs
            .push(StoreJob::SaveIfExists(Box::new(self.session.clone())));
        self.open_seq += 1;
        self.list_seq += 1;
        opening.seq = self.open_seq;
        self.opening = Some(opening);
        self.jobs.push(StoreJob::Open {
            target,
            seq: self.open_seq,
            list_seq: self.list_seq,
        });
    }

    pub(super) fn on_opened(
        &mut self,
        cx: &mut Shared,
        seq: u64,
        list_seq: u64,
        result: Result<Option<Box<Opened>>, String>,
    ) {
        let Some(opening) = self.opening.take_if(|o| o.seq == seq) else {
            return;
        };
        let opened = match result {
            Ok(Some(opened)) => opened,
            Ok(None) => return self.reload_sidebar(),
            Err(e) => {
                cx.flash = Some(format!("could not {}: {e}", opening.what));
                return;
            }
        };
        self.composer.input = InputBox::with_text(&opened.session.draft);
        self.session = opened.session;
        self.messages = opened.messages;
        self.views.clear();
        self.selected_message = None;
        self.search = None;
        self.follow = true;
        self.refresh_views(cx);
        if list_seq == self.list_seq {
            self.apply_sessions(opened.sessions);
        }
        self.sidebar.select(self.session.id);
        if let Some(text) = opening.input {
            self.composer.input.set(&text);
        }
        if opening.focus_input {
            self.focus = Focus::Input;
        }
        if let Some(flash) = opening.flash {
            cx.flash = Some(flash);
        }
    }

    pub(super) fn new_session(&mut self, cx: &mut Shared) {
        let model = self.session.agent.model.clone();
        let mut opening = Opening::new("create a session");
        opening.focus_input = true;
        self.open(cx, OpenTarget::New(model), opening);
    }

    pub(super) fn delete_session(&mut self, id: Id, title: &str) {
        self.jobs.push(StoreJob::Delete {
            id,
            title: title.to_string(),
        });
        self.reload_sidebar();
    }

    pub(super) fn on_deleted(
        &mut self,
        cx: &mut Shared,
        id: Id,
        title: String,
        result: Result<(), String>,
    ) {
        if let Err(e) = result {
            cx.flash = Some(format!("could not delete: {e}"));
            return;
        }
        if self.session.id == id {
            // Show the most recent other session, or a new one.
            match self
                .sidebar
                .sessions
                .iter()
                .find(|s| s.id != id)
                .map(|s| s.id)
            {
                Some(other) => self.open(
                    cx,
                    OpenTarget::Existing(other),
                    Opening::new("open the session"),
                ),
                None => {
                    let model = self.session.agent.model.clone();
                    self.open(cx, OpenTarget::New(model), Opening::new("create a session"));
                }
            }
        }
        cx.flash = Some(format!("deleted “{title}”"));
    }

    pub(super) fn export(&mut self, cx: &mut Shared, json: bool) {
        let Some(s) = self.sidebar.selected_session().cloned() else {
            return;
        };
        self.jobs.push(StoreJob::Export {
            id: s.id,
            title: s.title,
            json,
            dir: cx.export_dir.clone(),
        });
    }
}

/// A session switch asked for and not answered yet: what to do when it is.
#[derive(Debug)]
pub(super) struct Opening {
    pub(super) seq: u64,
    /// For the error message: "could not {what}".
    pub(super) what: &'static str,
    /// Text to put in the input box (editing a message in a fork).
    pub(super) input: Option<String>,
    pub(super) focus_input: bool,
    pub(super) flash: Option<String>,
}

impl Opening {
    pub(super) fn new(what: &'static str) -> Opening {
        Opening {
            seq: 0,
            what,
            input: None,
            focus_input: false,
            flash: None,
        }
    }
}
