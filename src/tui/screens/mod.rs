//! Screens: the `Screen` trait every full-window screen implements, the list of screens
//! (`ScreenId`, which the screen-switch key and the command palette are generated from),
//! and `Shared`, what every screen and layer may read or change (store, catalog, theme,
//! keys, size, flash line, the layer stack). A new screen is a new file here plus a
//! `ScreenId` variant. Routing keys between layers and screens is `App`'s job, not this
//! module's.

pub mod chat;
pub mod compare;
pub mod evals;
pub mod guardrails;
pub mod knowledge;

use std::path::PathBuf;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use super::app::{Effect, Msg};
use super::keymap::{Action, Context, KeyResolver};
use super::layers::{Layer, ModelEntry, PullState, Reply};
use super::markdown::Highlighter;
use super::theme::Theme;
use crate::sessions::SessionStore;

/// The screens, in the order the screen-switch key cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenId {
    /// Sessions, the conversation and the input box.
    Chat,
    /// Guardrails: their versions with diffs, and a sandbox.
    Guardrails,
    /// Knowledge bases: sync progress and a query playground.
    Knowledge,
    /// One question to several models side by side, with votes.
    Compare,
    /// Evaluation jobs: progress, summaries, items and charts.
    Evals,
}

impl ScreenId {
    /// Every screen, in switching order.
    pub const ALL: &'static [ScreenId] = &[
        ScreenId::Chat,
        ScreenId::Guardrails,
        ScreenId::Knowledge,
        ScreenId::Compare,
        ScreenId::Evals,
    ];

    /// The screen's name, as the palette and the status bar show it.
    pub fn name(self) -> &'static str {
        match self {
            ScreenId::Chat => "Chat",
            ScreenId::Guardrails => "Guardrails",
            ScreenId::Knowledge => "Knowledge",
            ScreenId::Compare => "Compare",
            ScreenId::Evals => "Evaluations",
        }
    }

    /// One line on what the screen is for.
    pub fn description(self) -> &'static str {
        match self {
            ScreenId::Chat => "conversations with a model",
            ScreenId::Guardrails => "guardrail versions, diffs and a sandbox",
            ScreenId::Knowledge => "knowledge bases, sync progress and a query playground",
            ScreenId::Compare => "one question to 2-4 models side by side, with votes",
            ScreenId::Evals => "evaluation jobs: progress, summary, items and charts",
        }
    }

    /// The screen after this one (wrapping).
    pub fn next(self) -> ScreenId {
        let all = ScreenId::ALL;
        let pos = all.iter().position(|s| *s == self).unwrap_or(0);
        all[(pos + 1) % all.len()]
    }
}

/// What the app holds for every screen and layer: the data stores, the look, the keys,
/// the terminal size, the flash line and the layer stack (top last).
pub struct Shared {
    pub store: SessionStore,
    pub catalog: Vec<ModelEntry>,
    pub default_model: String,
    pub theme: Theme,
    pub highlighter: Highlighter,
    pub keys: KeyResolver,
    pub size: (u16, u16),
    /// A one-off note in the status bar, cleared by the next key.
    pub flash: Option<String>,
    pub export_dir: PathBuf,
    pub mouse: bool,
    /// A model download running in the background.
    pub pull: Option<PullState>,
    /// Modals and overlays above the screen; the last one takes the keys first.
    pub layers: Vec<Layer>,
}

impl Shared {
    /// Puts a layer on top of the stack.
    pub fn open(&mut self, layer: Layer) {
        self.layers.push(layer);
    }
}

/// What a screen is given to handle.
#[derive(Debug)]
pub enum Event {
    /// A key resolved to an action in the screen's contexts (or Global).
    Action(Action),
    /// A key with no binding (text to type, if anything).
    Key(KeyEvent),
    Paste(String),
    /// What a layer the screen opened answered.
    Reply(Reply),
    /// Any other inbound message (stream events, task results, scrolling).
    Msg(Msg),
}

/// A full-window screen: owns its state, answers events with effects, draws itself.
pub trait Screen {
    fn id(&self) -> ScreenId;

    /// The keymap contexts a key is resolved in, most specific first (the router adds
    /// `Global` after them).
    fn contexts(&self) -> Vec<Context>;

    /// Applies one event; returns the effects to run.
    fn update(&mut self, event: Event, cx: &mut Shared) -> Vec<Effect>;

    /// The screen is being shown: what to load for it.
    fn on_show(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        Vec::new()
    }

    /// Draws the screen into `area` (the window above the status bar).
    fn draw(&self, frame: &mut Frame, area: Rect, cx: &Shared);

    /// The status bar's fields for this screen.
    fn status(&self, cx: &Shared) -> Vec<String>;

    /// Gives the keyboard to the pane an action of `context` belongs to (the palette
    /// runs an action the way its key would).
    fn focus_context(&mut self, context: Context, cx: &mut Shared);

    /// Stops the screen's running work; false when nothing was running.
    fn cancel_work(&mut self, cx: &mut Shared) -> bool;

    /// The app is quitting: save what should survive.
    fn on_quit(&mut self, cx: &mut Shared);
}
