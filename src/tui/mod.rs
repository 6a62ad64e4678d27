//! The full-screen app: one inbound queue (keys, pastes, resizes, stream events, task
//! results), `App::update` returning effects, the `Runner` that starts them (nothing that
//! waits on storage, files or `$EDITOR` runs on the UI task), and a draw at most ~30
//! times a second.

pub mod agent_jobs;
pub mod app;
pub mod bench;
pub mod clipboard;
pub mod compare_jobs;
pub mod complete;
pub mod editor;
pub mod eval_jobs;
pub mod fields;
pub mod forms;
pub mod fuzzy;
pub mod guard_jobs;
pub mod incremental;
pub mod input;
pub mod jobs;
pub mod kb_jobs;
pub mod keymap;
pub mod layers;
pub mod layout;
pub mod markdown;
pub mod msg;
pub mod outbox;
pub mod palette;
pub mod screens;
pub mod terminal;
pub mod theme;
pub mod view;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use crossterm::event::{Event, EventStream, KeyEventKind, MouseEventKind};
use futures::StreamExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::orchestrator::events::RunEvent;
use crate::orchestrator::Orchestrator;
use crate::runtime::pull::{PullEvent, Puller};
use crate::runtime::types::StreamEvent;
use crate::runtime::Runtime;
use crate::sessions::SessionStore;
use app::App;
use jobs::{StoreJob, StoreMsg};
use keymap::{KeyResolver, Keymap};
use msg::{Effect, Msg, ScreenId, ScreenMsg};
use outbox::Outbox;
use screens::agents::AgentsScreen;
use screens::chat::ChatScreen;
use screens::compare::CompareScreen;
use screens::evals::EvalsScreen;
use screens::guardrails::GuardrailsScreen;
use screens::knowledge::KnowledgeScreen;
use screens::{Screen, Shared};
use theme::{ColorDepth, Theme};

/// The shortest time between two frames (~30 frames a second).
pub const FRAME: Duration = Duration::from_millis(33);

/// How the TUI starts.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// Open a new session on this model.
    pub model: Option<String>,
    /// Force a colour depth instead of detecting it.
    pub color: Option<ColorDepth>,
    /// Theme name (built-in or user).
    pub theme: Option<String>,
}

/// Loads the theme (user themes patch built-ins) for the detected or forced colour depth.
pub fn load_theme(runtime: &Runtime, options: &TuiOptions) -> Result<Theme> {
    let user = theme::load_user_themes(&runtime.paths.config_dir.join("themes"))?;
    let name = options.theme.clone().unwrap_or_else(|| "dark".into());
    let theme = Theme::find(&name, &user).with_context(|| {
        format!(
            "unknown theme `{name}`; built-in themes: {}",
            Theme::names().join(", ")
        )
    })?;
    Ok(theme.adapt(options.color.unwrap_or_else(ColorDepth::from_env)))
}

/// Builds the app state for a runtime (also used by the tests): the stored sessions are
/// read off the UI task (a store job on a blocking thread), then the screens are made.
pub async fn build_app(runtime: &Runtime, options: &TuiOptions) -> Result<App> {
    let (theme, keymap, default_model) = prepare(runtime, options)?;
    let store = SessionStore::new(runtime.store.clone());
    let (model, new_on_model) = (default_model.clone(), options.model.is_some());
    let startup =
        tokio::task::spawn_blocking(move || jobs::load_startup(&store, &model, new_on_model))
            .await??;
    Ok(assemble(runtime, theme, keymap, &default_model, startup))
}

/// `build_app` for callers that are not the UI task (benchmarks): storage is read on the
/// calling thread.
pub fn build_app_blocking(runtime: &Runtime, options: &TuiOptions) -> Result<App> {
    let (theme, keymap, default_model) = prepare(runtime, options)?;
    let store = SessionStore::new(runtime.store.clone());
    let startup = jobs::load_startup(&store, &default_model, options.model.is_some())?;
    Ok(assemble(runtime, theme, keymap, &default_model, startup))
}

/// The theme, the keymap and the model new sessions start on.
fn prepare(runtime: &Runtime, options: &TuiOptions) -> Result<(Theme, Keymap, String)> {
    let theme = load_theme(runtime, options)?;
    let keymap_file = runtime.paths.config_dir.join("keymap.toml");
    let keymap = Keymap::load(keymap_file.is_file().then_some(keymap_file.as_path()))?;
    let default_model = runtime.chat_model(options.model.as_deref())?.id.clone();
    Ok((theme, keymap, default_model))
}

