//! Agent work the UI asks for instead of doing it on its own task: listing agents and runs,
//! loading a run with its steps, starting a run of an agent, resuming a run that waits for
//! an approval, forking or replaying one, diffing two. A live run is held by the screen's
//! `DebugGate` (pause, one step, continue, edit the step) and asks the screen's
//! `ScreenApprover` about calls that need approval; its events and its end come back as
//! `AgentMsg`s on an `Outbox`.

use std::path::PathBuf;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio_util::sync::CancellationToken;

use super::outbox::Outbox;
use crate::agents::{launch, AgentEntry, Catalog};
use crate::eval::rescore::ItemRef;
use crate::orchestrator::approval::{
    ApprovalRequest, Approver, Decision, GateAction, NextStep, StepGate,
};
use crate::orchestrator::diff::{diff_steps, RunDiff};
use crate::orchestrator::events::RunEvent;
use crate::orchestrator::runs::{Run, Step};
use crate::orchestrator::{Fork, Orchestrator, Resume, ToolAccess, TurnOutcome};
use crate::runtime::context::Caller;
use crate::runtime::pull::require_downloaded;
use crate::store::Id;

/// A change asked of a fork: only what the user changed is set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForkRequest {
    pub run: Id,
    /// Steps 1..=step are shared (0: from the start).
    pub step: u32,
    pub model: Option<String>,
    pub instructions: Option<String>,
    pub tool_result: Option<(u32, String)>,
    /// Answer tool calls from the parent's recorded results (a replay).
    pub replay: bool,
}

/// How the screen holds a live run: its cancel token and its debugger gate.
#[derive(Clone)]
pub struct RunControl {
    pub cancel: CancellationToken,
    pub gate: Option<Arc<DebugGate>>,
}

impl std::fmt::Debug for RunControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunControl")
            .field("gate", &self.gate.is_some())
            .finish_non_exhaustive()
    }
}

/// One piece of agent work.
#[derive(Debug, Clone)]
pub enum AgentJob {
    /// The agent files and the agent runs.
    List,
    /// A run with its steps (`seq`: only the latest load counts).
    Load {
        run: Id,
        seq: u64,
    },
    /// A run of an agent (by name or file) on a task.
    Start {
        agent: String,
        task: String,
        control: RunControl,
    },
    /// A run waiting for an approval, gone on with the user's decision.
    Resume {
        run: Id,
        decision: Decision,
        control: RunControl,
    },
    Fork {
        fork: ForkRequest,
        control: RunControl,
    },
    /// The call a run waits on (for the chat's approval prompt).
    Pending {
        run: Id,
    },
    /// A run scored again as the evaluation item it was forked from.
    Score {
        item: ItemRef,
        run: Id,
    },
    Diff {
        a: Id,
        b: Id,
    },
    /// An agent file's text, to edit.
    ReadFile {
        path: PathBuf,
    },
    /// Check an agent file written in the TUI and keep it: over `path`, or (`None`) as a
    /// new file named for the agent in the agents folder.
    SaveFile {
        path: Option<PathBuf>,
        text: String,
    },
}

/// A run in the list: itself and its agent's name.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run: Run,
    pub agent: String,
}

/// A run with its steps, read off the UI task.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRun {
    pub run: Run,
    pub steps: Vec<Step>,
}

/// Two runs side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedDiff {
    pub a: Run,
    pub b: Run,
    pub diff: RunDiff,
}

/// The answers.
#[derive(Debug)]
pub enum AgentMsg {
    List(Result<(Vec<AgentEntry>, Vec<RunRow>), String>),
    Loaded {
        seq: u64,
        result: Result<Box<LoadedRun>, String>,
    },
    /// Something happened in a live run (a step began or ended).
    Event(Box<RunEvent>),
    /// The debugger holds the run before this step.
    Held(NextStep),
    /// A call waits for the user: the decision goes back on `reply` (`None`: later; the run
    /// stops as awaiting approval).
    Approval {
        request: ApprovalRequest,
        reply: oneshot::Sender<Option<Decision>>,
    },
    /// A live run ended (done, failed, or stopped for an approval), or could not start.
    Finished(Result<Box<TurnOutcome>, String>),
    /// The call a stored run waits on, and the run.
    Pending(Result<Box<Run>, String>),
    Diff(Result<Box<LoadedDiff>, String>),
    /// A run's scores next to its evaluation item's (`Rescored::summary`).
    Scored {
        run: Id,
        result: Result<String, String>,
    },
    FileRead {
        path: PathBuf,
        result: Result<String, String>,
    },
    /// An agent file was checked and kept (where, and the agent's name), or why not: the
    /// message and the line it names (0: none), with the text as written.
    FileSaved {
        path: Option<PathBuf>,
        text: String,
        result: Result<(PathBuf, String), (String, usize)>,
    },
}

