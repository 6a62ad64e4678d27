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
use strata::tui::app::{App, Effect, Focus, Modal, Msg};
use strata::tui::theme::{ColorDepth, Theme};
use strata::tui::{build_app, run_effect, TuiOptions};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

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
            app.follow = false;
            app.update(Msg::Resize(w, h));
            app.scroll = 0;
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
        app.follow = true;
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
    assert!(matches!(app.modal, Some(Modal::Help(0))));
    let help = text(&draw(&mut app, 80, 24));
    assert!(help.contains("Quit"), "{help}");
    insta::assert_snapshot!("help_80x24", help);
    app.modal = None;
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
    app.modal = None;
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
        app.modal = None;
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
            assert!(app.modal.is_some(), "{name} opens");
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
    orchestrator: Orchestrator,
    tx: UnboundedSender<Msg>,
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
            orchestrator: Orchestrator::new(rt).unwrap(),
            tx,
            rx,
            copied: Vec::new(),
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Copy(text) => self.copied.push(text),
                other => run_effect(other, &self.orchestrator, &self.tx),
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
        self.pump_until(|app| app.streaming.is_none() && app.pull.is_none())
            .await;
    }

    fn last(&self) -> &ChatMessage {
        self.app.messages.last().unwrap()
    }
}

#[tokio::test]
async fn ask_stream_regenerate_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.session.agent.params.temperature = Some(0.0);
    h.app.session.agent.params.max_tokens = Some(16);
    h.type_text("Name three colours.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.streaming.is_some(), "Enter sends");
    assert!(h.app.input.text().is_empty());
    h.settle().await;
    let first = h.last().clone();
    assert_eq!(first.role, Role::Assistant);
    assert_eq!(first.status, MessageStatus::Complete);
    assert!(!first.content.is_empty());
    assert!(first.usage.unwrap().output_tokens > 0);
    // The answer is an agent run: its step and record are in sled.
    let run = first.run_id.expect("the answer names its run");
    let steps = h.orchestrator.runs.steps(run).unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].record_id, first.record_id);
    assert_eq!(
        steps[0].input.last().unwrap().content,
        "Name three colours."
    );

    // Regenerate from the chat pane, sampling this time: a new answer replaces the old one,
    // on screen and in the store.
    h.app.session.agent.params.temperature = Some(1.0);
    h.app.session.agent.params.seed = Some(7);
    h.key(KeyCode::Tab, KeyModifiers::SHIFT);
    assert_eq!(h.app.focus, Focus::Chat);
    h.key(KeyCode::Char('r'), KeyModifiers::NONE);
    assert!(h.app.streaming.is_some(), "r starts a new answer");
    h.settle().await;
    assert_eq!(h.app.messages.len(), 2);
    let answer = h.last().clone();
    assert_ne!(answer.id, first.id, "a new message, not the old one kept");
    assert_eq!(answer.role, Role::Assistant);
    assert_eq!(answer.status, MessageStatus::Complete);
    assert!(!answer.content.is_empty());
    let stored = h.app.store.messages(h.app.session.id).unwrap();
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
    let session = h.app.session.id;
    let store = h.app.store.clone();
    let mut other = store.create(common::CHAT_MODEL).unwrap();
    store
        .put_message(&mut other, &ChatMessage::new(Role::User, "newer elsewhere"))
        .unwrap();
    h.app.save_ui_state();
    drop(store);
    drop(h);
    let h = Harness::new(dir.path()).await;
    assert_eq!(h.app.session.id, session, "resumes the session you were in");
    assert_eq!(h.app.focus, Focus::Input);
    assert_eq!(h.app.messages.len(), 2);
    assert_eq!(h.app.messages[1].content, answer);
    assert_eq!(h.app.input.text(), "unsent draft");
}

