//! The TUI headless: snapshots of each screen per theme and size (TestBackend + insta), and
//! key sequences through the real update loop with the real local model.

mod common;

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use strata::config::Config;
use strata::orchestrator::Orchestrator;
use strata::runtime::types::{Role, Usage};
use strata::runtime::Runtime;
use strata::sessions::{ChatMessage, MessageStatus, SessionStore};
use strata::tui::app::{App, Effect, Focus, Layer, Msg};
use strata::tui::screens::ScreenId;
use strata::tui::theme::{ColorDepth, Theme};
use strata::tui::{build_app, Runner, TuiOptions};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

fn options(theme: &str) -> TuiOptions {
    TuiOptions {
        model: None,
        color: Some(ColorDepth::TrueColor),
        theme: Some(theme.to_string()),
    }
}

fn draw(app: &mut App, w: u16, h: u16) -> Buffer {
    app.update(Msg::Resize(w, h));
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| strata::tui::view::render(app, f))
        .unwrap();
    terminal.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut skip = 0;
        for x in 0..area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            out.push_str(sym);
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
        }
        out.push('\n');
    }
    out
}

/// A session with a Korean exchange and an answer holding a code block.
fn seed(rt: &Runtime) {
    let store = SessionStore::new(rt.store.clone());
    let mut s = store.create(common::CHAT_MODEL).unwrap();
    let msgs = [
        (Role::User, "안녕하세요! 한국어로 짧게 자기소개를 해 주세요. 이 문장은 줄바꿈이 제대로 되는지 확인하기 위해 일부러 길게 썼습니다."),
        (Role::Assistant, "안녕하세요, 저는 **Strata**의 도우미입니다. 한국어 텍스트도 폭에 맞게 *정확히* 줄바꿈됩니다."),
        (Role::User, "Show me hello world in Rust."),
        (Role::Assistant, "## Hello\n\nHere it is:\n\n```rust\nfn main() {\n    println!(\"Hello, world!\");\n}\n```\n\n- compile with `rustc`\n- run `./main`"),
    ];
    for (role, text) in msgs {
        let mut m = ChatMessage::new(role, text);
        if role == Role::Assistant {
            m.model = Some(common::CHAT_MODEL.into());
            m.usage = Some(Usage {
                input_tokens: 20,
                output_tokens: 30,
            });
            m.latency_ms = Some(1500.0);
        }
        store.put_message(&mut s, &m).unwrap();
    }
    s.title = "Korean and code".into();
    store.save(&s).unwrap();
}

#[tokio::test]
async fn screens_per_theme_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    for theme in Theme::names() {
        let mut app = build_app(&rt, &options(theme)).unwrap();
        for (w, h) in [(80u16, 24u16), (120, 40)] {
            app.chat.follow = false;
            app.update(Msg::Resize(w, h));
            app.chat.scroll = 0;
            let buf = draw(&mut app, w, h);
            let screen = text(&buf);
            assert!(screen.contains("안녕하세요"), "{screen}");
            insta::assert_snapshot!(format!("conversation_{theme}_{w}x{h}"), screen);
            // The theme's colours reach the screen.
            let t = Theme::builtin(theme).unwrap();
            assert!(
                buf.content().iter().any(|c| c.fg == t.user),
                "{theme}: user colour used"
            );
            if w == 80 {
                insta::assert_debug_snapshot!(format!("conversation_{theme}_{w}x{h}_styled"), buf);
            }
        }
        // The code block is further down: jump to the bottom.
        app.update(Msg::Resize(120, 40));
        app.chat.follow = true;
        app.refresh_views();
        let buf = draw(&mut app, 120, 40);
        let screen = text(&buf);
        assert!(screen.contains("println!(\"Hello, world!\");"), "{screen}");
        let t = Theme::builtin(theme).unwrap();
        let coloured_code = buf
            .content()
            .iter()
            .any(|c| c.symbol() == "f" && c.fg == t.syntax_keyword);
        assert!(coloured_code, "{theme}: `fn` is highlighted as a keyword");
        insta::assert_snapshot!(format!("code_{theme}_120x40"), screen);
    }
}

#[tokio::test]
async fn modal_and_small_screens() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    let mut app = build_app(&rt, &options("dark")).unwrap();
    app.update(Msg::Key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)));
    assert!(matches!(app.top_layer(), Some(Layer::Help(0))));
    let help = text(&draw(&mut app, 80, 24));
    assert!(help.contains("Quit"), "{help}");
    insta::assert_snapshot!("help_80x24", help);
    app.cx.layers.clear();
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('p'),
        KeyModifiers::CONTROL,
    )));
    let picker = text(&draw(&mut app, 120, 40));
    assert!(
        picker.contains("local/qwen2.5-0.5b") && picker.contains("↓ pull"),
        "{picker}"
    );
    insta::assert_snapshot!("picker_120x40", picker);
    app.cx.layers.clear();
    let small = text(&draw(&mut app, 60, 20));
    assert!(
        small.contains("Korean and code"),
        "60x20 still shows the chat: {small}"
    );
    insta::assert_snapshot!("conversation_60x20", small);
    let tiny = text(&draw(&mut app, 30, 8));
    assert!(tiny.contains("Terminal too small"), "{tiny}");

    // The dialogs in every theme, with their colours.
    for theme in Theme::names() {
        let mut app = build_app(&rt, &options(theme)).unwrap();
        let t = Theme::builtin(theme).unwrap();
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('q'),
            KeyModifiers::CONTROL,
        )));
        let buf = draw(&mut app, 80, 24);
        assert!(text(&buf).contains("Quit Strata?"));
        assert!(
            buf.content().iter().any(|c| c.fg == t.accent),
            "{theme}: dialog border in the accent colour"
        );
        insta::assert_debug_snapshot!(format!("quit_{theme}_80x24_styled"), buf);
        app.cx.layers.clear();
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('p'),
            KeyModifiers::CONTROL,
        )));
        insta::assert_snapshot!(
            format!("picker_{theme}_80x24"),
            text(&draw(&mut app, 80, 24))
        );
    }
}

fn is_border(sym: &str) -> bool {
    sym.chars().any(|c| ('\u{2500}'..='\u{257f}').contains(&c))
}

/// Every modal at 80x24 and 120x40: inside its box and on the ring of cells around it no
/// border glyph of the panes beneath shows; the only border glyphs there are the box's own.
#[tokio::test]
async fn modals_hide_the_borders_beneath_them() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    let openers = [
        ("confirm", ctrl('q')),
        ("help", KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)),
        ("prompt", ctrl('t')),
        ("picker", ctrl('p')),
        ("palette", ctrl('k')),
    ];
    for (name, key) in openers {
        for (w, h) in [(80, 24), (120, 40)] {
            let mut app = build_app(&rt, &options("dark")).unwrap();
            app.update(Msg::Key(key));
            assert!(app.top_layer().is_some(), "{name} opens");
            let buf = draw(&mut app, w, h);
            let screen = text(&buf);
            let r = strata::tui::view::modal_rect(&app, buf.area).unwrap();
            let sym = |x: u16, y: u16| buf[(x, y)].symbol().to_string();
            // The box's own border is where modal_rect says.
            let (x0, y0, x1, y1) = (r.x, r.y, r.right() - 1, r.bottom() - 1);
            assert_eq!(
                [sym(x0, y0), sym(x1, y0), sym(x0, y1), sym(x1, y1)],
                ["┌", "┐", "└", "┘"],
                "{name} {w}x{h}:\n{screen}"
            );
            for y in y0 + 1..y1 {
                assert_eq!((sym(x0, y), sym(x1, y)), ("│".into(), "│".into()));
            }
            // The ring around it, up to the status bar (whose separators are no border).
            let ring_x = x0.saturating_sub(1)..=(x1 + 1).min(w - 1);
            let ring_y = y0.saturating_sub(1)..=(y1 + 1).min(h - 2);
            for y in ring_y {
                for x in ring_x.clone() {
                    let on_edge = (x == x0 || x == x1) && (y0..=y1).contains(&y)
                        || (y == y0 || y == y1) && (x0..=x1).contains(&x);
                    assert!(
                        on_edge || !is_border(&sym(x, y)),
                        "{name} {w}x{h}: a border piece {:?} at ({x},{y}) by the modal:\n{screen}",
                        sym(x, y)
                    );
                }
            }
        }
    }
}

