//! Screens: the `Screen` trait every full-window screen implements, and `Shared`, what
//! every screen and layer may read or change (catalog, theme, keys, size, flash line, the
//! layer stack). A new screen is a new file here plus a `ScreenId` variant (in `msg`) and
//! its place in `tui::build_app`. Routing between layers and screens is `App`'s job, not
//! this module's.

pub mod agents;
pub mod chat;
pub mod compare;
pub mod evals;
pub mod guardrails;
pub mod knowledge;

use std::any::Any;
use std::path::PathBuf;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use super::keymap::{Action, Context, KeyResolver};
use super::layers::{Layer, ModelEntry, PullState, Reply};
use super::markdown::Highlighter;
pub use super::msg::ScreenId;
use super::msg::{Effect, ScreenMsg};
use super::theme::Theme;
use crate::runtime::catalog::{Capability, Catalog};

/// What the app holds for every screen and layer: the catalog, the look, the keys, the
/// terminal size, the flash line and the layer stack (top last).
pub struct Shared {
    pub catalog: Vec<ModelEntry>,
    /// The catalog's embeddings models (knowledge bases pick from them).
    pub embedders: Vec<String>,
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
    /// What screens share at start: the chat models of `catalog` (downloaded or not, by
    /// `model_dir`), nothing on top, an 80x24 terminal until told otherwise.
    pub fn new(
        catalog: &Catalog,
        model_dir: &std::path::Path,
        default_model: &str,
        theme: Theme,
        keys: KeyResolver,
        export_dir: PathBuf,
    ) -> Shared {
        let embedders = catalog
            .models()
            .iter()
            .filter(|m| m.has(Capability::Embeddings))
            .map(|m| m.id.clone())
            .collect();
        let catalog = catalog
            .models()
            .iter()
            .filter(|m| m.has(Capability::Chat))
            .map(|m| ModelEntry {
                id: m.id.clone(),
                context_window: m.context_window,
                input_price: m.input_price,
                output_price: m.output_price,
                local: m.is_local(),
                downloaded: m.is_downloaded(model_dir),
            })
            .collect();
        Shared {
            catalog,
            embedders,
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
        }
    }

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
    /// Mouse wheel: lines to scroll.
    Scroll(i16),
    /// An answer of the screen's work, or another screen's request.
    Msg(ScreenMsg),
}

/// Any screen as `Any`, so the app can hand out a screen by its type (tests, benches).
pub trait AsAny: Any {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A full-window screen: owns its state, answers events with effects, draws itself.
pub trait Screen: AsAny {
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

    /// The terminal is now `w` x `h` (every screen is told, shown or not).
    fn resize(&mut self, _w: u16, _h: u16, _cx: &mut Shared) {}

    /// Lays out what changed since the last frame (before drawing).
    fn refresh(&mut self, _cx: &mut Shared) {}

    /// Whether the screen runs something (the frame ticks to show time passing).
    fn is_busy(&self) -> bool {
        false
    }

    /// What this screen offers the screen `to` that is about to be shown (the chat offers
    /// its session to the comparison).
    fn offer(&self, _to: ScreenId) -> Option<ScreenMsg> {
        None
    }

    /// Work that stores its own end once cancelled (an answer streaming): the app cancels
    /// it and waits a moment for it before the process ends.
    fn unfinished(&self) -> Option<&tokio_util::sync::CancellationToken> {
        None
    }

    /// What to save for the next run (drafts, where the user was), as storage effects.
    fn save_state(&mut self, _cx: &mut Shared) -> Vec<Effect> {
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

    /// The app is quitting: stop work, and save what should survive (as effects).
    fn on_quit(&mut self, cx: &mut Shared) -> Vec<Effect>;
}