#[tokio::test]
async fn cancel_keeps_partial_answer_and_quit_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.session.agent.params.temperature = Some(0.0);
    h.type_text("Count from one to two hundred in words.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Wait for some text, then Esc.
    h.pump_until(|app| app.messages.last().is_some_and(|m| m.content.len() > 10))
        .await;
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    h.settle().await;
    assert_eq!(h.last().status, MessageStatus::Cancelled);
    assert!(h.last().content.len() > 10, "partial text kept");
    let stored = h.app.store.messages(h.app.session.id).unwrap();
    assert_eq!(stored.last().unwrap().status, MessageStatus::Cancelled);

    // Ctrl-C on an idle screen asks; n keeps running; Ctrl-Q then y quits.
    h.key(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(matches!(h.app.modal, Some(Modal::ConfirmQuit)));
    h.key(KeyCode::Char('n'), KeyModifiers::NONE);
    assert!(h.app.modal.is_none() && !h.app.quit);
    h.key(KeyCode::Char('q'), KeyModifiers::CONTROL);
    h.key(KeyCode::Char('y'), KeyModifiers::NONE);
    assert!(h.app.quit);
}

#[tokio::test]
async fn paste_is_text_and_sessions_are_managed_from_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.key(KeyCode::Tab, KeyModifiers::NONE); // sidebar
    assert_eq!(h.app.focus, Focus::Sidebar);
    let big = "line one ? / q\n".repeat(500);
    let fx = h.app.update(Msg::Paste(big.clone()));
    h.apply(fx);
    assert!(h.app.modal.is_none(), "a paste never triggers bindings");
    assert_eq!(h.app.focus, Focus::Input);
    assert_eq!(h.app.input.text(), big);
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    assert!(h.app.input.text().is_empty());

    // New session, rename it, then delete it with confirmation.
    let before = h.app.sessions.len();
    h.key(KeyCode::Char('n'), KeyModifiers::CONTROL);
    assert_eq!(h.app.sessions.len(), before + 1);
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    assert_eq!(h.app.focus, Focus::Sidebar);
    h.key(KeyCode::Char('R'), KeyModifiers::SHIFT);
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text("Renamed");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.sessions.iter().any(|s| s.title == "Renamed"));
    h.key(KeyCode::Char('d'), KeyModifiers::NONE);
    assert!(matches!(h.app.modal, Some(Modal::ConfirmDelete { .. })));
    h.key(KeyCode::Char('y'), KeyModifiers::NONE);
    assert!(!h.app.sessions.iter().any(|s| s.title == "Renamed"));
    assert_eq!(h.app.sessions.len(), before);
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
    let Some(Modal::Picker(p)) = &h.app.modal else {
        panic!("picker open")
    };
    assert_eq!(h.app.catalog[p.matches[0]].id, "local/qwen2.5-0.5b");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.pull.is_some(), "the pull started");
    // The UI keeps taking keys while it runs.
    h.type_text("still typing");
    assert_eq!(h.app.input.text(), "still typing");
    h.settle().await;
    // No route to Hugging Face here: the pull fails with a message, the model is unchanged.
    assert!(
        h.app
            .flash
            .as_deref()
            .unwrap_or("")
            .contains("pull of local/qwen2.5-0.5b failed"),
        "{:?}",
        h.app.flash
    );
    assert_eq!(h.app.session.agent.model, common::CHAT_MODEL);
    // Another downloaded model is picked at once, with no pull.
    h.key(KeyCode::Char('p'), KeyModifiers::CONTROL);
    h.type_text("smollm2-twin");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.pull.is_none(), "nothing to pull");
    assert_eq!(h.app.session.agent.model, twin.id);
}

