//! The router: `App` holds the screens, the layer stack (modals and overlays) and what they
//! share, and sends every inbound `Msg` where it belongs. A key goes to the top layer
//! first (which consumes or ignores it), then to the app's global keys (quit, help, the
//! palette, screen switching, mouse), then to the active screen. It returns the `Effect`s
//! to run. What a screen does with a key is the screen's business (see `screens`); what a
//! modal does is its layer's (see `layers`); running effects is the runner's (`tui::run`).

use std::path::PathBuf;

use crossterm::event::KeyEvent;

use super::jobs::{Opened, StoreJob};
use super::kb_jobs::KbMsg;
use super::keymap::{Action, Context, KeyResolver, Resolution};
use super::markdown::Highlighter;
use super::palette::{Palette, PaletteEntry};
use super::screens::chat::ChatScreen;
use super::screens::compare::CompareScreen;
use super::screens::evals::EvalsScreen;
use super::screens::guardrails::GuardrailsScreen;
use super::screens::knowledge::KnowledgeScreen;
use super::screens::{Event, Screen, ScreenId, Shared};
use super::theme::Theme;
use crate::orchestrator::events::RunEvent;
use crate::orchestrator::Turn;
use crate::runtime::catalog::Catalog;
use crate::runtime::types::StreamEvent;
use crate::sessions::{Session, SessionStore};
use crate::store::Id;

pub use super::layers::{Handled, Layer, ModelEntry, Picker, PromptKind, PullState, Reply};
pub use super::screens::chat::{Focus, MessageView, Streaming};

/// Inbound messages: input events and results of background work.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    /// Mouse wheel (when mouse capture is on): lines to scroll.
    Scroll(i16),
    Resize(u16, u16),
    /// Answer text of a run, as its checks released it.
    Stream {
        message: Id,
        event: StreamEvent,
    },
    /// Every other event of a run (interventions, usage, the end).
    Run(Box<RunEvent>),
    /// A turn could not start at all (its session is gone, the database failed).
    TurnFailed(String),
    PullProgress {
        model: String,
        done: u64,
        total: Option<u64>,
    },
    Pulled {
        model: String,
        result: Result<(), String>,
    },
    /// `$EDITOR` closed (it ran off the UI task, with the terminal handed over).
    EditorDone(Result<String, String>),
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
    StoreFailed(String),
    /// Guardrail work answered (lists, versions, attach, sandbox, review).
    Guard(super::guard_jobs::GuardMsg),
    /// `$EDITOR` closed on a cited file.
    FileClosed(Result<(), String>),
    /// Knowledge-base answers (lists, sync progress, queries, checks, cited chunks).
    Kb(super::kb_jobs::KbMsg),
    /// Comparison answers (column streams, votes, a kept answer).
    Compare(super::compare_jobs::CompareMsg),
    /// Evaluation answers (jobs, results, a run's progress, votes).
    Eval(super::eval_jobs::EvalMsg),
    /// Sessions matching a session search.
    SessionHits {
        /// Which search this answers (only the latest counts).
        seq: u64,
        result: Result<Vec<Id>, String>,
    },
}

/// Work for the runner.
#[derive(Debug)]
pub enum Effect {
    /// Run a turn of a session through the orchestrator (answered by `Msg::Stream` and
    /// `Msg::Run`).
    Turn(Box<Turn>),
    Pull(String),
    Copy(String),
    /// Hand the terminal to `$EDITOR` on this text (answered by `Msg::EditorDone`).
    OpenEditor(String),
    /// Guardrail work off the UI task (answered by `Msg::Guard`).
    Guard(super::guard_jobs::GuardJob),
    /// Knowledge-base work off the UI task (answered by `Msg::Kb`).
    Kb(super::kb_jobs::KbJob),
    /// Comparison work (answered by `Msg::Compare`).
    Compare(super::compare_jobs::CompareJob),
    /// Evaluation work (answered by `Msg::Eval`).
    Eval(super::eval_jobs::EvalJob),
    /// Hand the terminal to `$EDITOR` on a file at a line.
    OpenFile {
        path: String,
        line: usize,
    },
    /// Storage work, run in order off the UI task (answered per job, see `jobs`).
    Store(Vec<StoreJob>),
    SetMouse(bool),
    /// Full-text search over all sessions (answered by `Msg::SessionHits` with `seq`).
    SearchSessions {
        query: String,
        seq: u64,
    },
    Quit,
}