/// What the screen tells a held run.
#[derive(Debug, Clone, PartialEq)]
pub enum GateCommand {
    /// Hold before the next step.
    Pause,
    /// Take one step, then hold again.
    Step,
    /// Take this step with a change (a tool result given by hand, other instructions),
    /// then hold again.
    Edit(GateAction),
    /// Stop holding.
    Continue,
}

/// The debugger's hold on one run: paused or not, and the commands the screen sends.
pub struct DebugGate {
    commands: mpsc::UnboundedSender<GateCommand>,
    state: Mutex<GateState>,
    /// Where "held" is said: the job that runs the run sets it.
    outbox: std::sync::OnceLock<Outbox<AgentMsg>>,
}

struct GateState {
    paused: bool,
    commands: mpsc::UnboundedReceiver<GateCommand>,
}

impl DebugGate {
    /// A gate, paused from the first step or not.
    pub fn new(paused: bool) -> Arc<DebugGate> {
        let (commands, rx) = mpsc::unbounded_channel();
        Arc::new(DebugGate {
            commands,
            state: Mutex::new(GateState {
                paused,
                commands: rx,
            }),
            outbox: std::sync::OnceLock::new(),
        })
    }

    /// Says "held" to `outbox` from now on (the first outbox set stays).
    fn attach(&self, outbox: &Outbox<AgentMsg>) {
        let _ = self.outbox.set(outbox.clone());
    }

    /// Tells the run what to do (it reads it before its next step, or now if it is held).
    pub fn send(&self, command: GateCommand) {
        let _ = self.commands.send(command);
    }
}

#[async_trait]
impl StepGate for DebugGate {
    async fn before(&self, step: NextStep) -> GateAction {
        let mut state = self.state.lock().await;
        // Commands sent while the run was busy: a pause holds this step.
        while let Ok(command) = state.commands.try_recv() {
            match command {
                GateCommand::Pause => state.paused = true,
                GateCommand::Continue => state.paused = false,
                GateCommand::Step | GateCommand::Edit(_) => {}
            }
        }
        if !state.paused {
            return GateAction::Go;
        }
        if let Some(outbox) = self.outbox.get() {
            let _ = outbox.send(AgentMsg::Held(step));
        }
        loop {
            match state.commands.recv().await {
                Some(GateCommand::Step) => return GateAction::Go,
                Some(GateCommand::Edit(action)) => return action,
                Some(GateCommand::Continue) | None => {
                    state.paused = false;
                    return GateAction::Go;
                }
                Some(GateCommand::Pause) => {}
            }
        }
    }
}

/// Asks the screen about a call that needs approval and waits for its answer.
pub struct ScreenApprover {
    outbox: Outbox<AgentMsg>,
}

#[async_trait]
impl Approver for ScreenApprover {
    async fn decide(&self, request: ApprovalRequest) -> Option<Decision> {
        let (reply, answer) = oneshot::channel();
        self.outbox
            .send(AgentMsg::Approval { request, reply })
            .ok()?;
        answer.await.ok().flatten()
    }
}