/// Makes every screen (this is where the screens are listed) and the app over them.
fn assemble(
    runtime: &Runtime,
    theme: Theme,
    keymap: Keymap,
    default_model: &str,
    startup: jobs::Startup,
) -> App {
    let cx = Shared::new(
        &runtime.catalog,
        &runtime.paths.model_dir,
        default_model,
        theme,
        KeyResolver::new(keymap),
        runtime.paths.data_dir.join("exports"),
    );
    let mut chat = ChatScreen::new(
        startup.sessions,
        startup.session,
        startup.messages,
        &startup.ui,
    );
    chat.default_guardrail = runtime.config.guardrail.clone();
    if let Some(session) = startup.fresh {
        chat.start_fresh(session);
    }
    let screens: Vec<Box<dyn Screen>> = vec![
        Box::new(chat),
        Box::new(GuardrailsScreen::default()),
        Box::new(KnowledgeScreen::default()),
        Box::new(CompareScreen::default()),
        Box::new(EvalsScreen::new(runtime.paths.data_dir.join("jobs"))),
        Box::new(AgentsScreen::default()),
    ];
    App::new(cx, screens)
}

/// Runs the TUI until the user quits or the terminal goes away (SIGTERM/SIGHUP).
pub async fn run(runtime: Arc<Runtime>, options: TuiOptions) -> Result<()> {
    // Opening the orchestrator and recovering evaluation jobs read storage: off the UI task.
    let rt = runtime.clone();
    let orchestrator = tokio::task::spawn_blocking(move || -> Result<Orchestrator> {
        let orchestrator = Orchestrator::new(rt)?;
        crate::eval::Evals::new(orchestrator.clone()).recover()?;
        Ok(orchestrator)
    })
    .await??;
    let resealing = continue_reencryption(&runtime.store);
    let mut app = build_app(&runtime, &options).await?;
    let (mut terminal, guard) = terminal::enter().context("cannot set up the terminal")?;
    let (tx, mut rx) = unbounded_channel::<Msg>();
    let runner = Runner::new(orchestrator, tx.clone());
    let mut input = spawn_input(tx.clone());
    let size = terminal.size()?;
    app.update(Msg::Resize(size.width, size.height));

    let mut term_signal =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup_signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    // While `$EDITOR` has the terminal, nothing is drawn and no keys are read.
    let mut editing = false;

    while !app.quit {
        if dirty && !editing && last_draw.elapsed() >= FRAME {
            terminal.draw(|f| app.render(f))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let next_frame = tokio::time::Instant::from_std(last_draw + FRAME);
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                // Drain what else is queued: streamed tokens coalesce into one frame.
                let mut batch = vec![msg];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                let mut effects = Vec::new();
                for msg in batch {
                    if matches!(msg, Msg::To(_, ScreenMsg::EditorDone(..)) | Msg::FileClosed(_)) {
                        // The editor gave the terminal back: take it again, read keys again.
                        terminal::resume(&mut terminal, app.cx.mouse)?;
                        input = spawn_input(tx.clone());
                        editing = false;
                    }
                    effects.extend(app.update(msg));
                }
                app.refresh_views();
                dirty = true;
                for effect in effects {
                    match effect {
                        Effect::OpenEditor(request) if !editing => {
                            input.abort();
                            editing = true;
                            let tx = tx.clone();
                            tokio::task::spawn_blocking(move || {
                                let result = terminal::suspend()
                                    .map_err(|e| e.to_string())
                                    .and_then(|()| {
                                        editor::edit_text(
                                            &editor::command(),
                                            &request.text,
                                            request.suffix,
                                            request.line,
                                        )
                                    });
                                let done = ScreenMsg::EditorDone(request.purpose, result);
                                let _ = tx.send(Msg::To(request.owner, done));
                            });
                        }
                        Effect::OpenFile { path, line } if !editing => {
                            input.abort();
                            editing = true;
                            let tx = tx.clone();
                            tokio::task::spawn_blocking(move || {
                                let result = terminal::suspend()
                                    .map_err(|e| e.to_string())
                                    .and_then(|()| {
                                        editor::open_file(
                                            &editor::command(),
                                            std::path::Path::new(&path),
                                            Some(line),
                                        )
                                    });
                                let _ = tx.send(Msg::FileClosed(result));
                            });
                        }
                        other => runner.run(other),
                    }
                }
            }
            _ = tokio::time::sleep_until(next_frame), if dirty && !editing => {}
            _ = ticker.tick() => { dirty |= app.is_busy(); }
            _ = term_signal.recv() => break,
            _ = hup_signal.recv() => break,
        }
    }
    let unfinished = app.unfinished();
    if !unfinished.is_empty() {
        // Let a run store its answer as cancelled before the process ends.
        for cancel in unfinished {
            cancel.cancel();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while !app.unfinished().is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(msg)) => {
                    app.update(msg);
                }
                _ => break,
            }
        }
    }
    // The last save (unless quitting saved it already) queues behind the storage work
    // still queued, so it cannot be overwritten; dropping the runner waits for all of it.
    for effect in app.save_ui_state() {
        runner.run(effect);
    }
    drop(runner);
    input.abort();
    drop(guard);
    if let Some((stop, pass)) = resealing {
        // It saves its place and ends within one value; the next start resumes it.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = pass.await;
    }
    Ok(())
}

