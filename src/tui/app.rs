//! The router: `App` holds the screens (indexed by `ScreenId`), the layer stack (modals and
//! overlays) and what they share, and sends every inbound `Msg` where it belongs. A key goes
//! to the top layer first (which consumes or ignores it), then to the app's global keys
//! (quit, help, the palette, screen switching, mouse), then to the active screen; an answer
//! goes to the screen its work was started for. It returns the `Effect`s to run, after
//! handling the ones addressed to itself (showing a screen, a message for another screen).
//! What a screen does with a key is the screen's business (see `screens`); what a modal
//! does is its layer's (see `layers`); running effects is the runner's (`tui::run`).

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::kb_jobs::KbMsg;
use super::keymap::{Action, Context, Resolution};
use super::layers::{Handled, Layer, Reply};
use super::layout::{MIN_HEIGHT, MIN_WIDTH};
use super::msg::{Effect, Msg, ScreenId, ScreenMsg};
use super::palette::{Palette, PaletteEntry};
use super::screens::{AsAny, Event, Screen, Shared};

/// The whole UI: what screens and layers share, the screens, which one is shown.
pub struct App {
    pub cx: Shared,
    /// One per `ScreenId`, in `ScreenId::ALL` order.
    screens: Vec<Box<dyn Screen>>,
    pub active: ScreenId,
    pub quit: bool,
    /// What should survive was saved on the way out (so it is not written twice).
    saved: bool,
}

impl App {
    /// The UI over `screens` (one per `ScreenId`, in any order), the first of
    /// `ScreenId::ALL` shown.
    pub fn new(cx: Shared, mut screens: Vec<Box<dyn Screen>>) -> App {
        screens.sort_by_key(|s| s.id().index());
        let mut app = App {
            cx,
            screens,
            active: ScreenId::ALL[0],
            quit: false,
            saved: false,
        };
        app.refresh_views();
        app
    }

    /// A screen by its type (for tests and benches that look inside one).
    pub fn find<S: Screen>(&self) -> Option<&S> {
        self.screens
            .iter()
            .find_map(|s| <dyn Screen as AsAny>::as_any(&**s).downcast_ref::<S>())
    }

    /// A screen by its type, to change, with what screens share.
    pub fn find_mut<S: Screen>(&mut self) -> Option<(&mut S, &mut Shared)> {
        let screen = self
            .screens
            .iter_mut()
            .find_map(|s| <dyn Screen as AsAny>::as_any_mut(&mut **s).downcast_mut::<S>())?;
        Some((screen, &mut self.cx))
    }

    /// The screen on show.
    pub fn screen(&self) -> &dyn Screen {
        self.get(self.active)
    }

    fn get(&self, id: ScreenId) -> &dyn Screen {
        let i = self
            .screens
            .iter()
            .position(|s| s.id() == id)
            .unwrap_or_default();
        &*self.screens[i]
    }

    fn get_mut(&mut self, id: ScreenId) -> (&mut dyn Screen, &mut Shared) {
        let i = self
            .screens
            .iter()
            .position(|s| s.id() == id)
            .unwrap_or_default();
        (&mut *self.screens[i], &mut self.cx)
    }

    /// Hands an event to a screen; handles the effects addressed to the app.
    fn send(&mut self, to: ScreenId, event: Event) -> Vec<Effect> {
        let (screen, cx) = self.get_mut(to);
        let fx = screen.update(event, cx);
        self.route(fx)
    }

    /// Hands an event to the active screen.
    fn send_to_screen(&mut self, event: Event) -> Vec<Effect> {
        self.send(self.active, event)
    }

    /// Runs the effects addressed to the app (showing a screen, a message for a screen) at
    /// once, in order; returns the rest for the runner.
    fn route(&mut self, fx: Vec<Effect>) -> Vec<Effect> {
        let mut out = Vec::new();
        for effect in fx {
            match effect {
                Effect::Show(to) => out.extend(self.switch_screen(to)),
                Effect::Send(to, msg) => out.extend(self.send(to, Event::Msg(msg))),
                other => out.push(other),
            }
        }
        out
    }

    /// The top layer, if any.
    pub fn top_layer(&self) -> Option<&Layer> {
        self.cx.layers.last()
    }

    /// What the screens keep between runs (drafts, where the user was), as storage
    /// effects; nothing when the quit already saved it.
    pub fn save_ui_state(&mut self) -> Vec<Effect> {
        if self.saved {
            return Vec::new();
        }
        self.saved = true;
        let mut fx = Vec::new();
        for screen in &mut self.screens {
            fx.extend(screen.save_state(&mut self.cx));
        }
        fx
    }

    /// Lays out what changed since the last frame (the chat's messages, the compared
    /// answers).
    pub fn refresh_views(&mut self) {
        for screen in &mut self.screens {
            screen.refresh(&mut self.cx);
        }
    }

    /// Whether something streams or runs (the frame ticks to show time passing).
    pub fn is_busy(&self) -> bool {
        self.cx.pull.is_some() || self.screens.iter().any(|s| s.is_busy())
    }