/// The command palette with a query typed, at both sizes.
#[tokio::test]
async fn command_palette_screens() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    for (w, h) in [(80, 24), (120, 40)] {
        let mut app = build_app(&rt, &options("dark")).unwrap();
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('k'),
            KeyModifiers::CONTROL,
        )));
        for c in "session".chars() {
            app.update(Msg::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        let screen = text(&draw(&mut app, w, h));
        assert!(
            screen.contains("Command: session") && screen.contains("New session"),
            "{screen}"
        );
        insta::assert_snapshot!(format!("palette_{w}x{h}"), screen);
    }
}

/// Drives the app like the runner does, without a terminal.
struct Harness {
    app: App,
    runner: Runner,
    rx: UnboundedReceiver<Msg>,
    copied: Vec<String>,
}

impl Harness {
    async fn new(dir: &std::path::Path) -> Harness {
        Harness::with_config(dir, Config::default()).await
    }

    async fn with_config(dir: &std::path::Path, config: Config) -> Harness {
        let rt = Arc::new(common::runtime(dir, config).await);
        let mut app = build_app(&rt, &options("dark")).unwrap();
        app.update(Msg::Resize(100, 30));
        let (tx, rx) = unbounded_channel();
        Harness {
            app,
            runner: Runner::new(Orchestrator::new(rt).unwrap(), tx),
            rx,
            copied: Vec::new(),
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Copy(text) => self.copied.push(text),
                other => self.runner.run(other),
            }
        }
    }

    fn key(&mut self, code: KeyCode, mods: KeyModifiers) {
        let fx = self.app.update(Msg::Key(KeyEvent::new(code, mods)));
        self.apply(fx);
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c), KeyModifiers::NONE);
        }
    }

    /// Processes queued messages until `done` holds.
    async fn pump_until(&mut self, done: impl Fn(&App) -> bool) {
        while !done(&self.app) {
            let msg = tokio::time::timeout(Duration::from_secs(120), self.rx.recv())
                .await
                .expect("the model answered in time")
                .expect("channel open");
            let fx = self.app.update(msg);
            self.app.refresh_views();
            self.apply(fx);
        }
    }

    /// Processes queued messages until nothing is running.
    async fn settle(&mut self) {
        self.pump_until(|app| app.chat.streaming.is_none() && app.cx.pull.is_none())
            .await;
    }

    fn last(&self) -> &ChatMessage {
        self.app.chat.messages.last().unwrap()
    }
}

#[tokio::test]
async fn ask_stream_regenerate_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.chat.session.agent.params.temperature = Some(0.0);
    h.app.chat.session.agent.params.max_tokens = Some(16);
    h.type_text("Name three colours.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.chat.streaming.is_some(), "Enter sends");
    let id = h.app.chat.session.id;
    assert!(
        h.app
            .chat
            .sidebar
            .sessions
            .iter()
            .any(|s| s.id == id && s.title == "Name three colours."),
        "the sidebar names the session while it answers"
    );
    assert!(h.app.chat.composer.input.text().is_empty());
    h.settle().await;
    let first = h.last().clone();
    assert_eq!(first.role, Role::Assistant);
    assert_eq!(first.status, MessageStatus::Complete);
    assert!(!first.content.is_empty());
    assert!(first.usage.unwrap().output_tokens > 0);
    // The answer is an agent run: its step and record are in sled.
    let run = first.run_id.expect("the answer names its run");
    let steps = h.runner.orchestrator().runs.steps(run).unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].record_id, first.record_id);
    assert_eq!(
        steps[0].input.last().unwrap().content,
        "Name three colours."
    );

    // Regenerate from the chat pane, sampling this time: a new answer replaces the old one,
    // on screen and in the store.
    h.app.chat.session.agent.params.temperature = Some(1.0);
    h.app.chat.session.agent.params.seed = Some(7);
    h.key(KeyCode::Tab, KeyModifiers::SHIFT);
    assert_eq!(h.app.chat.focus, Focus::Chat);
    h.key(KeyCode::Char('r'), KeyModifiers::NONE);
    assert!(h.app.chat.streaming.is_some(), "r starts a new answer");
    h.settle().await;
    assert_eq!(h.app.chat.messages.len(), 2);
    let answer = h.last().clone();
    assert_ne!(answer.id, first.id, "a new message, not the old one kept");
    assert_eq!(answer.role, Role::Assistant);
    assert_eq!(answer.status, MessageStatus::Complete);
    assert!(!answer.content.is_empty());
    let stored = h.app.cx.store.messages(h.app.chat.session.id).unwrap();
    assert_eq!(stored.len(), 2, "question and the new answer");
    assert!(
        stored.iter().all(|m| m.id != first.id),
        "the old answer is gone from the store"
    );
    assert_eq!(stored[1].id, answer.id);
    assert_eq!(stored[1].content, answer.content);
    let answer = answer.content;

    // Ctrl-Y copies the last answer (OSC 52 in the runner).
    h.key(KeyCode::Char('y'), KeyModifiers::CONTROL);
    assert_eq!(h.copied, vec![answer.clone()]);

    // A draft survives a restart, with the conversation and the session in view, even
    // when it is not the most recently updated one.
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.type_text("unsent draft");
    let session = h.app.chat.session.id;
    let store = h.app.cx.store.clone();
    let mut other = store.create(common::CHAT_MODEL).unwrap();
    store
        .put_message(&mut other, &ChatMessage::new(Role::User, "newer elsewhere"))
        .unwrap();
    h.app.save_ui_state();
    drop(store);
    drop(h);
    let h = Harness::new(dir.path()).await;
    assert_eq!(
        h.app.chat.session.id, session,
        "resumes the session you were in"
    );
    assert_eq!(h.app.chat.focus, Focus::Input);
    assert_eq!(h.app.chat.messages.len(), 2);
    assert_eq!(h.app.chat.messages[1].content, answer);
    assert_eq!(h.app.chat.composer.input.text(), "unsent draft");
}

#[tokio::test]
async fn cancel_keeps_partial_answer_and_quit_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.chat.session.agent.params.temperature = Some(0.0);
    h.type_text("Count from one to two hundred in words.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Wait for some text, then Esc.
    h.pump_until(|app| {
        app.chat
            .messages
            .last()
            .is_some_and(|m| m.content.len() > 10)
    })
    .await;
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    h.settle().await;
    assert_eq!(h.last().status, MessageStatus::Cancelled);
    assert!(h.last().content.len() > 10, "partial text kept");
    let stored = h.app.cx.store.messages(h.app.chat.session.id).unwrap();
    assert_eq!(stored.last().unwrap().status, MessageStatus::Cancelled);

    // Ctrl-C on an idle screen asks; n keeps running; Ctrl-Q then y quits.
    h.key(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(matches!(h.app.top_layer(), Some(Layer::ConfirmQuit)));
    h.key(KeyCode::Char('n'), KeyModifiers::NONE);
    assert!(h.app.top_layer().is_none() && !h.app.quit);
    h.key(KeyCode::Char('q'), KeyModifiers::CONTROL);
    h.key(KeyCode::Char('y'), KeyModifiers::NONE);
    assert!(h.app.quit);
}

#[tokio::test]
async fn paste_is_text_and_sessions_are_managed_from_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.key(KeyCode::Tab, KeyModifiers::NONE); // sidebar
    assert_eq!(h.app.chat.focus, Focus::Sidebar);
    let big = "line one ? / q\n".repeat(500);
    let fx = h.app.update(Msg::Paste(big.clone()));
    h.apply(fx);
    assert!(
        h.app.top_layer().is_none(),
        "a paste never triggers bindings"
    );
    assert_eq!(h.app.chat.focus, Focus::Input);
    assert_eq!(h.app.chat.composer.input.text(), big);
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    assert!(h.app.chat.composer.input.text().is_empty());

    // New session, rename it, then delete it with confirmation.
    let before = h.app.chat.sidebar.sessions.len();
    h.key(KeyCode::Char('n'), KeyModifiers::CONTROL);
    h.pump_until(|app| app.chat.sidebar.sessions.len() == before + 1)
        .await;
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    assert_eq!(h.app.chat.focus, Focus::Sidebar);
    h.key(KeyCode::Char('R'), KeyModifiers::SHIFT);
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text("Renamed");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| {
        app.chat
            .sidebar
            .sessions
            .iter()
            .any(|s| s.title == "Renamed")
    })
    .await;
    h.key(KeyCode::Char('d'), KeyModifiers::NONE);
    assert!(matches!(
        h.app.top_layer(),
        Some(Layer::ConfirmDelete { .. })
    ));
    let renamed = h.app.chat.session.id;
    h.key(KeyCode::Char('y'), KeyModifiers::NONE);
    h.pump_until(|app| app.chat.session.id != renamed).await;
    assert!(!h
        .app
        .chat
        .sidebar
        .sessions
        .iter()
        .any(|s| s.title == "Renamed"));
    assert_eq!(h.app.chat.sidebar.sessions.len(), before);
}