/// Starts the work off the UI task.
pub fn run(job: AgentJob, orchestrator: &Orchestrator, tx: &Outbox<AgentMsg>) {
    let orchestrator = orchestrator.clone();
    let tx = tx.clone();
    let catalog = Catalog::new(&orchestrator.runtime().paths);
    match job {
        AgentJob::ReadFile { path } => {
            tokio::task::spawn_blocking(move || {
                let result = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()));
                let _ = tx.send(AgentMsg::FileRead { path, result });
            });
        }
        AgentJob::SaveFile { path, text } => {
            tokio::task::spawn_blocking(move || {
                let result = save_file(&catalog, path.as_deref(), &text);
                let _ = tx.send(AgentMsg::FileSaved { path, text, result });
            });
        }
        AgentJob::List => {
            tokio::task::spawn_blocking(move || {
                let result = list(&catalog, &orchestrator).map_err(|e| format!("{e:#}"));
                let _ = tx.send(AgentMsg::List(result));
            });
        }
        AgentJob::Load { run, seq } => {
            tokio::task::spawn_blocking(move || {
                let result = load(&orchestrator, run)
                    .map(Box::new)
                    .map_err(|e| format!("{e:#}"));
                let _ = tx.send(AgentMsg::Loaded { seq, result });
            });
        }
        AgentJob::Pending { run } => {
            tokio::task::spawn_blocking(move || {
                let result = load(&orchestrator, run)
                    .map(|l| Box::new(l.run))
                    .map_err(|e| format!("{e:#}"));
                let _ = tx.send(AgentMsg::Pending(result));
            });
        }
        AgentJob::Score { item, run } => {
            tokio::spawn(async move {
                let evals = crate::eval::Evals::new(orchestrator);
                let result = evals
                    .rescore(item, run)
                    .await
                    .map(|r| r.summary())
                    .map_err(|e| e.to_string());
                let _ = tx.send(AgentMsg::Scored { run, result });
            });
        }
        AgentJob::Diff { a, b } => {
            tokio::task::spawn_blocking(move || {
                let result = (|| {
                    let (a, b) = (load(&orchestrator, a)?, load(&orchestrator, b)?);
                    let diff = diff_steps(&a.steps, &b.steps);
                    Ok::<_, anyhow::Error>(Box::new(LoadedDiff {
                        a: a.run,
                        b: b.run,
                        diff,
                    }))
                })()
                .map_err(|e| format!("{e:#}"));
                let _ = tx.send(AgentMsg::Diff(result));
            });
        }
        AgentJob::Start {
            agent,
            task,
            control,
        } => {
            tokio::spawn(async move {
                let result = start(&catalog, &orchestrator, &agent, &task, control, &tx).await;
                let _ = tx.send(AgentMsg::Finished(result));
            });
        }
        AgentJob::Resume {
            run,
            decision,
            control,
        } => {
            tokio::spawn(async move {
                let result = resume(&catalog, &orchestrator, run, decision, control, &tx).await;
                let _ = tx.send(AgentMsg::Finished(result));
            });
        }
        AgentJob::Fork { fork, control } => {
            tokio::spawn(async move {
                let result = fork_run(&catalog, &orchestrator, fork, control, &tx).await;
                let _ = tx.send(AgentMsg::Finished(result));
            });
        }
    }
}

fn list(
    catalog: &Catalog,
    orchestrator: &Orchestrator,
) -> anyhow::Result<(Vec<AgentEntry>, Vec<RunRow>)> {
    // `list` installs the shipped examples first.
    let agents = catalog.list()?;
    let runs = launch::agent_runs(orchestrator)?
        .into_iter()
        .map(|(run, agent)| RunRow { run, agent })
        .collect();
    Ok((agents, runs))
}

fn load(orchestrator: &Orchestrator, id: Id) -> anyhow::Result<LoadedRun> {
    let run = orchestrator
        .runs
        .get(id)?
        .ok_or_else(|| anyhow::anyhow!("no run {id}; it may have been deleted with its session"))?;
    let steps = orchestrator.runs.steps(id)?;
    Ok(LoadedRun { run, steps })
}

/// The screen's hold on a run put into its tool access: its gate, and itself as approver.
fn controlled(mut access: ToolAccess, control: &RunControl, tx: &Outbox<AgentMsg>) -> ToolAccess {
    access.approver = Some(Arc::new(ScreenApprover { outbox: tx.clone() }));
    if let Some(gate) = &control.gate {
        gate.attach(tx);
    }
    access.gate = control.gate.clone().map(|g| g as Arc<dyn StepGate>);
    access
}

/// The run's events, for the screen.
fn forward(tx: &Outbox<AgentMsg>) -> impl FnMut(RunEvent) + Send + 'static {
    let tx = tx.clone();
    move |event| {
        // Text arrives token by token: the step list changes when a step begins or ends.
        if !matches!(event, RunEvent::TextDelta { .. }) {
            let _ = tx.send(AgentMsg::Event(Box::new(event)));
        }
    }
}

async fn start(
    catalog: &Catalog,
    orchestrator: &Orchestrator,
    agent: &str,
    task: &str,
    control: RunControl,
    tx: &Outbox<AgentMsg>,
) -> Result<Box<TurnOutcome>, String> {
    let outcome = async {
        let spec = {
            let (catalog, agent) = (catalog.clone(), agent.to_string());
            tokio::task::spawn_blocking(move || catalog.load(&agent)).await??
        };
        require_downloaded(orchestrator.runtime(), &spec.model).map_err(anyhow::Error::msg)?;
        let mut turn = launch::start(orchestrator, &spec, task, None, false).await?;
        turn.cancel = control.cancel.clone();
        turn.access = controlled(turn.access, &control, tx);
        Ok::<_, anyhow::Error>(orchestrator.run_turn(turn, forward(tx)).await?)
    };
    outcome.await.map(Box::new).map_err(|e| format!("{e:#}"))
}