    /// Work that stores its own end once cancelled (see `Screen::unfinished`).
    pub fn unfinished(&self) -> Vec<&tokio_util::sync::CancellationToken> {
        self.screens.iter().filter_map(|s| s.unfinished()).collect()
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
                for screen in &mut self.screens {
                    screen.resize(w, h, &mut self.cx);
                }
                Vec::new()
            }
            Msg::Scroll(lines) => self.send_to_screen(Event::Scroll(lines)),
            Msg::Completed { seq, completion } => {
                if let Some(Layer::Fields(form)) = self.cx.layers.last_mut() {
                    form.on_completion(seq, completion);
                }
                Vec::new()
            }
            Msg::FileClosed(result) => {
                if let Err(e) = result {
                    self.cx.flash = Some(format!("editor: {e}"));
                }
                Vec::new()
            }
            // A cited chunk in context opens over whatever is shown.
            Msg::To(_, ScreenMsg::Kb(KbMsg::Context(result))) => {
                match result {
                    Ok(ctx) => self.cx.open(Layer::Citation(Box::new(ctx))),
                    Err(e) => self.cx.flash = Some(format!("cannot open the source: {e}")),
                }
                Vec::new()
            }
            // Answers go to the screen that asked, whichever screen is shown.
            Msg::To(screen, msg) => self.send(screen, Event::Msg(msg)),
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
                Handled::Effect(effect) => return vec![effect],
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
                let (screen, cx) = self.get_mut(self.active);
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

    /// Shows a screen: what the other screens offer it first (the chat's session to the
    /// comparison), then what it loads when shown.
    fn switch_screen(&mut self, to: ScreenId) -> Vec<Effect> {
        let offers: Vec<ScreenMsg> = self
            .screens
            .iter()
            .filter(|s| s.id() != to)
            .filter_map(|s| s.offer(to))
            .collect();
        let mut fx = Vec::new();
        for offer in offers {
            fx.extend(self.send(to, Event::Msg(offer)));
        }
        self.active = to;
        self.cx.keys.reset();
        self.cx.flash = Some(format!("{} screen", to.name()));
        let (screen, cx) = self.get_mut(to);
        let shown = screen.on_show(cx);
        fx.extend(self.route(shown));
        fx
    }

    /// A layer closed with an answer: the app's own, or the screen's.
    fn on_reply(&mut self, reply: Reply) -> Vec<Effect> {
        match reply {
            Reply::Quit => {
                // The screen on show first, then the others: work stops cleanly (a sync
                // resumes next time) and what should survive is saved, once.
                let mut order = vec![self.active];
                order.extend(ScreenId::ALL.iter().filter(|id| **id != self.active));
                let mut fx = Vec::new();
                for id in order {
                    let (screen, cx) = self.get_mut(id);
                    fx.extend(screen.on_quit(cx));
                }
                self.saved = true;
                self.quit = true;
                fx.push(Effect::Quit);
                fx
            }
            Reply::Palette(entry) => self.run_palette_choice(entry),
            Reply::OpenFile { path, line } => vec![Effect::OpenFile { path, line }],
            // A decision goes to the screen whose run asked, a form's values to the screen
            // that opened it, whichever one is shown.
            other => match other.owner() {
                Some(owner) => self.send(owner, Event::Reply(other)),
                None => self.send_to_screen(Event::Reply(other)),
            },
        }
    }

    /// Runs a palette entry the way its key would: the pane the binding belongs to takes
    /// focus, then the action goes through the same routing (or the screen is shown).
    fn run_palette_choice(&mut self, entry: PaletteEntry) -> Vec<Effect> {
        self.cx.keys.reset();
        if let Some(screen) = entry.screen {
            return self.switch_screen(screen);
        }
        let mut fx = Vec::new();
        if let Some(on) = entry.on.filter(|on| *on != self.active) {
            fx = self.switch_screen(on);
        }
        let (screen, cx) = self.get_mut(self.active);
        screen.focus_context(entry.context, cx);
        fx.extend(self.on_action(entry.action));
        fx
    }

    /// Draws the whole screen (pure): the active screen's panes, the status bar, then
    /// every layer of the stack on top, bottom first.
    pub fn render(&self, frame: &mut Frame) {
        let t = &self.cx.theme;
        let area = frame.area();
        frame.render_widget(
            Block::default().style(Style::default().bg(t.bg).fg(t.fg)),
            area,
        );
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let msg = format!(
                "Terminal too small ({}x{}); Strata needs at least {MIN_WIDTH}x{MIN_HEIGHT}.",
                area.width, area.height
            );
            frame.render_widget(
                Paragraph::new(msg)
                    .wrap(Wrap { trim: true })
                    .style(Style::default().fg(t.warning)),
                area,
            );
            return;
        }
        let body = Rect::new(area.x, area.y, area.width, area.height - 1);
        let status = Rect::new(area.x, area.bottom() - 1, area.width, 1);
        let screen = self.screen();
        screen.draw(frame, body, &self.cx);
        self.draw_status(screen.status(&self.cx), frame, status);
        for layer in &self.cx.layers {
            layer.draw(frame, area, t, self.cx.keys.keymap(), &self.cx.catalog);
        }
    }

    /// The status bar: the screen's fields, then the flash note.
    fn draw_status(&self, parts: Vec<String>, frame: &mut Frame, area: Rect) {
        let t = &self.cx.theme;
        // The flash right after the screen's first field: a screen's key hints must not
        // push it off the edge at 80 columns.
        let mut parts = parts;
        if let Some(flash) = &self.cx.flash {
            parts.insert(1.min(parts.len()), flash.clone());
        }
        let line = parts.join(" │ ");
        frame.render_widget(
            Paragraph::new(line).style(Style::default().bg(t.status_bg).fg(t.status_fg)),
            area,
        );
    }

    /// The box the top layer is drawn in, for a screen of `area`; None without a layer.
    pub fn modal_rect(&self, area: Rect) -> Option<Rect> {
        self.top_layer().map(|l| l.rect(area))
    }
}