#[tokio::test]
async fn picking_an_undownloaded_model_pulls_in_the_background() {
    use strata::runtime::catalog::{Catalog, ModelSpec, Source};
    let dir = tempfile::tempdir().unwrap();
    common::ensure_models().await;
    // A model cache of our own holding the test model and a second chat model (the same file
    // under another id); Qwen's only source is a closed loopback port, so its pull fails the
    // same way on every machine.
    let builtin = Catalog::builtin();
    let models = dir.path().join("models");
    let chat = builtin.get(common::CHAT_MODEL).unwrap().clone();
    let twin = ModelSpec {
        id: "local/smollm2-twin".into(),
        name: "SmolLM2 twin".into(),
        default: false,
        ..chat.clone()
    };
    common::link_chat_model(&models, &chat);
    common::link_chat_model(&models, &twin);
    let mut qwen = builtin.get("local/qwen2.5-0.5b").unwrap().clone();
    for file in &mut qwen.files {
        file.sources = vec![Source::Url {
            url: format!("http://127.0.0.1:{}/{}", common::free_port(), file.name),
        }];
    }
    let config = Config {
        model_dir: Some(models),
        models: vec![twin.clone(), qwen],
        ..Config::default()
    };
    let mut h = Harness::with_config(dir.path(), config).await;
    h.key(KeyCode::Char('p'), KeyModifiers::CONTROL);
    h.type_text("qwen2.5-0.5");
    let Some(Layer::Picker(p)) = h.app.top_layer() else {
        panic!("picker open")
    };
    assert_eq!(h.app.cx.catalog[p.matches[0]].id, "local/qwen2.5-0.5b");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.cx.pull.is_some(), "the pull started");
    // The UI keeps taking keys while it runs.
    h.type_text("still typing");
    assert_eq!(h.app.chat.composer.input.text(), "still typing");
    h.settle().await;
    // No route to Hugging Face here: the pull fails with a message, the model is unchanged.
    assert!(
        h.app
            .cx
            .flash
            .as_deref()
            .unwrap_or("")
            .contains("pull of local/qwen2.5-0.5b failed"),
        "{:?}",
        h.app.cx.flash
    );
    assert_eq!(h.app.chat.session.agent.model, common::CHAT_MODEL);
    // Another downloaded model is picked at once, with no pull.
    h.key(KeyCode::Char('p'), KeyModifiers::CONTROL);
    h.type_text("smollm2-twin");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.cx.pull.is_none(), "nothing to pull");
    assert_eq!(h.app.chat.session.agent.model, twin.id);
}

#[tokio::test]
async fn leaving_a_session_mid_answer_keeps_the_answer_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.chat.session.agent.params.temperature = Some(0.0);
    let first = h.app.chat.session.id;
    h.type_text("Count from one to two hundred in words.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // A new session while the answer streams: it is cancelled and stored where it belongs.
    h.key(KeyCode::Char('n'), KeyModifiers::CONTROL);
    h.pump_until(|app| app.chat.session.id != first).await;
    h.pump_until(|app| app.chat.streaming.is_none()).await;
    let stored = h.app.cx.store.messages(first).unwrap();
    assert_eq!(
        stored.len(),
        2,
        "question and answer stay in the first session"
    );
    assert_eq!(stored[1].role, Role::Assistant);
    assert_eq!(stored[1].status, MessageStatus::Cancelled);
    assert!(
        h.app.chat.messages.is_empty(),
        "nothing leaked into the new session"
    );

    // History recall keeps what was being typed.
    h.type_text("half-typed");
    h.key(KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(
        h.app.chat.composer.input.text(),
        "Count from one to two hundred in words."
    );
    h.key(KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(h.app.chat.composer.input.text(), "half-typed");

    // Re-opening the current session from the sidebar keeps unsaved changes.
    h.app.chat.session.agent.model = "local/qwen2.5-0.5b".into();
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.chat.session.agent.model, "local/qwen2.5-0.5b");
    assert_eq!(h.app.chat.composer.input.text(), "half-typed");
}

#[tokio::test]
async fn session_search_runs_off_the_ui_task_and_filters_the_sidebar() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let store = h.app.cx.store.clone();
    for text in [
        "Tell me about lighthouses",
        "How do ferries work?",
        "안녕하세요 등대",
    ] {
        let mut s = store.create(common::CHAT_MODEL).unwrap();
        store
            .put_message(&mut s, &ChatMessage::new(Role::User, text))
            .unwrap();
    }
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    h.key(KeyCode::Char('/'), KeyModifiers::NONE);
    h.type_text("등대");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| !app.chat.sidebar.filter_hits.is_empty())
        .await;
    let shown: Vec<String> = h
        .app
        .chat
        .sidebar
        .items()
        .iter()
        .map(|s| s.title.clone())
        .collect();
    assert_eq!(shown, vec!["안녕하세요 등대".to_string()]);
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| !app.chat.messages.is_empty()).await;
    assert_eq!(
        h.app.chat.messages[0].content, "안녕하세요 등대",
        "opens the hit"
    );
}

#[tokio::test]
async fn scrolling_up_while_streaming_stays_put() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.update(Msg::Resize(60, 20));
    // Greedy: a long, line-per-item answer, the same every run.
    h.app.chat.session.agent.params.temperature = Some(0.0);
    h.app.chat.session.agent.params.max_tokens = Some(600);
    h.type_text("Write a numbered list of 100 fruits, one per line.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Wait until the answer is taller than the pane.
    h.pump_until(|app| app.chat.streaming.is_none() || app.chat.total_lines() > 40)
        .await;
    assert!(
        h.app.chat.streaming.is_some(),
        "the seeded answer is long enough to scroll"
    );
    h.key(KeyCode::Char('2'), KeyModifiers::ALT);
    h.key(KeyCode::Char('k'), KeyModifiers::NONE);
    assert!(!h.app.chat.follow, "one line up leaves follow mode");
    let reading = h.app.chat.scroll;
    h.pump_until(|app| app.chat.streaming.is_none() || app.chat.total_lines() > 60)
        .await;
    assert_eq!(
        h.app.chat.scroll, reading,
        "new text does not move the view while reading"
    );
    h.key(KeyCode::Char('G'), KeyModifiers::SHIFT);
    assert!(h.app.chat.follow);
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    h.settle().await;
}