/// The whole UI: what screens and layers share, the screens, which one is shown.
pub struct App {
    pub cx: Shared,
    pub chat: ChatScreen,
    pub guardrails: GuardrailsScreen,
    pub knowledge: KnowledgeScreen,
    pub compare: CompareScreen,
    pub evals: EvalsScreen,
    pub active: ScreenId,
    pub quit: bool,
}

impl App {
    /// Builds the UI state, resuming the most recent session (or starting one).
    pub fn new(
        store: SessionStore,
        catalog: &Catalog,
        model_dir: &std::path::Path,
        default_model: &str,
        theme: Theme,
        keys: KeyResolver,
        export_dir: PathBuf,
    ) -> Result<App, crate::store::StoreError> {
        let catalog = catalog
            .models()
            .iter()
            .filter(|m| m.has(crate::runtime::catalog::Capability::Chat))
            .map(|m| ModelEntry {
                id: m.id.clone(),
                context_window: m.context_window,
                input_price: m.input_price,
                output_price: m.output_price,
                local: m.is_local(),
                downloaded: m.is_downloaded(model_dir),
            })
            .collect();
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
        let chat = ChatScreen::new(sessions, session, messages, &ui);
        let mut app = App {
            cx: Shared {
                store,
                catalog,
                default_model: default_model.to_string(),
                theme,
                highlighter: Highlighter::new(),
                keys,
                size: (80, 24),
                flash: None,
                export_dir,
                mouse: false,
                pull: None,
                layers: Vec::new(),
            },
            chat,
            guardrails: GuardrailsScreen::default(),
            knowledge: KnowledgeScreen::default(),
            compare: CompareScreen::default(),
            evals: EvalsScreen::default(),
            active: ScreenId::Chat,
            quit: false,
        };
        app.refresh_views();
        Ok(app)
    }

    /// The screen on show.
    pub fn screen(&self) -> &dyn Screen {
        match self.active {
            ScreenId::Chat => &self.chat,
            ScreenId::Guardrails => &self.guardrails,
            ScreenId::Knowledge => &self.knowledge,
            ScreenId::Compare => &self.compare,
            ScreenId::Evals => &self.evals,
        }
    }

    fn screen_mut(&mut self) -> (&mut dyn Screen, &mut Shared) {
        match self.active {
            ScreenId::Chat => (&mut self.chat, &mut self.cx),
            ScreenId::Guardrails => (&mut self.guardrails, &mut self.cx),
            ScreenId::Knowledge => (&mut self.knowledge, &mut self.cx),
            ScreenId::Compare => (&mut self.compare, &mut self.cx),
            ScreenId::Evals => (&mut self.evals, &mut self.cx),
        }
    }

    /// Hands an event to the active screen.
    fn send_to_screen(&mut self, event: Event) -> Vec<Effect> {
        let (screen, cx) = self.screen_mut();
        screen.update(event, cx)
    }

    /// The top layer, if any.
    pub fn top_layer(&self) -> Option<&Layer> {
        self.cx.layers.last()
    }

    /// Saves what the screens keep between runs (drafts, where the user was).
    pub fn save_ui_state(&mut self) {
        self.chat.save_ui_state(&mut self.cx);
    }

    /// Lays out what changed since the last frame (the chat's messages, the compared
    /// answers).
    pub fn refresh_views(&mut self) {
        self.chat.refresh_views(&mut self.cx);
        self.compare.refresh(&self.cx);
    }

    /// Whether something streams or runs (the frame ticks to show time passing).
    pub fn is_busy(&self) -> bool {
        self.chat.streaming.is_some()
            || self.cx.pull.is_some()
            || self.compare.is_running()
            || self.evals.is_running()
    }

