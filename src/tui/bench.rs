//! `strata bench tui`: frame render time and memory with a 10,000-message session, bytes
//! written to the terminal per streamed token, and time to the first frame; and the
//! compare view's frame cost while answers stream (for `strata bench eval`).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context as _, Result};
use ratatui::backend::CrosstermBackend;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde::Serialize;

use super::app::App;
use super::compare_jobs::{ColumnEvent, CompareJob, CompareMsg};
use super::msg::{Effect, Msg, ScreenId, ScreenMsg};
use super::screens::chat::ChatScreen;
use super::screens::compare::{Column, CompareScreen};
use super::{build_app_blocking as build_app, TuiOptions};
use crate::config::{Config, Paths};
use crate::runtime::types::{Role, StreamEvent, Usage};
use crate::runtime::Runtime;
use crate::sessions::{ChatMessage, SessionStore};
use crate::store::Id;

/// Options of `strata bench tui`.
#[derive(Debug, Clone, clap::Args)]
pub struct TuiBenchArgs {
    /// Messages in the big session.
    #[arg(long, default_value_t = 10_000)]
    pub messages: usize,
    /// Frames to time.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    #[arg(long, default_value_t = 120)]
    pub width: u16,
    #[arg(long, default_value_t = 40)]
    pub height: u16,
    /// Lines of the markdown answer streamed in the streaming case.
    #[arg(long, default_value_t = 2_000)]
    pub stream_lines: usize,
    /// Tokens (words) the answer grows by per frame in the streaming case.
    #[arg(long, default_value_t = 4)]
    pub tokens_per_frame: usize,
    #[arg(long)]
    pub json: bool,
}

/// The measured figures.
#[derive(Debug, Serialize)]
pub struct TuiFigures {
    pub messages: usize,
    pub first_frame_ms: f64,
    pub open_session_ms: f64,
    /// Messages laid out after opening the big session (the rest are estimated).
    pub laid_out_on_open: usize,
    pub frame_p50_us: f64,
    pub frame_p99_us: f64,
    /// Laying out the window after a jump into a part not laid out yet.
    pub scroll_layout_p50_us: f64,
    pub scroll_layout_p99_us: f64,
    pub bytes_per_streamed_token: f64,
    /// Frames of the streaming case.
    pub stream_frames: usize,
    /// Re-layout cost per frame (`refresh_views`) while the long answer grows.
    pub stream_relayout_p50_us: f64,
    pub stream_relayout_p99_us: f64,
    pub rss_mb: f64,
}