#[tokio::test]
async fn command_palette_runs_the_chosen_action() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let before = h.app.chat.sidebar.sessions.len();
    h.key(KeyCode::Char('k'), KeyModifiers::CONTROL);
    assert!(matches!(h.app.top_layer(), Some(Layer::Palette(_))));
    h.type_text("new session");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.top_layer().is_none(), "the palette closes");
    h.pump_until(|app| app.chat.sidebar.sessions.len() == before + 1)
        .await;
    assert!(
        h.app.chat.composer.input.text().is_empty(),
        "the query was not typed into the input"
    );

    // `:` in the conversation opens it too; a sidebar action focuses the sidebar first.
    h.key(KeyCode::Char('2'), KeyModifiers::ALT);
    h.key(KeyCode::Char(':'), KeyModifiers::NONE);
    assert!(matches!(h.app.top_layer(), Some(Layer::Palette(_))));
    h.type_text("rename");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.chat.focus, Focus::Sidebar);
    assert!(matches!(h.app.top_layer(), Some(Layer::Prompt(..))));
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert!(h.app.top_layer().is_none());

    // Esc closes without running anything.
    h.key(KeyCode::Char('k'), KeyModifiers::CONTROL);
    h.type_text("new session");
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert!(h.app.top_layer().is_none());
    assert_eq!(h.app.chat.sidebar.sessions.len(), before + 1);
}

/// Keys through the router: a layer takes keys the screen beneath would take, layers
/// stack, Esc pops only the top one, and the palette lists the screens.
#[tokio::test]
async fn layers_take_keys_first_and_esc_pops_the_top_one() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    let mut app = build_app(&rt, &options("dark")).unwrap();
    app.update(Msg::Resize(60, 20));
    let key = |app: &mut App, code: KeyCode, mods: KeyModifiers| {
        app.update(Msg::Key(KeyEvent::new(code, mods)))
    };
    let none = KeyModifiers::NONE;
    // In the conversation, `k` scrolls up a line.
    key(&mut app, KeyCode::Char('2'), KeyModifiers::ALT);
    assert_eq!(app.chat.focus, Focus::Chat);
    let bottom = app.chat.scroll;
    assert!(
        bottom > 1,
        "the seeded conversation is taller than the pane"
    );

    // With the help open, j/k scroll the help instead; the conversation stays put.
    key(&mut app, KeyCode::F(1), none);
    for c in ['j', 'j', 'k'] {
        key(&mut app, KeyCode::Char(c), none);
    }
    assert!(matches!(app.top_layer(), Some(Layer::Help(1))));
    assert_eq!(app.chat.scroll, bottom);

    // Ctrl-Q stacks the confirmation above the help; Esc (its "no") pops only it.
    key(&mut app, KeyCode::Char('q'), KeyModifiers::CONTROL);
    assert_eq!(app.cx.layers.len(), 2);
    assert!(matches!(app.top_layer(), Some(Layer::ConfirmQuit)));
    key(&mut app, KeyCode::Esc, none);
    assert!(matches!(app.top_layer(), Some(Layer::Help(1))));
    assert!(!app.quit);
    key(&mut app, KeyCode::Esc, none);
    assert!(app.top_layer().is_none());

    // With no layer, `k` is the screen's again.
    key(&mut app, KeyCode::Char('k'), none);
    assert_eq!(app.chat.scroll, bottom - 1);

    // The palette takes typed text: `r` would regenerate in the conversation.
    let messages = app.chat.messages.len();
    key(&mut app, KeyCode::Char(':'), none);
    let fx = key(&mut app, KeyCode::Char('r'), none);
    assert!(fx.is_empty(), "no turn started: {fx:?}");
    assert_eq!(app.chat.messages.len(), messages);
    let Some(Layer::Palette(p)) = app.top_layer() else {
        panic!("palette open")
    };
    assert_eq!(p.query.text(), "r");
    key(&mut app, KeyCode::Esc, none);
    assert!(app.top_layer().is_none());

    // The palette lists the screens, generated from the list of screens.
    key(&mut app, KeyCode::Char('k'), KeyModifiers::CONTROL);
    for c in "chat screen".chars() {
        key(&mut app, KeyCode::Char(c), none);
    }
    let Some(Layer::Palette(p)) = app.top_layer() else {
        panic!("palette open")
    };
    assert_eq!(p.chosen().and_then(|e| e.screen), Some(ScreenId::Chat));
    key(&mut app, KeyCode::Enter, none);
    assert!(app.top_layer().is_none());
    assert_eq!(app.active, ScreenId::Chat);
    // The screen key cycles through the screens: guardrails, knowledge, back to the chat.
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Guardrails);
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Knowledge);
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Compare);
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Evals);
    key(&mut app, KeyCode::F(3), none);
    assert_eq!(app.active, ScreenId::Chat);
    assert!(
        app.chat.composer.input.text().is_empty(),
        "nothing leaked into the input"
    );
}

/// Session work never waits on the store on the UI task: each action returns a storage
/// (or editor) effect, the state changes only when its answer arrives, and a stale answer
/// is dropped.
#[tokio::test]
async fn session_actions_change_the_state_when_their_answer_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let is_store = |fx: &[Effect]| fx.iter().any(|e| matches!(e, Effect::Store(_)));
    let ctrl = |c| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    let first = h.app.chat.session.id;
    let before = h.app.chat.sidebar.sessions.len();

    // A new session: an effect, and nothing changed until it is answered.
    let fx = h.app.update(ctrl('n'));
    assert!(is_store(&fx), "{fx:?}");
    assert_eq!(h.app.chat.session.id, first);
    assert_eq!(h.app.chat.sidebar.sessions.len(), before);
    h.apply(fx);
    h.pump_until(|app| app.chat.session.id != first).await;
    assert_eq!(h.app.chat.sidebar.sessions.len(), before + 1);

    // Two switches asked for in a row, answered in the wrong order: the latest counts.
    let fx1 = h.app.update(ctrl('n'));
    let fx2 = h.app.update(ctrl('n'));
    h.apply(fx1);
    h.apply(fx2);
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(60), h.rx.recv())
            .await
            .expect("the store answered")
            .expect("channel open");
        match msg {
            Msg::Opened { .. } => answers.push(msg),
            other => {
                let fx = h.app.update(other);
                h.apply(fx);
            }
        }
    }
    let latest = answers.pop().unwrap();
    let Msg::Opened {
        result: Ok(Some(opened)),
        ..
    } = &latest
    else {
        panic!("{latest:?}")
    };
    let latest_id = opened.session.id;
    h.app.update(latest);
    assert_eq!(h.app.chat.session.id, latest_id);
    h.app.update(answers.pop().unwrap());
    assert_eq!(
        h.app.chat.session.id, latest_id,
        "a stale answer is ignored"
    );
    assert_eq!(h.app.chat.sidebar.sessions.len(), before + 3);

    // Rename from the sidebar: the list shows the title once the store answers.
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    h.key(KeyCode::Char('R'), KeyModifiers::SHIFT);
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text("Lighthouse");
    let fx = h
        .app
        .update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(is_store(&fx), "{fx:?}");
    assert!(!h
        .app
        .chat
        .sidebar
        .sessions
        .iter()
        .any(|s| s.title == "Lighthouse"));
    h.apply(fx);
    h.pump_until(|app| {
        app.chat
            .sidebar
            .sessions
            .iter()
            .any(|s| s.title == "Lighthouse")
    })
    .await;

    // Export: the file is written off the UI task; the flash says where once it is.
    let fx = h.app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('x'),
        KeyModifiers::NONE,
    )));
    assert!(is_store(&fx), "{fx:?}");
    assert!(h.app.cx.flash.is_none());
    h.apply(fx);
    h.pump_until(|app| app.cx.flash.is_some()).await;
    let flash = h.app.cx.flash.clone().unwrap_or_default();
    let path = flash.strip_prefix("exported to ").expect(&flash);
    assert!(std::path::Path::new(path).is_file(), "{path}");

    // $EDITOR: only an effect; the input changes when the editor's answer arrives.
    h.key(KeyCode::Char('3'), KeyModifiers::ALT);
    let fx = h.app.update(ctrl('e'));
    assert!(matches!(fx.as_slice(), [Effect::OpenEditor(_)]), "{fx:?}");
    assert!(h.app.chat.composer.input.text().is_empty());
    h.app
        .update(Msg::EditorDone(Ok("from the editor\n".into())));
    assert_eq!(h.app.chat.composer.input.text(), "from the editor");
}