    /// Applies one message; returns the effects to run.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(key) => self.on_key(key),
            Msg::Paste(text) => match self.cx.layers.last_mut() {
                Some(top) => {
                    top.on_paste(&text, &self.cx.catalog);
                    Vec::new()
                }
                None => self.send_to_screen(Event::Paste(text)),
            },
            Msg::Resize(w, h) => {
                self.cx.size = (w, h);
                // Every screen keeps its layout for the size, shown or not.
                self.chat
                    .update(Event::Msg(Msg::Resize(w, h)), &mut self.cx)
            }
            Msg::Scroll(_) => self.send_to_screen(Event::Msg(msg)),
            Msg::Pulled {
                ref model,
                ref result,
            } => {
                if result.is_ok() {
                    if let Some(entry) = self.cx.catalog.iter_mut().find(|e| e.id == *model) {
                        entry.downloaded = true;
                    }
                }
                self.chat.update(Event::Msg(msg), &mut self.cx)
            }
            // Guardrail answers: the screen that asked takes what is its own.
            Msg::Guard(g) => {
                let mut fx = self
                    .guardrails
                    .update(Event::Msg(Msg::Guard(g.clone())), &mut self.cx);
                fx.extend(self.chat.update(Event::Msg(Msg::Guard(g)), &mut self.cx));
                fx
            }
            Msg::FileClosed(result) => {
                if let Err(e) = result {
                    self.cx.flash = Some(format!("editor: {e}"));
                }
                Vec::new()
            }
            // A cited chunk in context opens over whatever is shown.
            Msg::Kb(KbMsg::Context(result)) => {
                match result {
                    Ok(ctx) => self.cx.open(Layer::Citation(Box::new(ctx))),
                    Err(e) => self.cx.flash = Some(format!("cannot open the source: {e}")),
                }
                Vec::new()
            }
            // Knowledge answers: syncs and queries are the knowledge screen's (also while
            // another screen is shown), checks of attached bases the chat's.
            Msg::Kb(k) => {
                let mut fx = self
                    .knowledge
                    .update(Event::Msg(Msg::Kb(k.clone())), &mut self.cx);
                fx.extend(self.chat.update(Event::Msg(Msg::Kb(k)), &mut self.cx));
                fx
            }
            // A kept answer is shown in the chat.
            Msg::Compare(super::compare_jobs::CompareMsg::Kept(Ok(session))) => {
                self.active = ScreenId::Chat;
                self.cx.flash = Some("the chosen answer is in the conversation".into());
                self.chat.show_session(&mut self.cx, session)
            }
            Msg::Compare(m) => self
                .compare
                .update(Event::Msg(Msg::Compare(m)), &mut self.cx),
            Msg::Eval(m) => self.evals.update(Event::Msg(Msg::Eval(m)), &mut self.cx),
            // The rest belongs to the chat screen's work, whichever screen is shown.
            other => self.chat.update(Event::Msg(other), &mut self.cx),
        }
    }

    /// Routes a key: the top layer, then global keys, then the active screen.
    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        self.cx.flash = None;
        let contexts = match self.cx.layers.last() {
            Some(top) => top.contexts(),
            None => {
                let mut c = self.screen().contexts();
                c.push(Context::Global);
                c
            }
        };
        let resolution = self.cx.keys.resolve(&contexts, key);
        if let Some(top) = self.cx.layers.last_mut() {
            match top.on_key(resolution, key, &self.cx.catalog) {
                Handled::Consumed => return Vec::new(),
                Handled::Close => {
                    self.cx.layers.pop();
                    self.cx.keys.reset();
                    return Vec::new();
                }
                Handled::Reply(reply) => {
                    self.cx.layers.pop();
                    return self.on_reply(reply);
                }
                // Only an action goes on down: text typed at a layer is never the screen's.
                Handled::Ignored => {
                    let Resolution::Action(action) = resolution else {
                        return Vec::new();
                    };
                    return self.on_action(action);
                }
            }
        }
        match resolution {
            Resolution::Action(action) => self.on_action(action),
            Resolution::Unbound => self.send_to_screen(Event::Key(key)),
            Resolution::Pending | Resolution::Ignored => Vec::new(),
        }
    }

    /// The app's own actions; the rest go to the active screen.
    fn on_action(&mut self, action: Action) -> Vec<Effect> {
        use Action as A;
        match action {
            A::Quit => self.cx.open(Layer::ConfirmQuit),
            A::CancelOrQuit => {
                let (screen, cx) = self.screen_mut();
                if !screen.cancel_work(cx) {
                    self.cx.open(Layer::ConfirmQuit);
                }
            }
            A::Help => self.cx.open(Layer::Help(0)),
            A::CommandPalette => {
                let palette = Palette::new(self.cx.keys.keymap());
                self.cx.open(Layer::Palette(palette));
                self.cx.keys.reset();
            }
            A::NextScreen => return self.switch_screen(self.active.next()),
            A::CompareMessage if self.active == ScreenId::Chat => {
                let mut fx = self.switch_screen(ScreenId::Compare);
                fx.extend(self.compare.reask(
                    &self.chat.session,
                    &self.chat.messages,
                    self.chat.selected_message,
                    &mut self.cx,
                ));
                return fx;
            }
            A::ToggleMouse => {
                self.cx.mouse = !self.cx.mouse;
                self.cx.flash = Some(format!(
                    "mouse capture {}",
                    if self.cx.mouse { "on" } else { "off" }
                ));
                return vec![Effect::SetMouse(self.cx.mouse)];
            }
            other => return self.send_to_screen(Event::Action(other)),
        }
        Vec::new()
    }

    fn switch_screen(&mut self, to: ScreenId) -> Vec<Effect> {
        if to == ScreenId::Compare {
            // Comparisons belong to the chat's session (its settings and conversation).
            self.compare.default_guardrail = self.chat.default_guardrail.clone();
            self.compare.attach(&self.chat.session, &self.cx);
        }
        self.active = to;
        self.cx.keys.reset();
        self.cx.flash = Some(format!("{} screen", to.name()));
        let (screen, cx) = self.screen_mut();
        screen.on_show(cx)
    }

    /// A layer closed with an answer: the app's own, or the screen's.
    fn on_reply(&mut self, reply: Reply) -> Vec<Effect> {
        match reply {
            Reply::Quit => {
                let (screen, cx) = self.screen_mut();
                screen.on_quit(cx);
                // Syncs run whichever screen is shown; quitting stops them cleanly (the
                // next sync resumes).
                if self.active != ScreenId::Knowledge {
                    self.knowledge.on_quit(&mut self.cx);
                }
                if self.active != ScreenId::Compare {
                    self.compare.on_quit(&mut self.cx);
                }
                if self.active != ScreenId::Evals {
                    self.evals.on_quit(&mut self.cx);
                }
                self.quit = true;
                vec![Effect::Quit]
            }
            Reply::Palette(entry) => self.run_palette_choice(entry),
            Reply::OpenFile { path, line } => vec![Effect::OpenFile { path, line }],
            other => self.send_to_screen(Event::Reply(other)),
        }
    }

    /// Runs a palette entry the way its key would: the pane the binding belongs to takes
    /// focus, then the action goes through the same routing (or the screen is shown).
    fn run_palette_choice(&mut self, entry: PaletteEntry) -> Vec<Effect> {
        self.cx.keys.reset();
        if let Some(screen) = entry.screen {
            return self.switch_screen(screen);
        }
        let (screen, cx) = self.screen_mut();
        screen.focus_context(entry.context, cx);
        self.on_action(entry.action)
    }
}

/// Subsequence match score: higher for contiguous and early matches; None if no match.
pub fn fuzzy_score(query: &str, candidate: &str) -> Option<i64> {
    if query.is_empty() {
        return Some(0);
    }
    let mut score = 0i64;
    let mut last: Option<usize> = None;
    let mut chars = candidate.char_indices();
    for q in query.chars() {
        let (i, _) = chars.by_ref().find(|(_, c)| *c == q)?;
        score += match last {
            Some(l) if i == l + 1 => 10,
            _ => 1,
        };
        if last.is_none() {
            score -= i as i64 / 4;
        }
        last = Some(i);
    }
    Some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_prefers_contiguous_matches() {
        assert!(fuzzy_score("smol", "local/smollm2-135m") > fuzzy_score("smol", "local/s-m-o-l"));
        assert_eq!(fuzzy_score("xyz", "local/smollm2-135m"), None);
        assert_eq!(fuzzy_score("", "anything"), Some(0));
    }
}