/// A stored run (read off the task) and its tools bound again, under the screen's control.
async fn stored_access(
    catalog: &Catalog,
    orchestrator: &Orchestrator,
    run: Id,
    control: &RunControl,
    tx: &Outbox<AgentMsg>,
) -> anyhow::Result<(LoadedRun, ToolAccess)> {
    let stored = {
        let orchestrator = orchestrator.clone();
        tokio::task::spawn_blocking(move || load(&orchestrator, run)).await??
    };
    let (access, _) = launch::rebind(catalog, orchestrator, &stored.run).await?;
    Ok((stored, controlled(access, control, tx)))
}

async fn resume(
    catalog: &Catalog,
    orchestrator: &Orchestrator,
    run: Id,
    decision: Decision,
    control: RunControl,
    tx: &Outbox<AgentMsg>,
) -> Result<Box<TurnOutcome>, String> {
    let outcome = async {
        let (_, access) = stored_access(catalog, orchestrator, run, &control, tx).await?;
        let resume = Resume {
            run,
            decision,
            access,
            cancel: control.cancel.clone(),
            caller: Caller::Agent,
        };
        Ok::<_, anyhow::Error>(orchestrator.resume(resume, forward(tx)).await?)
    };
    outcome.await.map(Box::new).map_err(|e| format!("{e:#}"))
}

async fn fork_run(
    catalog: &Catalog,
    orchestrator: &Orchestrator,
    request: ForkRequest,
    control: RunControl,
    tx: &Outbox<AgentMsg>,
) -> Result<Box<TurnOutcome>, String> {
    let outcome = async {
        let (stored, access) =
            stored_access(catalog, orchestrator, request.run, &control, tx).await?;
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| stored.run.agent.model.clone());
        require_downloaded(orchestrator.runtime(), &model).map_err(anyhow::Error::msg)?;
        let mut fork = Fork::new(request.run, request.step);
        fork.model = request.model;
        fork.instructions = request.instructions;
        fork.tool_result = request.tool_result;
        fork.replay = request.replay;
        fork.access = access;
        fork.cancel = control.cancel.clone();
        Ok::<_, anyhow::Error>(orchestrator.fork(fork, forward(tx)).await?)
    };
    outcome.await.map(Box::new).map_err(|e| format!("{e:#}"))
}

/// Checks `text` as an agent file and writes it (through a temporary file, so a crash
/// leaves the old file or the new one): over `path`, or as `<agents folder>/NAME.toml`
/// for a new agent, never over another file.
fn save_file(
    catalog: &Catalog,
    path: Option<&std::path::Path>,
    text: &str,
) -> Result<(PathBuf, String), (String, usize)> {
    use crate::agents::spec::{AgentSpec, SpecError};
    let checked_as = path
        .map(PathBuf::from)
        .unwrap_or_else(|| catalog.dir().join("new-agent.toml"));
    let spec = AgentSpec::parse(text, &checked_as).map_err(|e| {
        let line = match &e {
            SpecError::Invalid { problems, .. } => {
                problems.iter().find_map(|p| p.line).unwrap_or(0)
            }
            SpecError::Read { .. } => 0,
        };
        (e.to_string(), line)
    })?;
    let name_line = || {
        text.lines()
            .position(|l| l.trim_start().starts_with("name"))
            .map_or(0, |i| i + 1)
    };
    let target = match path {
        // Through a link (a dotfiles setup) to the file it names, which keeps its mode.
        Some(p) => std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()),
        None => {
            let target = catalog.dir().join(format!("{}.toml", spec.name));
            if target.exists() {
                return Err((
                    format!(
                        "{} exists already: name the agent another way, or edit that one (E)",
                        target.display()
                    ),
                    name_line(),
                ));
            }
            target
        }
    };
    let io = |e: std::io::Error| (format!("cannot write {}: {e}", target.display()), 0);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let trial = target.with_extension("toml.new");
    std::fs::write(&trial, text).map_err(io)?;
    if let Ok(old) = std::fs::metadata(&target) {
        std::fs::set_permissions(&trial, old.permissions()).map_err(io)?;
    }
    std::fs::rename(&trial, &target).map_err(io)?;
    Ok((target, spec.name))
}