/// A long session is laid out only around the view; scrolling to the top, searching and
/// following the bottom still show the right messages.
#[tokio::test]
async fn a_long_session_is_laid_out_around_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    let store = SessionStore::new(rt.store.clone());
    let mut s = store.create(common::CHAT_MODEL).unwrap();
    let n = 600;
    for i in 0..n {
        let (role, text) = if i % 2 == 0 {
            (Role::User, format!("Question {i}: how do I read a file?"))
        } else {
            (
                Role::Assistant,
                format!("Answer {i}: use **std::fs**.\n\n```rust\nlet s = std::fs::read_to_string(\"f\")?;\n```\n\n- a list item that is long enough to wrap at this width, twice over for sure"),
            )
        };
        store
            .put_message(&mut s, &ChatMessage::new(role, text))
            .unwrap();
    }
    let mut app = build_app(&rt, &options("dark")).unwrap();
    let screen = text(&draw(&mut app, 100, 30));
    assert!(screen.contains(&format!("Answer {}:", n - 1)), "{screen}");
    assert!(
        app.chat.laid_out() < 40,
        "only the view and a page around it: {}",
        app.chat.laid_out()
    );
    let key = |app: &mut App, code: KeyCode, mods: KeyModifiers| {
        app.update(Msg::Key(KeyEvent::new(code, mods)));
        app.refresh_views();
    };
    // The top.
    key(&mut app, KeyCode::Char('2'), KeyModifiers::ALT);
    key(&mut app, KeyCode::Char('g'), KeyModifiers::NONE);
    key(&mut app, KeyCode::Char('g'), KeyModifiers::NONE);
    assert_eq!(app.chat.scroll, 0);
    let screen = text(&draw(&mut app, 100, 30));
    assert!(screen.contains("Question 0:"), "{screen}");
    // A search lands on the message, its header on the top line of the pane.
    key(&mut app, KeyCode::Char('/'), KeyModifiers::NONE);
    for c in "Question 300:".chars() {
        key(&mut app, KeyCode::Char(c), KeyModifiers::NONE);
    }
    key(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let screen = text(&draw(&mut app, 100, 30));
    let top = screen.lines().nth(1).unwrap_or("");
    assert!(top.contains("▶ You"), "{screen}");
    assert!(screen.contains("Question 300:"), "{screen}");
    // Scrolling up a line from there shows the end of the message before, laid out.
    key(&mut app, KeyCode::Char('k'), KeyModifiers::NONE);
    let before = app.chat.scroll;
    let screen = text(&draw(&mut app, 100, 30));
    assert!(screen.contains("Question 300:"), "{screen}");
    assert_eq!(app.chat.scroll, before, "the view stays where it was put");
    assert!(app.chat.views[299].fresh && app.chat.views[301].fresh);
    assert!(!app.chat.views[150].fresh, "far above: still estimated");
    // Following the bottom again.
    key(&mut app, KeyCode::Char('G'), KeyModifiers::SHIFT);
    let screen = text(&draw(&mut app, 100, 30));
    assert!(screen.contains(&format!("Answer {}:", n - 1)), "{screen}");
    assert_eq!(app.chat.scroll + 30 - 1 - 3 - 2, app.chat.total_lines());
}

/// A guardrail stored through the runner's orchestrator (as `strata guardrail create` does).
fn store_guardrail(h: &Harness, toml: &str) {
    let p = strata::guardrails::policy::Policy::parse(toml, "test").unwrap();
    let store = h.runner.orchestrator().guardrails.store().clone();
    store.save_draft(&p, toml, false).unwrap();
    store.create_version(&p.name, None).unwrap();
}

/// Times vary from run to run, and embedding scores in their last digit from one CPU to
/// another: snapshots show them as `N.Nms`, `N.Ns` and `S.SS`, with runs of spaces collapsed.
fn redact_times(screen: &str) -> String {
    let times = regex::Regex::new(r"\d+(\.\d)? ?ms").unwrap();
    let scores = regex::Regex::new(r"\b\d\.\d\d\b").unwrap();
    let seconds = regex::Regex::new(r"\b\d+\.\ds\b").unwrap();
    let timed = times.replace_all(screen, "N.Nms");
    let timed = seconds.replace_all(&timed, "N.Ns");
    let redacted = scores.replace_all(&timed, "S.SS");
    // Figures of another width shift what follows them: compare with spaces collapsed.
    regex::Regex::new(" +")
        .unwrap()
        .replace_all(&redacted, " ")
        .into_owned()
}

const PANEL_POLICY: &str = r#"
name = "secrets"
[[denied_topics]]
name = "investment advice"
definition = "Recommendations about which stocks, bonds or crypto assets to buy or sell."
examples = ["Should I buy Tesla shares now?"]
[sensitive_information]
email = "anonymize"
[word_filters]
words = ["frobnicate"]
"#;

/// Attach a guardrail from the keyboard (Ctrl-G), ask, and see the masked answer with the
/// live panel beside it; detach again. Snapshots of the panel at 80x24 and 120x40.
#[tokio::test]
async fn attach_a_guardrail_and_see_a_masked_answer() {
    let url = common::scripted::start(
        vec![
            "Write to ja".into(),
            "ne.doe@exam".into(),
            "ple.com today.".into(),
        ],
        common::scripted::Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(dir.path(), common::scripted::config(&url)).await;
    store_guardrail(&h, PANEL_POLICY);
    h.app.chat.session.agent.model = "scripted/model".into();

    h.key(KeyCode::Char('g'), KeyModifiers::CONTROL);
    assert!(
        matches!(h.app.top_layer(), Some(Layer::Prompt(..))),
        "Ctrl-G asks which guardrail"
    );
    h.type_text("secrets@1");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| app.chat.session.agent.guardrail.is_some())
        .await;
    assert_eq!(
        h.app.chat.session.agent.guardrail.as_deref(),
        Some("secrets@1")
    );
    assert!(
        text(&draw(&mut h.app, 120, 40)).contains("guardrail: secrets@1"),
        "the status bar names it"
    );

    h.type_text("Where do I write?");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.settle().await;
    let answer = h.last().clone();
    assert_eq!(answer.content, "Write to {EMAIL} today.");
    assert_eq!(answer.status, MessageStatus::Complete);
    let stored = h.app.cx.store.messages(h.app.chat.session.id).unwrap();
    assert_eq!(stored.last().unwrap().content, "Write to {EMAIL} today.");
    let output = h
        .app
        .chat
        .guard
        .output
        .clone()
        .expect("the panel got the answer's assessments");
    assert!(output
        .rows
        .iter()
        .any(|r| r.name == "investment advice" && r.score.is_some()));

    // 120 wide: the panel shows by itself beside the chat; 80 wide: F4 shows it.
    let wide = text(&draw(&mut h.app, 120, 40));
    assert!(
        wide.contains("Guardrail") && wide.contains("secrets@1"),
        "{wide}"
    );
    assert!(
        wide.contains("{EMAIL}") && wide.contains("investment advice"),
        "{wide}"
    );
    insta::assert_snapshot!("guardrail_panel_120x40", redact_times(&wide));
    let narrow = text(&draw(&mut h.app, 80, 24));
    assert!(
        !narrow.contains("investment advice"),
        "hidden at 80 until asked: {narrow}"
    );
    h.key(KeyCode::F(4), KeyModifiers::NONE);
    let narrow = text(&draw(&mut h.app, 80, 24));
    assert!(
        narrow.contains("Guardrail") && narrow.contains("sensitive"),
        "{narrow}"
    );
    insta::assert_snapshot!("guardrail_panel_80x24", redact_times(&narrow));

    // The masked span is marked in the conversation.
    let buf = draw(&mut h.app, 120, 40);
    let marked = (0..buf.area.height).any(|y| {
        (0..buf.area.width).any(|x| {
            buf[(x, y)].symbol() == "{"
                && buf[(x, y)]
                    .modifier
                    .contains(ratatui::style::Modifier::REVERSED)
        })
    });
    assert!(marked, "the {{EMAIL}} span is marked");

    // Detach: an empty answer to Ctrl-G.
    h.key(KeyCode::Char('g'), KeyModifiers::CONTROL);
    for _ in 0.."secrets@1".len() {
        h.key(KeyCode::Backspace, KeyModifiers::NONE);
    }
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.chat.session.agent.guardrail, None);
}