/// A writer that counts bytes (the terminal link).
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<u64>>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut n) = self.0.lock() {
            *n += buf.len() as u64;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Counter {
    fn take(&self) -> u64 {
        self.0
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or(0)
    }
}

/// The chat screen of `app` (every app has one).
fn chat(app: &mut App) -> &mut ChatScreen {
    match app.find_mut::<ChatScreen>() {
        Some((chat, _)) => chat,
        None => unreachable!("the app is built with a chat screen"),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the benchmark in a temporary data dir.
pub fn run(args: &TuiBenchArgs) -> Result<i32> {
    let dir = tempfile::tempdir()?;
    // Startup: open the store, build the state, draw the first frame (empty session).
    let start = Instant::now();
    let runtime = Runtime::with_config(Paths::under(dir.path()), Config::default())?;
    let options = TuiOptions {
        color: Some(super::theme::ColorDepth::TrueColor),
        ..TuiOptions::default()
    };
    let mut app = build_app(&runtime, &options)?;
    let counter = Counter::default();
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(counter.clone()),
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(
                0,
                0,
                args.width,
                args.height,
            )),
        },
    )?;
    app.update(Msg::Resize(args.width, args.height));
    terminal.draw(|f| app.render(f))?;
    let first_frame_ms = start.elapsed().as_secs_f64() * 1000.0;

    // A big session: alternating questions and markdown answers.
    let store = SessionStore::new(runtime.store.clone());
    let mut session = store.create(&app.cx.default_model)?;
    for i in 0..args.messages {
        let (role, text) = if i % 2 == 0 {
            (
                Role::User,
                format!("Question {i}: how do I read a file in Rust?"),
            )
        } else {
            (Role::Assistant, format!("Answer {i}: use **std::fs**.\n\n```rust\nlet s = std::fs::read_to_string(\"f\")?;\n```\n\n- it returns `io::Result<String>`\n- 한국어도 됩니다"))
        };
        store.put_message(&mut session, &ChatMessage::new(role, text))?;
    }
    let start = Instant::now();
    let mut app = build_app(&runtime, &options)?;
    app.update(Msg::Resize(args.width, args.height));
    let open_session_ms = start.elapsed().as_secs_f64() * 1000.0;

    // Frame times while scrolling through the session.
    // Each step of 37 lines brings messages not laid out yet near the view:
    // `refresh_views` lays them out (timed apart, as the runner does before a frame),
    // then the frame is drawn.
    let laid_out_on_open = chat(&mut app).laid_out();
    let mut times = Vec::with_capacity(args.frames);
    let mut scroll_layout = Vec::with_capacity(args.frames);
    chat(&mut app).follow = false;
    for i in 0..args.frames {
        chat(&mut app).scroll = (i * 37) % chat(&mut app).total_lines().max(1);
        let t = Instant::now();
        app.refresh_views();
        scroll_layout.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        terminal.draw(|f| app.render(f))?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    scroll_layout.sort_by(f64::total_cmp);

    // Streaming: one token per frame into a new answer at the bottom.
    chat(&mut app).follow = true;
    let message = Id::new();
    let mut answer = ChatMessage::new(Role::Assistant, "");
    answer.id = message;
    chat(&mut app).messages.push(answer);
    let shown = chat(&mut app).session.id;
    chat(&mut app).streaming = Some(super::screens::chat::Streaming {
        message,
        session: shown,
        cancel: tokio_util::sync::CancellationToken::new(),
        started: Instant::now(),
    });
    app.refresh_views();
    terminal.draw(|f| app.render(f))?;
    counter.take();
    let tokens = 200;
    for i in 0..tokens {
        let text = if i % 15 == 14 {
            "\n\n".to_string()
        } else {
            format!(" word{i}")
        };
        app.update(Msg::To(
            ScreenId::Chat,
            ScreenMsg::Stream {
                message,
                event: StreamEvent::TextDelta { text },
            },
        ));
        app.refresh_views();
        terminal.draw(|f| app.render(f))?;
    }
    let bytes_per_streamed_token = counter.take() as f64 / tokens as f64;

    // A long markdown answer (prose, lists, code) growing a few tokens per frame: the
    // cost of laying it out again each frame.
    let long = long_answer(args.stream_lines);
    let pieces: Vec<&str> = long.split_inclusive(' ').collect();
    let message = Id::new();
    let mut answer = ChatMessage::new(Role::Assistant, "");
    answer.id = message;
    chat(&mut app).messages.push(answer);
    let last = chat(&mut app).messages.len() - 1;
    let mut relayout = Vec::new();
    for chunk in pieces.chunks(args.tokens_per_frame.max(1)) {
        for piece in chunk {
            chat(&mut app).messages[last].content.push_str(piece);
        }
        let t = Instant::now();
        app.refresh_views();
        relayout.push(t.elapsed().as_secs_f64() * 1e6);
    }
    chat(&mut app).streaming = None;
    relayout.sort_by(f64::total_cmp);

    let figures = TuiFigures {
        messages: args.messages,
        first_frame_ms,
        open_session_ms,
        laid_out_on_open,
        frame_p50_us: percentile(&times, 0.5),
        scroll_layout_p50_us: percentile(&scroll_layout, 0.5),
        scroll_layout_p99_us: percentile(&scroll_layout, 0.99),
        frame_p99_us: percentile(&times, 0.99),
        bytes_per_streamed_token,
        stream_frames: relayout.len(),
        stream_relayout_p50_us: percentile(&relayout, 0.5),
        stream_relayout_p99_us: percentile(&relayout, 0.99),
        rss_mb: crate::telemetry::process::peak_rss_mb(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "TUI at {}x{}, {} messages",
            args.width, args.height, figures.messages
        );
        println!(
            "first frame (empty session)     {:>10.1} ms",
            figures.first_frame_ms
        );
        println!(
            "open + lay out the big session  {:>10.1} ms",
            figures.open_session_ms
        );
        println!(
            "messages laid out on open       {:>10}",
            figures.laid_out_on_open
        );
        println!(
            "frame render p50 / p99         {:>8.0} / {:.0} µs",
            figures.frame_p50_us, figures.frame_p99_us
        );
        println!(
            "lay out after a jump p50 / p99 {:>8.0} / {:.0} µs",
            figures.scroll_layout_p50_us, figures.scroll_layout_p99_us
        );
        println!(
            "bytes per streamed token        {:>10.0}",
            figures.bytes_per_streamed_token
        );
        println!(
            "streaming {} lines, {}/frame   {:>8.0} / {:.0} µs re-layout p50 / p99 ({} frames)",
            args.stream_lines,
            args.tokens_per_frame,
            figures.stream_relayout_p50_us,
            figures.stream_relayout_p99_us,
            figures.stream_frames
        );
        println!(
            "peak memory                     {:>10.0} MB",
            figures.rss_mb
        );
    }
    Ok(0)
}

/// A markdown answer of about `lines` lines: sections of a heading, prose, a list and a
/// Rust code block.
fn long_answer(lines: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut section = 0;
    while n < lines {
        section += 1;
        out.push_str(&format!(
            "## Step {section}\n\nThis step reads the **input** file, checks each record and \
             writes the `result` to a buffer; errors are reported with their line number so \
             that the caller can fix the data and run it again.\n\n\
             - open the file with `File::open`\n- wrap it in a `BufReader`\n- parse every line\n\n\
             ```rust\nuse std::io::{{BufRead, BufReader}};\n\nfn step_{section}(path: &str) -> std::io::Result<usize> {{\n    \
             let file = std::fs::File::open(path)?;\n    let mut count = 0;\n    \
             for line in BufReader::new(file).lines() {{\n        if !line?.trim().is_empty() {{\n            \
             count += 1;\n        }}\n    }}\n    Ok(count)\n}}\n```\n\n"
        ));
        n += 25;
    }
    out
}

/// Frame cost (refresh + draw, µs, sorted) of the compare view while `columns` answers
/// stream, one word per column per frame (for `strata bench eval`).
pub fn compare_frame_times(columns: usize, frames: usize) -> Result<Vec<f64>> {
    let dir = tempfile::tempdir()?;
    let runtime = Runtime::with_config(Paths::under(dir.path()), Config::default())?;
    let options = TuiOptions {
        color: Some(super::theme::ColorDepth::TrueColor),
        ..Default::default()
    };
    let mut app = build_app(&runtime, &options)?;
    let (w, h) = (160u16, 48u16);
    app.update(Msg::Resize(w, h));
    app.active = ScreenId::Compare;
    let session = chat(&mut app).session.clone();
    let (compare, cx) = app
        .find_mut::<CompareScreen>()
        .context("no compare screen")?;
    compare.attach(&session, cx);
    compare.columns = (0..columns)
        .map(|i| Column::new(format!("bench/model-{i}")))
        .collect();
    compare.input = super::input::InputBox::with_text("Explain ownership in Rust.");
    let effects = app.update(Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Enter,
        crossterm::event::KeyModifiers::NONE,
    )));
    let seq = effects
        .iter()
        .find_map(|e| match e {
            Effect::Compare(_, CompareJob::Ask { seq, .. }) => Some(*seq),
            _ => None,
        })
        .context("the compare view did not ask")?;
    let mut terminal = Terminal::new(TestBackend::new(w, h))?;
    let mut times = Vec::with_capacity(frames);
    for frame in 0..frames {
        let started = Instant::now();
        for column in 0..columns {
            let text = if frame % 12 == 11 {
                "\n\n".to_string()
            } else {
                format!("word{frame} ")
            };
            app.update(Msg::To(
                ScreenId::Compare,
                ScreenMsg::Compare(CompareMsg::Column {
                    seq,
                    column,
                    event: ColumnEvent::Text { text, at_ms: 1.0 },
                }),
            ));
        }
        app.refresh_views();
        terminal.draw(|f| app.render(f))?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    // The columns end, as runs would.
    for column in 0..columns {
        let mut answer = ChatMessage::new(Role::Assistant, "");
        answer.usage = Some(Usage::default());
        app.update(Msg::To(
            ScreenId::Compare,
            ScreenMsg::Compare(CompareMsg::Column {
                seq,
                column,
                event: ColumnEvent::Finished {
                    answer: Box::new(answer),
                    error: None,
                    elapsed_ms: 1.0,
                },
            }),
        ));
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}