#[tokio::test]
async fn leaving_a_session_mid_answer_keeps_the_answer_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.session.agent.params.temperature = Some(0.0);
    let first = h.app.session.id;
    h.type_text("Count from one to two hundred in words.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // A new session while the answer streams: it is cancelled and stored where it belongs.
    h.key(KeyCode::Char('n'), KeyModifiers::CONTROL);
    assert_ne!(h.app.session.id, first);
    h.pump_until(|app| app.streaming.is_none()).await;
    let stored = h.app.store.messages(first).unwrap();
    assert_eq!(
        stored.len(),
        2,
        "question and answer stay in the first session"
    );
    assert_eq!(stored[1].role, Role::Assistant);
    assert_eq!(stored[1].status, MessageStatus::Cancelled);
    assert!(
        h.app.messages.is_empty(),
        "nothing leaked into the new session"
    );

    // History recall keeps what was being typed.
    h.type_text("half-typed");
    h.key(KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(
        h.app.input.text(),
        "Count from one to two hundred in words."
    );
    h.key(KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(h.app.input.text(), "half-typed");

    // Re-opening the current session from the sidebar keeps unsaved changes.
    h.app.session.agent.model = "local/qwen2.5-0.5b".into();
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.session.agent.model, "local/qwen2.5-0.5b");
    assert_eq!(h.app.input.text(), "half-typed");
}

#[tokio::test]
async fn session_search_runs_off_the_ui_task_and_filters_the_sidebar() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let store = h.app.store.clone();
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
    h.pump_until(|app| !app.filter_hits.is_empty()).await;
    let shown: Vec<String> = h
        .app
        .sidebar_items()
        .iter()
        .map(|s| s.title.clone())
        .collect();
    assert_eq!(shown, vec!["안녕하세요 등대".to_string()]);
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(
        h.app.messages[0].content, "안녕하세요 등대",
        "opens the hit"
    );
}

#[tokio::test]
async fn scrolling_up_while_streaming_stays_put() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.update(Msg::Resize(60, 20));
    // Greedy: a long, line-per-item answer, the same every run.
    h.app.session.agent.params.temperature = Some(0.0);
    h.app.session.agent.params.max_tokens = Some(600);
    h.type_text("Write a numbered list of 100 fruits, one per line.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Wait until the answer is taller than the pane.
    h.pump_until(|app| app.streaming.is_none() || app.total_lines() > 40)
        .await;
    assert!(
        h.app.streaming.is_some(),
        "the seeded answer is long enough to scroll"
    );
    h.key(KeyCode::Char('2'), KeyModifiers::ALT);
    h.key(KeyCode::Char('k'), KeyModifiers::NONE);
    assert!(!h.app.follow, "one line up leaves follow mode");
    let reading = h.app.scroll;
    h.pump_until(|app| app.streaming.is_none() || app.total_lines() > 60)
        .await;
    assert_eq!(
        h.app.scroll, reading,
        "new text does not move the view while reading"
    );
    h.key(KeyCode::Char('G'), KeyModifiers::SHIFT);
    assert!(h.app.follow);
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    h.settle().await;
}

#[tokio::test]
async fn command_palette_runs_the_chosen_action() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let before = h.app.sessions.len();
    h.key(KeyCode::Char('k'), KeyModifiers::CONTROL);
    assert!(matches!(h.app.modal, Some(Modal::Palette(_))));
    h.type_text("new session");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.modal.is_none(), "the palette closes");
    assert_eq!(h.app.sessions.len(), before + 1, "a session was created");
    assert!(
        h.app.input.text().is_empty(),
        "the query was not typed into the input"
    );

    // `:` in the conversation opens it too; a sidebar action focuses the sidebar first.
    h.key(KeyCode::Char('2'), KeyModifiers::ALT);
    h.key(KeyCode::Char(':'), KeyModifiers::NONE);
    assert!(matches!(h.app.modal, Some(Modal::Palette(_))));
    h.type_text("rename");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.focus, Focus::Sidebar);
    assert!(matches!(h.app.modal, Some(Modal::Prompt(..))));
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert!(h.app.modal.is_none());

    // Esc closes without running anything.
    h.key(KeyCode::Char('k'), KeyModifiers::CONTROL);
    h.type_text("new session");
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert!(h.app.modal.is_none());
    assert_eq!(h.app.sessions.len(), before + 1);
}