/// The guardrails screen: the list, versions with the diff from the one before, and the
/// sandbox assessing as you type (debounced, off the UI task). Snapshots at both sizes.
#[tokio::test]
async fn guardrails_screen_versions_and_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    store_guardrail(&h, PANEL_POLICY);
    // A second version with one more word, so there is a diff.
    let store = h.runner.orchestrator().guardrails.store().clone();
    let v2 = PANEL_POLICY.replace("[\"frobnicate\"]", "[\"frobnicate\", \"quux\"]");
    store
        .save_draft(
            &strata::guardrails::policy::Policy::parse(&v2, "t").unwrap(),
            &v2,
            true,
        )
        .unwrap();
    store
        .create_version("secrets", Some("quux too".into()))
        .unwrap();

    h.key(KeyCode::F(3), KeyModifiers::NONE);
    assert_eq!(h.app.active, ScreenId::Guardrails);
    h.pump_until(|app| !app.guardrails.revisions.is_empty())
        .await;
    assert_eq!(h.app.guardrails.revisions[0].label, "secrets@draft");
    assert!(h
        .app
        .guardrails
        .revisions
        .iter()
        .any(|r| r.label == "secrets@2" && r.diff.contains("+words = [\"frobnicate\", \"quux\"]")));
    // To the versions, pick version 2, then to the sandbox and type.
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.key(KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(h.app.guardrails.reference().as_deref(), Some("secrets@2"));
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.type_text("mail jane@example.com to frobnicate");
    h.pump_until(|app| {
        matches!(&app.guardrails.result, Some(Ok(a)) if a.action == strata::guardrails::FinalAction::Blocked)
            && !app.guardrails.pending
    })
    .await;
    for (w, hgt) in [(80u16, 24u16), (120, 40)] {
        let screen = text(&draw(&mut h.app, w, hgt));
        assert!(
            screen.contains("Sandbox") && screen.contains("blocked"),
            "{screen}"
        );
        assert!(screen.contains("secrets@2"), "{screen}");
        insta::assert_snapshot!(
            format!("guardrails_screen_{w}x{hgt}"),
            redact_times(&screen)
        );
    }
}

/// An answer held for review shows as awaiting review; A approves it (stored as final).
#[tokio::test]
async fn approve_an_answer_held_for_review() {
    let url = common::scripted::start(
        vec!["Held ".into(), "answer.".into()],
        common::scripted::Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(dir.path(), common::scripted::config(&url)).await;
    store_guardrail(&h, "name = \"reviewed\"\n[review]\nall_outputs = true\n");
    h.app.chat.session.agent.model = "scripted/model".into();
    h.app.chat.session.agent.guardrail = Some("reviewed".into());
    h.type_text("q");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.settle().await;
    assert_eq!(h.last().status, MessageStatus::AwaitingReview);
    assert_eq!(h.last().content, "Held answer.");
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(screen.contains("awaiting review"), "{screen}");
    // A in the chat pane approves.
    h.key(KeyCode::Tab, KeyModifiers::SHIFT);
    h.key(KeyCode::Char('A'), KeyModifiers::SHIFT);
    h.pump_until(|app| app.chat.messages.last().unwrap().status == MessageStatus::Complete)
        .await;
    let stored = h.app.cx.store.messages(h.app.chat.session.id).unwrap();
    assert_eq!(stored.last().unwrap().status, MessageStatus::Complete);
}

/// The knowledge screen syncs a base off the UI task (progress, then the counts), the
/// playground lists retrieved chunks with scores and sources; in the chat, F5 attaches the
/// base, the answer lists its sources with the cited one marked, and `o` opens it in
/// context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_screen_and_cited_answers() {
    let url = common::scripted::start(
        vec!["Water tomatoes ".into(), "twice a week [1].".into()],
        common::scripted::Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("garden.md"),
        "# Garden\n\n## Tomatoes\n\nTomatoes need full sun and deep watering twice a week.\n\n## Compost\n\nTurn the compost every two weeks.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("bikes.md"),
        "# Bikes\n\n## Tyres\n\nPump the tyres every week.\n",
    )
    .unwrap();
    let mut h = Harness::with_config(dir.path(), common::scripted::config(&url)).await;
    h.runner
        .orchestrator()
        .knowledge
        .create(strata::knowledge::KbSpec {
            name: "home".into(),
            sources: vec![docs.display().to_string()],
            include: vec![],
            exclude: vec![],
            chunking: Default::default(),
            embedding: strata::knowledge::spec::DEFAULT_EMBEDDING.into(),
        })
        .unwrap();

    h.key(KeyCode::F(3), KeyModifiers::NONE);
    h.key(KeyCode::F(3), KeyModifiers::NONE);
    assert_eq!(h.app.active, ScreenId::Knowledge);
    h.pump_until(|app| !app.knowledge.list.is_empty()).await;
    h.key(KeyCode::Char('s'), KeyModifiers::NONE);
    assert!(
        h.app.knowledge.syncs.contains_key("home"),
        "the sync runs in the background"
    );
    h.pump_until(|app| app.knowledge.syncs.is_empty() && app.knowledge.list[0].chunks > 0)
        .await;
    assert_eq!(h.app.knowledge.list[0].files, 2);
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.type_text("how often to water tomatoes");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| !app.knowledge.results.is_empty()).await;
    assert!(h.app.knowledge.results[0]
        .source
        .file
        .ends_with("garden.md"));
    let decimals = regex::Regex::new(r"\d+\.\d+").unwrap();
    let dates = regex::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?( UTC)?").unwrap();
    for (w, hgt) in [(80u16, 24u16), (120, 40)] {
        let screen = text(&draw(&mut h.app, w, hgt));
        assert!(
            screen.contains("garden.md:5-5") && screen.contains("Garden > Tomatoes"),
            "{screen}"
        );
        let redacted = decimals
            .replace_all(
                &redact_times(&screen.replace(&docs.display().to_string(), "DOCS")),
                "N",
            )
            .into_owned();
        let redacted = dates.replace_all(&redacted, "DATE").into_owned();
        insta::assert_snapshot!(format!("knowledge_screen_{w}x{hgt}"), redacted);
    }

    // Back to the chat (past the compare and evaluation screens): attach the base, ask,
    // see the cited source, open it.
    for _ in 0..3 {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    assert_eq!(h.app.active, ScreenId::Chat);
    h.app.chat.session.agent.model = "scripted/model".into();
    h.key(KeyCode::F(5), KeyModifiers::NONE);
    h.type_text("home");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| app.chat.session.agent.knowledge_bases == ["home"])
        .await;
    h.type_text("How often should I water tomatoes?");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| {
        app.chat.streaming.is_none()
            && app
                .chat
                .messages
                .last()
                .is_some_and(|m| !m.sources.is_empty())
    })
    .await;
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(screen.contains("Sources (1 cited) · o opens"), "{screen}");
    assert!(screen.contains("✓ [1] garden.md:5-5"), "{screen}");
    h.app.chat.focus = Focus::Chat;
    h.key(KeyCode::Char('o'), KeyModifiers::NONE);
    h.pump_until(|app| matches!(app.cx.layers.last(), Some(Layer::Citation(_))))
        .await;
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(
        screen.contains("garden.md:5-5") && screen.contains("e opens $EDITOR"),
        "{screen}"
    );
    assert!(screen.contains("deep watering twice a week"), "{screen}");
}

