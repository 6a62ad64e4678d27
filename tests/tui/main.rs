//! The TUI headless: snapshots of each screen per theme and size (TestBackend + insta), and
//! key sequences through the real update loop with the real local model.

#[path = "../common/mod.rs"]
mod common;

mod agents;
mod chat;
mod compare;
mod empty;
mod evals;
mod guardrails;
mod knowledge;
mod layers;
mod manage;

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
use strata::tui::app::App;
use strata::tui::jobs::StoreMsg;
use strata::tui::layers::Layer;
use strata::tui::msg::{Effect, Msg, ScreenId, ScreenMsg};
use strata::tui::screens::chat::{ChatScreen, Focus};
use strata::tui::screens::compare::CompareScreen;
use strata::tui::screens::evals::EvalsScreen;
use strata::tui::screens::guardrails::GuardrailsScreen;
use strata::tui::screens::knowledge::KnowledgeScreen;
use strata::tui::theme::{ColorDepth, Theme};
use strata::tui::{build_app, Runner, TuiOptions};
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
    terminal.draw(|f| app.render(f)).unwrap();
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

/// Drives the app like the runner does, without a terminal.
struct Harness {
    app: App,
    runner: Runner,
    rx: UnboundedReceiver<Msg>,
    tx: UnboundedSender<Msg>,
    copied: Vec<String>,
    /// The command run as `$EDITOR` (a script), if the test sets one.
    editor: Option<String>,
    /// The sessions as stored (read directly, as a check).
    store: SessionStore,
}

impl Harness {
    async fn new(dir: &std::path::Path) -> Harness {
        Harness::with_config(dir, Config::default()).await
    }

    async fn with_config(dir: &std::path::Path, config: Config) -> Harness {
        let rt = Arc::new(common::runtime(dir, config).await);
        let mut app = build_app(&rt, &options("dark")).await.unwrap();
        app.update(Msg::Resize(100, 30));
        let (tx, rx) = unbounded_channel();
        Harness {
            app,
            store: SessionStore::new(rt.store.clone()),
            runner: Runner::new(Orchestrator::new(rt).unwrap(), tx.clone()),
            rx,
            tx,
            copied: Vec::new(),
            editor: None,
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Copy(text) => self.copied.push(text),
                // The editor runs as the main loop runs it, minus the terminal hand-over.
                Effect::OpenEditor(request) => {
                    let editor = self.editor.clone().expect("the test sets an editor");
                    let tx = self.tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let result = strata::tui::editor::edit_text(
                            &editor,
                            &request.text,
                            request.suffix,
                            request.line,
                        );
                        let done = ScreenMsg::EditorDone(request.purpose, result);
                        let _ = tx.send(Msg::To(request.owner, done));
                    });
                }
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
            let Ok(msg) = tokio::time::timeout(Duration::from_secs(120), self.rx.recv()).await
            else {
                let screen = text(&draw(&mut self.app, 120, 40));
                panic!("nothing came in 120 s; the screen:\n{screen}");
            };
            let msg = msg.expect("channel open");
            let fx = self.app.update(msg);
            self.app.refresh_views();
            self.apply(fx);
        }
    }

    /// Processes queued messages until nothing is running.
    async fn settle(&mut self) {
        self.pump_until(|app| app.chat().streaming.is_none() && app.cx.pull.is_none())
            .await;
    }

    fn last(&self) -> &ChatMessage {
        self.app.chat().messages.last().unwrap()
    }
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

/// The screens inside the app, by type.
trait Screens {
    fn chat(&self) -> &ChatScreen;
    fn chat_mut(&mut self) -> &mut ChatScreen;
    fn compare(&self) -> &CompareScreen;
    fn compare_mut(&mut self) -> &mut CompareScreen;
    fn guardrails(&self) -> &GuardrailsScreen;
    fn knowledge(&self) -> &KnowledgeScreen;
    fn evals(&self) -> &EvalsScreen;
}

impl Screens for App {
    fn chat(&self) -> &ChatScreen {
        self.find().expect("a chat screen")
    }
    fn chat_mut(&mut self) -> &mut ChatScreen {
        self.find_mut().expect("a chat screen").0
    }
    fn compare(&self) -> &CompareScreen {
        self.find().expect("a compare screen")
    }
    fn compare_mut(&mut self) -> &mut CompareScreen {
        self.find_mut().expect("a compare screen").0
    }
    fn guardrails(&self) -> &GuardrailsScreen {
        self.find().expect("a guardrails screen")
    }
    fn knowledge(&self) -> &KnowledgeScreen {
        self.find().expect("a knowledge screen")
    }
    fn evals(&self) -> &EvalsScreen {
        self.find().expect("an evaluations screen")
    }
}