/// A re-encryption left pending (by `[encryption] enabled` on a data dir with records, or a
/// stopped `strata keys rotate-data-key`) goes on in the background while the TUI runs.
fn continue_reencryption(
    store: &crate::store::Store,
) -> Option<(
    Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<()>,
)> {
    if !store.rotation_pending() {
        return None;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (store, flag) = (store.clone(), stop.clone());
    let pass = tokio::task::spawn_blocking(move || match store.continue_rotation(&flag, |_| {}) {
        Ok(end) => tracing::info!("re-encryption: {end:?}"),
        Err(e) => tracing::warn!("re-encryption stopped: {e}"),
    });
    Some((stop, pass))
}

/// Reads terminal events into the queue (key presses only, pastes as one event).
fn spawn_input(tx: UnboundedSender<Msg>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = EventStream::new();
        while let Some(Ok(event)) = events.next().await {
            let msg = match event {
                Event::Key(key) if key.kind != KeyEventKind::Release => Msg::Key(key),
                Event::Paste(text) => Msg::Paste(text),
                Event::Resize(w, h) => Msg::Resize(w, h),
                Event::Mouse(m) => match m.kind {
                    MouseEventKind::ScrollUp => Msg::Scroll(-3),
                    MouseEventKind::ScrollDown => Msg::Scroll(3),
                    _ => continue,
                },
                _ => continue,
            };
            if tx.send(msg).is_err() {
                break;
            }
        }
    })
}

/// Runs effects: turns, pulls and searches as tasks, storage batches one after another
/// on one worker thread (so a save never overtakes an earlier one). Answers go to `tx`.
/// Dropping it waits for the storage work already queued.
pub struct Runner {
    orchestrator: Orchestrator,
    tx: UnboundedSender<Msg>,
    store_jobs: Option<std::sync::mpsc::Sender<(ScreenId, Vec<StoreJob>)>>,
    store_worker: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    /// A runner answering on `tx`, with its storage worker started.
    pub fn new(orchestrator: Orchestrator, tx: UnboundedSender<Msg>) -> Runner {
        let store = SessionStore::new(orchestrator.runtime().store.clone());
        let (store_jobs, batches) = std::sync::mpsc::channel::<(ScreenId, Vec<StoreJob>)>();
        let answers = tx.clone();
        let store_worker = std::thread::Builder::new()
            .name("strata-store".into())
            .spawn(move || {
                for (owner, batch) in batches {
                    jobs::run_batch(&store, batch, &store_outbox(&answers, owner));
                }
            })
            .map_err(|e| tracing::error!("cannot start the storage worker: {e}"))
            .ok();
        Runner {
            orchestrator,
            tx,
            store_jobs: Some(store_jobs),
            store_worker,
        }
    }

    /// The orchestrator turns run through.
    pub fn orchestrator(&self) -> &Orchestrator {
        &self.orchestrator
    }