/// A config with two scripted OpenAI-compatible servers: `scripted/model` and `other/m`.
fn two_models(first: &str, second: &str) -> Config {
    let mut config = common::scripted::config(first);
    config.providers.insert(
        "other".into(),
        strata::config::ProviderProfile {
            kind: strata::config::ProviderKind::Openai,
            base_url: Some(second.to_string()),
            api_key_env: None,
            api_key_file: None,
            timeout_secs: Some(30),
        },
    );
    let mut spec = config.models[0].clone();
    spec.id = "other/m".into();
    spec.provider = "other".into();
    spec.input_price = 3.0;
    config.models.push(spec);
    config
}

/// The compare view with 2, 3 and 4 finished columns, at 80x24 (paged) and 120x40.
#[tokio::test]
async fn compare_view_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(
        dir.path(),
        common::scripted::config("http://127.0.0.1:9/v1"),
    )
    .await;
    let answers = [
        "Rayleigh scattering: short blue wavelengths scatter more in the air.",
        "Because **air molecules** scatter blue light more than red light.\n\n- shorter wavelength\n- more scattering",
        "The sky looks blue since sunlight is scattered by gas molecules.",
        "Blue light is scattered in all directions by the atmosphere.",
    ];
    let models = ["local/alpha", "openai/beta", "lab/gamma", "lab/delta"];
    for n in [2usize, 3, 4] {
        for (w, hgt) in [(80u16, 24u16), (120, 40)] {
            let mut app = build_app(&rt, &options("dark")).unwrap();
            app.update(Msg::Resize(w, hgt));
            app.active = ScreenId::Compare;
            app.compare.attach(&app.chat.session.clone(), &app.cx);
            app.compare.columns = models[..n]
                .iter()
                .map(|m| strata::tui::screens::compare::Column::new(m.to_string()))
                .collect();
            app.compare.input = strata::tui::input::InputBox::with_text("Why is the sky blue?");
            let fx = app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
            let Some(Effect::Compare(strata::tui::compare_jobs::CompareJob::Ask { seq, .. })) =
                fx.first()
            else {
                panic!("asked: {fx:?}")
            };
            let seq = *seq;
            use strata::tui::compare_jobs::{ColumnEvent, CompareMsg};
            for (i, text) in answers[..n].iter().enumerate() {
                let send = |app: &mut App, event| {
                    app.update(Msg::Compare(CompareMsg::Column {
                        seq,
                        column: i,
                        event,
                    }));
                };
                send(
                    &mut app,
                    ColumnEvent::Text {
                        text: text.to_string(),
                        at_ms: 120.0 + 40.0 * i as f64,
                    },
                );
                let mut answer = ChatMessage::new(Role::Assistant, *text);
                answer.model = Some(models[i].into());
                answer.usage = Some(Usage {
                    input_tokens: 12,
                    output_tokens: 20 + i as u32,
                });
                answer.cost_usd = 0.0001 * i as f64;
                send(
                    &mut app,
                    ColumnEvent::Finished {
                        answer: Box::new(answer),
                        error: None,
                        elapsed_ms: 900.0 + 100.0 * i as f64,
                    },
                );
            }
            app.refresh_views();
            let screen = text(&draw(&mut app, w, hgt));
            for m in models[..n.min(if w < 120 { 2 } else { 4 })].iter() {
                let short = m.rsplit('/').next().unwrap();
                assert!(screen.contains(short), "{short} shown:\n{screen}");
            }
            assert!(screen.contains("ttft 120ms"), "{screen}");
            if w < 120 && n > 2 {
                assert!(screen.contains(&format!("models 1–2 of {n}")), "{screen}");
            }
            insta::assert_snapshot!(format!("compare_{n}_columns_{w}x{hgt}"), screen);
        }
    }
}

/// Two models stream at once into their columns; a vote is stored and tallied; the
/// winner is taken back into the chat; a chat question is re-asked in compare mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_two_streaming_models_vote_and_keep() {
    let many = |word: &str| (0..40).map(|i| format!("{word}{i} ")).collect::<Vec<_>>();
    let first = common::scripted::start(many("a"), common::scripted::Ending::Finished).await;
    let second = common::scripted::start(many("b"), common::scripted::Ending::Finished).await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(dir.path(), two_models(&first, &second)).await;
    h.app.chat.session.agent.model = "scripted/model".into();
    for _ in 0..3 {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    assert_eq!(h.app.active, ScreenId::Compare);
    // Replace the starting columns with the two scripted models (the picker adds them).
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    while !h.app.compare.columns.is_empty() {
        h.type_text("x");
    }
    for model in ["scripted/model", "other/m"] {
        h.type_text("a");
        assert!(matches!(h.app.top_layer(), Some(Layer::Picker(_))));
        h.type_text(model);
        h.key(KeyCode::Enter, KeyModifiers::NONE);
    }
    let models: Vec<&str> = h
        .app
        .compare
        .columns
        .iter()
        .map(|c| c.model.as_str())
        .collect();
    assert_eq!(models, ["scripted/model", "other/m"]);
    h.type_text("i");
    h.type_text("Say your letters");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Both stream at the same time: neither waits for the other to finish.
    h.pump_until(|app| {
        app.compare
            .columns
            .iter()
            .all(|c| c.state == strata::tui::screens::compare::ColumnState::Streaming)
    })
    .await;
    h.pump_until(|app| !app.compare.is_running()).await;
    for (c, word) in h.app.compare.columns.iter().zip(["a", "b"]) {
        assert_eq!(c.state, strata::tui::screens::compare::ColumnState::Done);
        assert_eq!(c.text, many(word).concat());
        assert!(c.ttft_ms.is_some() && c.elapsed_ms.is_some());
        assert_eq!(c.usage.unwrap().output_tokens, 40);
    }
    // The second column costs more (input price 3 vs 1).
    assert!(h.app.compare.columns[1].cost_usd > h.app.compare.columns[0].cost_usd);
    let wide = text(&draw(&mut h.app, 120, 40));
    assert!(wide.contains("in 11 · out 40"), "{wide}");

    // Vote: the second column wins.
    h.type_text("h");
    assert_eq!(h.app.compare.selected, 0);
    h.type_text("l");
    assert_eq!(h.app.compare.selected, 1);
    h.type_text("w");
    h.pump_until(|app| !app.compare.tally.is_empty()).await;
    let votes =
        strata::eval::votes::VoteStore::new(h.runner.orchestrator().runtime().store.clone())
            .list()
            .unwrap();
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0].winner.as_deref(), Some("other/m"));
    assert_eq!(votes[0].models, ["scripted/model", "other/m"]);
    let pair = &h.app.compare.tally[0];
    assert_eq!(
        (pair.a.as_str(), pair.b.as_str()),
        ("other/m", "scripted/model")
    );
    assert_eq!((pair.a_wins, pair.b_wins, pair.ties), (1, 0, 0));
    // A second vote on the same comparison is refused.
    h.type_text("t");
    assert!(h
        .app
        .cx
        .flash
        .as_deref()
        .unwrap_or("")
        .contains("already voted"));

    // Use the winner in the chat: the question and that answer are in the session.
    keep_in_chat(&mut h, many("b").concat()).await;
    let n = h.app.chat.messages.len();
    assert_eq!(h.app.chat.messages[n - 2].content, "Say your letters");
    assert_eq!(h.last().model.as_deref(), Some("other/m"));
    // Comparison sessions stay out of the session list.
    assert!(h
        .app
        .cx
        .store
        .list()
        .unwrap()
        .iter()
        .all(|s| s.origin.is_none()));

    // Re-ask the chat's last question in compare mode, with the conversation before it.
    h.app.chat.focus = Focus::Chat;
    h.type_text("C");
    assert_eq!(h.app.active, ScreenId::Compare);
    assert!(h.app.compare.with_conversation);
    assert_eq!(h.app.compare.upto, Some(h.app.chat.messages[n - 2].id));
    h.pump_until(|app| {
        !app.compare.is_running() && app.compare.columns.iter().all(|c| c.answer.is_some())
    })
    .await;
    assert_eq!(h.app.compare.question.as_deref(), Some("Say your letters"));
    assert_eq!(h.app.compare.columns[0].text, many("a").concat());
    // Keep the first column this time: it replaces the answer after the re-asked (last)
    // question, nothing else changes.
    h.type_text("h");
    assert_eq!(h.app.compare.selected, 0);
    keep_in_chat(&mut h, many("a").concat()).await;
    assert_eq!(h.app.chat.messages.len(), n);
    assert_eq!(h.app.chat.messages[n - 2].content, "Say your letters");
    assert_eq!(h.last().model.as_deref(), Some("scripted/model"));

    // A model added after a comparison has no answer: no vote until it is asked again.
    for _ in 0..3 {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    assert_eq!(h.app.active, ScreenId::Compare);
    if h.app.compare.focus != strata::tui::screens::compare::CFocus::Columns {
        h.key(KeyCode::Tab, KeyModifiers::NONE);
    }
    h.type_text("a");
    h.type_text("local/smollm2");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.compare.columns.len(), 3);
    h.type_text("w");
    assert!(
        h.app
            .cx
            .flash
            .as_deref()
            .unwrap_or("")
            .contains("no whole answer"),
        "{:?}",
        h.app.cx.flash
    );
    // With every column removed, voting and keeping say why instead of failing.
    while !h.app.compare.columns.is_empty() {
        h.type_text("x");
    }
    h.type_text("u");
    h.type_text("t");
    assert!(h.app.cx.flash.is_some());
    let votes =
        strata::eval::votes::VoteStore::new(h.runner.orchestrator().runtime().store.clone());
    assert_eq!(votes.list().unwrap().len(), 1);
}

/// `u` in the compare view: waits until the chat shows `answer` as its last message.
async fn keep_in_chat(h: &mut Harness, answer: String) {
    h.type_text("u");
    h.pump_until(|app| {
        app.active == ScreenId::Chat
            && app
                .chat
                .messages
                .last()
                .is_some_and(|m| m.content == answer)
    })
    .await;
}

/// Re-asking in a new, empty session has nothing to compare: it says so.
#[tokio::test]
async fn compare_message_on_an_empty_chat_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.chat.focus = Focus::Chat;
    h.type_text("C");
    assert!(
        h.app
            .cx
            .flash
            .as_deref()
            .unwrap_or("")
            .contains("no question"),
        "{:?}",
        h.app.cx.flash
    );
}

/// The evaluation screen runs a job file from a prompt with a live progress bar, shows
/// the summary (best highlighted) with charts, and drills down to the outputs side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_screen_runs_a_job_and_drills_down() {
    let first =
        common::scripted::start(vec!["Paris".into()], common::scripted::Ending::Finished).await;
    let second = common::scripted::start(
        vec!["I think ".into(), "it is Lyon".into()],
        common::scripted::Ending::Finished,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("data.jsonl"),
        "{\"prompt\": \"Capital of France?\", \"reference\": \"Paris\", \"tags\": [\"geo\"]}\n\
         {\"prompt\": \"Largest city of France?\", \"reference\": \"Paris\", \"tags\": [\"geo\", \"size\"]}\n\
         {\"prompt\": \"Say Paris\", \"reference\": \"Paris\"}\n",
    )
    .unwrap();
    let file = dir.path().join("job.toml");
    std::fs::write(
        &file,
        "name = \"france\"\ndataset = \"data.jsonl\"\nmodels = [\"scripted/model\", \"other/m\"]\n\
         metrics = [\"exact_match\", \"contains\", \"token_f1\"]\n",
    )
    .unwrap();
    let mut h = Harness::with_config(dir.path(), two_models(&first, &second)).await;
    for _ in 0..4 {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    assert_eq!(h.app.active, ScreenId::Evals);
    h.type_text("n");
    assert!(matches!(h.app.top_layer(), Some(Layer::Prompt(..))));
    h.type_text(&file.display().to_string());
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.evals.is_running());
    h.pump_until(|app| !app.evals.is_running()).await;
    assert!(h
        .app
        .cx
        .flash
        .as_deref()
        .unwrap_or("")
        .contains("france finished"));
    h.pump_until(|app| {
        app.evals
            .loaded
            .as_ref()
            .is_some_and(|l| l.results.len() == 6)
    })
    .await;
    let loaded = h.app.evals.loaded.as_ref().unwrap();
    assert_eq!(loaded.summaries[0].mean("exact_match"), Some(1.0));
    assert_eq!(loaded.summaries[1].mean("contains"), Some(0.0));
    assert_eq!(
        strata::eval::report::best(&loaded.summaries, "token_f1"),
        Some(0)
    );
    let latency = text(&draw(&mut h.app, 120, 40));
    assert!(latency.contains("Latency (ms)"), "{latency}");
    // Score by tag: a chart people read at a glance.
    h.type_text("v");
    for (w, hgt) in [(80u16, 24u16), (120, 40)] {
        let screen = text(&draw(&mut h.app, w, hgt));
        assert!(screen.contains("france"), "{screen}");
        assert!(screen.contains("exact_match by tag"), "{screen}");
        insta::assert_snapshot!(format!("evals_screen_{w}x{hgt}"), redact_times(&screen));
    }
    // Drill down: the items, every model's output side by side.
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.evals.item, Some(0));
    h.type_text("j");
    let items = text(&draw(&mut h.app, 120, 40));
    assert!(items.contains("Largest city of France?"), "{items}");
    assert!(items.contains("I think it is Lyon"), "{items}");
    assert!(items.contains("reference Paris"), "{items}");
    insta::assert_snapshot!("evals_items_120x40", redact_times(&items));
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(h.app.evals.item, None);
    // A file that is not there: the error names it, nothing runs.
    h.type_text("n");
    h.type_text("/nope/missing.toml");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| !app.evals.is_running()).await;
    assert!(
        h.app
            .cx
            .flash
            .as_deref()
            .unwrap_or("")
            .contains("/nope/missing.toml"),
        "{:?}",
        h.app.cx.flash
    );
}

/// Keeping an answer to a different question than the one at `upto` never replaces that
/// question's answers: it goes into a fork, and the original session is left as it was.
#[tokio::test]
async fn keeping_an_answer_to_another_question_forks() {
    use strata::tui::compare_jobs::{AskContext, CompareJob, CompareMsg};
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let store = h.app.cx.store.clone();
    let mut session = store.create("local/smollm2-135m").unwrap();
    let question = ChatMessage::new(Role::User, "What is Rust?");
    store.put_message(&mut session, &question).unwrap();
    store
        .put_message(
            &mut session,
            &ChatMessage::new(Role::Assistant, "A language."),
        )
        .unwrap();
    let mut answer = ChatMessage::new(Role::Assistant, "A rusty colour.");
    answer.model = Some("other/m".into());
    h.apply(vec![Effect::Compare(CompareJob::Keep {
        context: Some(AskContext {
            session: Box::new(session.clone()),
            upto: Some(question.id),
        }),
        session: session.id,
        question: "What colour is rust?".into(),
        answer: Box::new(answer),
    })]);
    let kept = loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), h.rx.recv())
            .await
            .unwrap()
            .unwrap();
        if let Msg::Compare(CompareMsg::Kept(result)) = msg {
            break result.unwrap();
        }
    };
    assert_ne!(kept, session.id, "a fork");
    let original: Vec<String> = store
        .messages(session.id)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(original, ["What is Rust?", "A language."]);
    let fork: Vec<String> = store
        .messages(kept)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(fork, ["What colour is rust?", "A rusty colour."]);
}