    /// Starts the background work an effect asks for.
    pub fn run(&self, effect: Effect) {
        match effect {
            Effect::Store(owner, jobs) => {
                let sent = self.store_jobs.as_ref().map(|s| s.send((owner, jobs)));
                if !matches!(sent, Some(Ok(()))) {
                    tracing::error!("the storage worker is gone");
                }
            }
            other => run_effect(other, &self.orchestrator, &self.tx),
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.store_jobs = None;
        if let Some(worker) = self.store_worker.take() {
            let _ = worker.join();
        }
    }
}

/// Starts the background work an effect asks for (storage batches run at once, unordered:
/// use a `Runner` to keep them in order).
pub fn run_effect(effect: Effect, orchestrator: &Orchestrator, tx: &UnboundedSender<Msg>) {
    let runtime = orchestrator.runtime();
    match effect {
        Effect::Turn(owner, turn) => {
            let tx = tx.clone();
            let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
            let handle = orchestrator.spawn_turn(*turn, events_tx);
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    let msg = match event {
                        RunEvent::TextDelta { answer, text } => ScreenMsg::Stream {
                            message: answer,
                            event: StreamEvent::TextDelta { text },
                        },
                        other => ScreenMsg::Run(Box::new(other)),
                    };
                    if tx.send(Msg::To(owner, msg)).is_err() {
                        break;
                    }
                }
                // The turn could not start (no session, storage) or its task panicked
                // (a faulty check): say so, so the app does not wait for it forever.
                let failure = match handle.await {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(format!("the answer's task failed: {e}")),
                };
                if let Some(error) = failure {
                    tracing::error!("turn failed: {error}");
                    let _ = tx.send(Msg::To(owner, ScreenMsg::TurnFailed(error)));
                }
            });
        }
        Effect::Pull(owner, model) => {
            let runtime = runtime.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let progress_tx = tx.clone();
                let name = model.clone();
                let total = Arc::new(std::sync::Mutex::new(None));
                let observer = Arc::new(move |e: PullEvent| {
                    let (done, t) = match e {
                        PullEvent::Started {
                            total: t,
                            resumed_from,
                            ..
                        } => {
                            if let Ok(mut total) = total.lock() {
                                *total = t;
                            }
                            (resumed_from, t)
                        }
                        PullEvent::Progress { done, .. } => {
                            (done, total.lock().ok().and_then(|t| *t))
                        }
                        _ => return,
                    };
                    let progress = ScreenMsg::PullProgress {
                        model: name.clone(),
                        done,
                        total: t,
                    };
                    let _ = progress_tx.send(Msg::To(owner, progress));
                });
                let result = match runtime.catalog.get(&model) {
                    Ok(spec) => Puller::new(&runtime.paths.model_dir, observer)
                        .pull(spec, None)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let _ = tx.send(Msg::To(owner, ScreenMsg::Pulled { model, result }));
            });
        }
        Effect::Copy(text) => {
            let mut out = std::io::stdout();
            let _ = out.write_all(clipboard::osc52(&text).as_bytes());
            let _ = out.flush();
        }
        Effect::SetMouse(on) => {
            let _ = terminal::set_mouse(on);
        }
        Effect::CompletePath { text, seq } => {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let completion = complete::complete_path(&text);
                let _ = tx.send(Msg::Completed { seq, completion });
            });
        }
        Effect::SearchSessions { owner, query, seq } => {
            let store = SessionStore::new(runtime.store.clone());
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let result = store
                    .search(&query)
                    .map(|hits| hits.into_iter().map(|h| h.session.id).collect())
                    .map_err(|e| e.to_string());
                let _ = tx.send(Msg::To(owner, ScreenMsg::SessionHits { seq, result }));
            });
        }
        Effect::Store(owner, jobs) => {
            let store = SessionStore::new(runtime.store.clone());
            let outbox = store_outbox(tx, owner);
            tokio::task::spawn_blocking(move || jobs::run_batch(&store, jobs, &outbox));
        }
        Effect::Guard(owner, job) => {
            guard_jobs::run(job, orchestrator, &outbox(tx, owner, ScreenMsg::Guard))
        }
        Effect::Kb(owner, job) => {
            kb_jobs::run(job, orchestrator, &outbox(tx, owner, ScreenMsg::Kb))
        }
        Effect::Compare(owner, job) => {
            compare_jobs::run(job, orchestrator, &outbox(tx, owner, ScreenMsg::Compare))
        }
        Effect::Eval(owner, job) => {
            eval_jobs::run(job, orchestrator, &outbox(tx, owner, ScreenMsg::Eval))
        }
        Effect::Agent(owner, job) => {
            agent_jobs::run(job, orchestrator, &outbox(tx, owner, ScreenMsg::Agent))
        }
        // The router handles these itself (they never reach a runner).
        Effect::Show(_) | Effect::Send(..) => {}
        Effect::OpenEditor(..) | Effect::OpenFile { .. } | Effect::Quit => {}
    }
}

/// Where a job's answers go: to the app's queue, addressed to the screen that asked.
fn outbox<T: 'static>(
    tx: &UnboundedSender<Msg>,
    owner: ScreenId,
    wrap: fn(T) -> ScreenMsg,
) -> Outbox<T> {
    let tx = tx.clone();
    Outbox::new(move |answer| tx.send(Msg::To(owner, wrap(answer))).is_ok())
}

/// Where storage answers go (see `outbox`).
fn store_outbox(tx: &UnboundedSender<Msg>, owner: ScreenId) -> Outbox<StoreMsg> {
    outbox(tx, owner, ScreenMsg::Store)
}
