//! The Agents screen, the keyboard trace debugger: the agent files and the runs (left), the
//! shown run's steps with the selected step's detail (right). Enter on an agent asks for a
//! task and runs it live; `p` holds a live run before its next step (or starts the next run
//! held), `s` lets one model call or tool call through, `c` continues, `e` changes the held
//! step (its tool result, the instructions); `f` forks the shown run from the selected step
//! (model, instructions, tool result), `R` replays it, `d` marks a run and diffs it with
//! another. Tool calls that need approval open the approval prompt; a stored run waiting
//! for one opens it when the run is opened. Chat answers and evaluation items open their
//! run here (`ScreenMsg::OpenRun`). `n` writes a new agent from a template in `$EDITOR`,
//! `E` edits the selected agent's file; a file that does not check is kept with its
//! error and line, to edit again. Drawing is `view`'s.

mod view;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{Event, Screen, ScreenId, Shared};
use crate::agents::AgentEntry;
use crate::eval::rescore::ItemRef;
use crate::orchestrator::approval::{Decision, NextStep};
use crate::orchestrator::events::RunEvent;
use crate::orchestrator::runs::StepKind;
use crate::store::Id;
use crate::tui::agent_jobs::{
    AgentJob, AgentMsg, DebugGate, ForkRequest, GateCommand, LoadedDiff, LoadedRun, RunControl,
    RunRow,
};
use crate::tui::editor::{EditPurpose, EditRequest};
use crate::tui::forms::{ApprovalPrompt, FieldKind, Form, FormPurpose};
use crate::tui::keymap::{Action, Context};
use crate::tui::layers::{Layer, PromptKind, Reply};
use crate::tui::msg::{Effect, ScreenMsg};

/// The pane that has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Agents,
    Runs,
    Steps,
}

impl Pane {
    fn next(self) -> Pane {
        match self {
            Pane::Agents => Pane::Runs,
            Pane::Runs => Pane::Steps,
            Pane::Steps => Pane::Agents,
        }
    }

    fn prev(self) -> Pane {
        self.next().next()
    }
}

/// A run going on from this screen.
#[derive(Debug)]
pub struct LiveRun {
    /// Known once the run has started.
    pub run: Option<Id>,
    pub control: RunControl,
    /// The step the debugger holds the run before.
    pub held: Option<NextStep>,
    /// What it is (the agent's name, "fork of …", "resume of …").
    pub label: String,
}

/// The Agents screen's state.
pub struct AgentsScreen {
    pub agents: Vec<AgentEntry>,
    pub runs: Vec<RunRow>,
    pub focus: Pane,
    pub agent_selected: usize,
    pub run_selected: usize,
    pub step_selected: usize,
    /// The run shown on the right, with its steps.
    pub shown: Option<LoadedRun>,
    load_seq: u64,
    pub live: Option<LiveRun>,
    /// The live run's question about a call, waiting for the prompt's answer.
    approval_reply: Option<oneshot::Sender<Option<Decision>>>,
    /// The agent whose task the prompt asks for.
    task_for: Option<String>,
    /// New runs start held before their first step.
    pub start_paused: bool,
    /// The run marked as the left side of a diff.
    pub marked: Option<Id>,
    pub diff: Option<LoadedDiff>,
    pub detail_scroll: u16,
    /// The load (its number) whose run opens the approval prompt if it waits for one.
    prompt_on_load: Option<u64>,
    /// A run opened from an evaluation item, and the item: its forks are scored again.
    pub from_item: Option<(Id, ItemRef)>,
    /// The run the live fork was made from.
    fork_of: Option<Id>,
    /// The run whose newest step stays selected as it grows (the live run, until the user
    /// moves the selection).
    follow: Option<Id>,
    /// A fork's scores beside its evaluation item's: the fork, the summary.
    pub scored: Option<(Id, String)>,
    pub error: Option<String>,
    /// An agent file written in `$EDITOR` that did not check: where it goes (`None`: a
    /// new agent), the text, the error and its line (E edits it again, Esc drops it).
    pub kept: Option<KeptFile>,
}

/// An agent file that did not check, kept to edit again.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptFile {
    pub path: Option<std::path::PathBuf>,
    pub text: String,
    pub error: String,
    pub line: usize,
}

impl Default for AgentsScreen {
    fn default() -> Self {
        AgentsScreen {
            agents: Vec::new(),
            runs: Vec::new(),
            focus: Pane::Agents,
            agent_selected: 0,
            run_selected: 0,
            step_selected: 0,
            shown: None,
            load_seq: 0,
            live: None,
            approval_reply: None,
            task_for: None,
            start_paused: false,
            marked: None,
            diff: None,
            detail_scroll: 0,
            prompt_on_load: None,
            from_item: None,
            fork_of: None,
            follow: None,
            scored: None,
            error: None,
            kept: None,
        }
    }
}

fn job(job: AgentJob) -> Effect {
    Effect::Agent(ScreenId::Agents, job)
}

impl AgentsScreen {
    /// Whether a run goes on from this screen.
    pub fn is_running(&self) -> bool {
        self.live.is_some()
    }

    /// Whether the debugger holds the live run.
    pub fn is_held(&self) -> bool {
        self.live.as_ref().is_some_and(|l| l.held.is_some())
    }

    fn load(&mut self, run: Id) -> Effect {
        self.load_seq += 1;
        job(AgentJob::Load {
            run,
            seq: self.load_seq,
        })
    }

    /// A new live run under this screen's hold.
    fn control(&mut self, label: String) -> RunControl {
        let control = RunControl {
            cancel: CancellationToken::new(),
            gate: Some(DebugGate::new(self.start_paused)),
        };
        self.live = Some(LiveRun {
            run: None,
            control: control.clone(),
            held: None,
            label,
        });
        self.diff = None;
        control
    }

    fn busy(&self, cx: &mut Shared) -> bool {
        if self.live.is_some() {
            cx.flash = Some("a run is going on: wait for it, or Ctrl-C stops it".into());
            return true;
        }
        false
    }

    fn move_by(&mut self, delta: isize) -> Vec<Effect> {
        let moved = |i: usize, n: usize| i.saturating_add_signed(delta).min(n.saturating_sub(1));
        match self.focus {
            Pane::Agents => {
                self.agent_selected = moved(self.agent_selected, self.agents.len());
            }
            Pane::Runs => {
                let before = self.run_selected;
                self.run_selected = moved(self.run_selected, self.runs.len());
                if before != self.run_selected {
                    if let Some(row) = self.runs.get(self.run_selected) {
                        let id = row.run.id;
                        if self.live.as_ref().and_then(|l| l.run) != Some(id) {
                            self.follow = None;
                        }
                        return vec![self.load(id)];
                    }
                }
            }
            Pane::Steps => {
                let n = self.shown.as_ref().map_or(0, |s| s.steps.len());
                self.step_selected = moved(self.step_selected, n);
                self.detail_scroll = 0;
                self.follow = None;
            }
        }
        Vec::new()
    }

    /// Enter: run the selected agent (the prompt asks for the task), or open the run.
    fn open(&mut self, cx: &mut Shared) -> Vec<Effect> {
        match self.focus {
            Pane::Agents => {
                let Some(agent) = self.agents.get(self.agent_selected) else {
                    return Vec::new();
                };
                if let Some(problem) = agent.problems.first() {
                    cx.flash = Some(format!("{} does not load: {problem}", agent.name));
                    return Vec::new();
                }
                if self.busy(cx) {
                    return Vec::new();
                }
                self.task_for = Some(agent.path.display().to_string());
                cx.open(Layer::Prompt(PromptKind::AgentTask, Default::default()));
                Vec::new()
            }
            Pane::Runs => {
                let Some(row) = self.runs.get(self.run_selected) else {
                    return Vec::new();
                };
                let id = row.run.id;
                self.focus = Pane::Steps;
                vec![self.open_run(id)]
            }
            Pane::Steps => match &self.shown {
                Some(shown) => {
                    let id = shown.run.id;
                    vec![self.open_run(id)]
                }
                None => Vec::new(),
            },
        }
    }

    /// Reads a run to show it; it asks for the decision it waits for, if any.
    fn open_run(&mut self, run: Id) -> Effect {
        if self.live.as_ref().and_then(|l| l.run) != Some(run) {
            self.follow = None;
        }
        let load = self.load(run);
        self.prompt_on_load = Some(self.load_seq);
        load
    }

    fn start(&mut self, task: String, cx: &mut Shared) -> Vec<Effect> {
        let Some(agent) = self.task_for.take() else {
            return Vec::new();
        };
        if task.trim().is_empty() {
            cx.flash = Some("the task is empty: nothing was run".into());
            return Vec::new();
        }
        let name = self
            .agents
            .iter()
            .find(|a| a.path.display().to_string() == agent)
            .map_or(agent.clone(), |a| a.name.clone());
        let control = self.control(name);
        self.focus = Pane::Steps;
        vec![job(AgentJob::Start {
            agent,
            task,
            control,
        })]
    }

    /// Tells the live run's gate something, if the run is held (or `always`).
    fn command(&mut self, command: GateCommand, always: bool, cx: &mut Shared) {
        let Some(live) = &mut self.live else {
            if command == GateCommand::Pause {
                self.start_paused = !self.start_paused;
                cx.flash = Some(if self.start_paused {
                    "the next run starts held before its first step".into()
                } else {
                    "the next run starts without holding".into()
                });
            } else {
                cx.flash = Some("no run is going on".into());
            }
            return;
        };
        if !always && live.held.is_none() {
            cx.flash = Some("the run is not held: p pauses it before its next step".into());
            return;
        }
        if let Some(gate) = &live.control.gate {
            gate.send(command.clone());
        }
        if command != GateCommand::Pause {
            live.held = None;
        } else {
            cx.flash = Some("pausing before the next step…".into());
        }
    }

    /// `e`: change the step the debugger holds before it runs.
    fn edit_held(&mut self, cx: &mut Shared) {
        let Some((run, held)) = self
            .live
            .as_ref()
            .and_then(|l| Some((l.run?, l.held.clone()?)))
        else {
            cx.flash = Some("nothing is held: p pauses the live run before its next step".into());
            return;
        };
        let field = match held.kind {
            StepKind::ToolCall => (FieldKind::ToolResult(held.index), String::new()),
            StepKind::ModelCall => (
                FieldKind::Instructions,
                held.instructions.clone().unwrap_or_default(),
            ),
        };
        cx.open(Layer::Form(Box::new(Form::new(
            FormPurpose::EditHeld,
            run,
            held.index,
            vec![field],
        ))));
    }

    /// `f`: the fork form for the shown run at the selected step: a model step is done
    /// again with the change (the fork shares the steps before it); a tool step keeps its
    /// place, with the result the form gives, and the steps after it are done again.
    fn fork_form(&mut self, cx: &mut Shared) {
        let Some(shown) = &self.shown else {
            cx.flash = Some("open a run first (Enter on a run)".into());
            return;
        };
        let step = shown.steps.get(self.step_selected);
        let index = match step {
            Some(s) if s.kind == StepKind::ToolCall => s.index,
            Some(s) => s.index.saturating_sub(1),
            None => 0,
        };
        let mut fields = vec![
            (FieldKind::Model, shown.run.agent.model.clone()),
            (
                FieldKind::Instructions,
                shown.run.agent.instructions.clone().unwrap_or_default(),
            ),
        ];
        if let Some(step) = step.filter(|s| s.kind == StepKind::ToolCall) {
            fields.push((FieldKind::ToolResult(step.index), step.output.clone()));
        }
        cx.open(Layer::Form(Box::new(Form::new(
            FormPurpose::Fork,
            shown.run.id,
            index,
            fields,
        ))));
    }

    fn fork(&mut self, request: ForkRequest, cx: &mut Shared) -> Vec<Effect> {
        if self.busy(cx) {
            return Vec::new();
        }
        let label = if request.replay {
            format!("replay of {}", short_id(request.run))
        } else {
            format!("fork of {} at step {}", short_id(request.run), request.step)
        };
        self.fork_of = Some(request.run);
        let control = self.control(label);
        vec![job(AgentJob::Fork {
            fork: request,
            control,
        })]
    }

    /// `d`: mark the shown run, or diff it with the marked one (with its parent when
    /// nothing is marked and it is a fork).
    fn diff(&mut self, cx: &mut Shared) -> Vec<Effect> {
        let Some(shown) = &self.shown else {
            cx.flash = Some("open a run first (Enter on a run)".into());
            return Vec::new();
        };
        let id = shown.run.id;
        let other = self.marked.filter(|m| *m != id).or(shown
            .run
            .parent
            .map(|p| p.run)
            .filter(|_| self.marked.is_none()));
        match other {
            Some(a) => {
                self.marked = None;
                vec![job(AgentJob::Diff { a, b: id })]
            }
            None => {
                self.marked = Some(id);
                cx.flash = Some(format!(
                    "run {} marked: open another run and press d to diff them",
                    short_id(id)
                ));
                Vec::new()
            }
        }
    }

    /// The approval prompt over a stored run that waits for one.
    fn prompt_pending(&mut self, loaded: &LoadedRun, cx: &mut Shared) {
        if let Some(prompt) = ApprovalPrompt::for_run(ScreenId::Agents, &loaded.run) {
            cx.open(Layer::Approval(Box::new(prompt)));
        }
    }

    fn on_reply(&mut self, reply: Reply, cx: &mut Shared) -> Vec<Effect> {
        match reply {
            Reply::Prompt(PromptKind::AgentTask, input) => self.start(input.text().to_string(), cx),
            Reply::Approval { run, decision, .. } => {
                if let Some(reply) = self.approval_reply.take() {
                    // The live run asked: it goes on (or stops, awaiting, on "later").
                    let _ = reply.send(decision);
                    return Vec::new();
                }
                let Some(decision) = decision else {
                    cx.flash = Some(format!(
                        "run {} waits for your decision (Enter on it asks again)",
                        short_id(run)
                    ));
                    return Vec::new();
                };
                if self.busy(cx) {
                    return Vec::new();
                }
                let control = self.control(format!("resume of {}", short_id(run)));
                vec![job(AgentJob::Resume {
                    run,
                    decision,
                    control,
                })]
            }
            Reply::Form(form) => match form.purpose {
                FormPurpose::Fork => self.fork(form.fork_request(), cx),
                FormPurpose::EditHeld => {
                    let action = form.gate_action();
                    self.command(GateCommand::Edit(action), false, cx);
                    Vec::new()
                }
            },
            _ => Vec::new(),
        }
    }

    /// `$EDITOR` on an agent file's text (`path`: `None` for a new agent), at `line`.
    fn edit_file(
        &self,
        path: Option<std::path::PathBuf>,
        text: String,
        line: usize,
    ) -> Vec<Effect> {
        let purpose = match path {
            Some(p) => EditPurpose::AgentFile(p),
            None => EditPurpose::NewAgent,
        };
        let mut request = EditRequest::new(ScreenId::Agents, purpose, text);
        request.line = Some(line).filter(|l| *l > 0);
        vec![Effect::OpenEditor(request)]
    }

    fn on_msg(&mut self, msg: AgentMsg, cx: &mut Shared) -> Vec<Effect> {
        match msg {
            AgentMsg::FileRead { path, result } => {
                return match result {
                    Ok(text) => self.edit_file(Some(path), text, 0),
                    Err(e) => {
                        cx.flash = Some(e);
                        Vec::new()
                    }
                };
            }
            AgentMsg::FileSaved { path, text, result } => match result {
                Ok((at, name)) => {
                    self.kept = None;
                    cx.flash = Some(format!("saved agent {name} in {}", at.display()));
                    return vec![job(AgentJob::List)];
                }
                Err((error, line)) => {
                    cx.flash = Some(
                        "the agent file does not check: E edits it again, Esc drops it".into(),
                    );
                    self.kept = Some(KeptFile {
                        path,
                        text,
                        error,
                        line,
                    });
                }
            },
            AgentMsg::List(Ok((agents, runs))) => {
                let keep = self.runs.get(self.run_selected).map(|r| r.run.id);
                self.agents = agents;
                self.runs = runs;
                self.agent_selected = self.agent_selected.min(self.agents.len().saturating_sub(1));
                self.run_selected = keep
                    .and_then(|id| self.runs.iter().position(|r| r.run.id == id))
                    .unwrap_or(0);
                self.error = None;
            }
            AgentMsg::List(Err(e)) => self.error = Some(e),
            AgentMsg::Loaded { seq, result } if seq == self.load_seq => match result {
                Ok(loaded) => {
                    let same = self.shown.as_ref().map(|s| s.run.id) == Some(loaded.run.id);
                    if !same {
                        self.step_selected = 0;
                        self.detail_scroll = 0;
                        self.diff = None;
                    }
                    // A live run's newest step is the one to look at.
                    if self.follow == Some(loaded.run.id) {
                        self.step_selected = loaded.steps.len().saturating_sub(1);
                    }
                    self.step_selected =
                        self.step_selected.min(loaded.steps.len().saturating_sub(1));
                    if self.prompt_on_load.take() == Some(seq) && self.live.is_none() {
                        self.prompt_pending(&loaded, cx);
                    }
                    self.shown = Some(*loaded);
                }
                Err(e) => {
                    self.prompt_on_load = None;
                    self.error = Some(e);
                }
            },
            AgentMsg::Loaded { .. } => {}
            AgentMsg::Event(event) => return self.on_event(*event),
            AgentMsg::Held(step) => {
                let run = step.run;
                if let Some(live) = &mut self.live {
                    live.held = Some(step);
                }
                return self.reload_live(run);
            }
            AgentMsg::Approval { request, reply } => {
                self.approval_reply = Some(reply);
                cx.open(Layer::Approval(Box::new(ApprovalPrompt::for_request(
                    ScreenId::Agents,
                    request,
                ))));
            }
            AgentMsg::Finished(result) => {
                self.live = None;
                self.approval_reply = None;
                let fork_of = self.fork_of.take();
                match result {
                    Ok(outcome) => {
                        let mut fx = vec![job(AgentJob::List)];
                        fx.extend(self.reload_live(outcome.run));
                        // A fork of a run opened from an evaluation item: scored again.
                        if let Some((_, item)) = self
                            .from_item
                            .filter(|(run, _)| Some(*run) == fork_of && outcome.pending.is_none())
                        {
                            fx.push(job(AgentJob::Score {
                                item,
                                run: outcome.run,
                            }));
                        }
                        cx.flash = Some(match (&outcome.pending, &outcome.error) {
                            (Some(p), _) => format!(
                                "run {} waits for your approval of {} (Enter on it decides)",
                                short_id(outcome.run),
                                p.call.name
                            ),
                            (None, Some(e)) => format!("the run failed: {}", e.message),
                            (None, None) => format!("run {} done", short_id(outcome.run)),
                        });
                        return fx;
                    }
                    Err(e) => {
                        cx.flash = Some(format!("the run could not go on: {e}"));
                        self.error = Some(e);
                    }
                }
            }
            AgentMsg::Pending(_) => {}
            AgentMsg::Scored {
                run,
                result: Ok(summary),
            } => {
                cx.flash = Some(format!("scored again: {summary}"));
                self.scored = Some((run, summary));
            }
            AgentMsg::Scored { result: Err(e), .. } => {
                cx.flash = Some(format!("cannot score the fork: {e}"))
            }
            AgentMsg::Diff(Ok(diff)) => {
                self.diff = Some(*diff);
                self.detail_scroll = 0;
            }
            AgentMsg::Diff(Err(e)) => cx.flash = Some(format!("cannot diff: {e}")),
        }
        Vec::new()
    }

    fn on_event(&mut self, event: RunEvent) -> Vec<Effect> {
        match event {
            RunEvent::Started { run, .. } => {
                if let Some(live) = &mut self.live {
                    live.run = Some(run);
                }
                self.follow = Some(run);
                vec![job(AgentJob::List), self.load(run)]
            }
            RunEvent::ToolCall { .. } | RunEvent::ToolResult { .. } | RunEvent::Usage { .. } => {
                match self.live.as_ref().and_then(|l| l.run) {
                    Some(run) => self.reload_live(run),
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }
}

impl AgentsScreen {
    /// The live run read again, when it is the one on show (a user looking at another
    /// run is not pulled back to it).
    fn reload_live(&mut self, run: Id) -> Vec<Effect> {
        let shown = self.shown.as_ref().map(|s| s.run.id);
        if shown == Some(run) || self.follow == Some(run) {
            vec![self.load(run)]
        } else {
            Vec::new()
        }
    }
}

/// The last eight characters of an id (its random part; the first ones are a time that
/// runs made together share), where space is short.
pub fn short_id(id: Id) -> String {
    let text = id.to_string();
    text[text.len().saturating_sub(8)..].to_string()
}

impl Screen for AgentsScreen {
    fn id(&self) -> ScreenId {
        ScreenId::Agents
    }

    fn contexts(&self) -> Vec<Context> {
        vec![Context::Agents]
    }

    fn on_show(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        vec![job(AgentJob::List)]
    }

    fn update(&mut self, event: Event, cx: &mut Shared) -> Vec<Effect> {
        use Action as A;
        match event {
            Event::Msg(ScreenMsg::Agent(msg)) => self.on_msg(msg, cx),
            Event::Msg(ScreenMsg::OpenRun { run, item }) => {
                self.from_item = item.map(|i| (run, i));
                self.focus = Pane::Steps;
                vec![job(AgentJob::List), self.open_run(run)]
            }
            Event::Reply(reply) => self.on_reply(reply, cx),
            Event::Action(A::NewItem) => match self.kept.clone() {
                Some(k) if k.path.is_none() => self.edit_file(None, k.text, k.line),
                Some(_) => {
                    cx.flash =
                        Some("an edit that did not check is kept: E edits it, Esc drops it".into());
                    Vec::new()
                }
                None => self.edit_file(None, crate::agents::template::TEMPLATE.to_string(), 0),
            },
            Event::Action(A::EditItem) => {
                match (self.kept.clone(), self.agents.get(self.agent_selected)) {
                    (Some(k), _) => self.edit_file(k.path, k.text, k.line),
                    (None, Some(a)) => vec![job(AgentJob::ReadFile {
                        path: a.path.clone(),
                    })],
                    (None, None) => Vec::new(),
                }
            }
            Event::Action(A::Cancel) if self.kept.is_some() && self.diff.is_none() => {
                self.kept = None;
                cx.flash = Some("dropped the edit".into());
                Vec::new()
            }
            Event::Msg(ScreenMsg::EditorDone(purpose, result)) => match (purpose, result) {
                (_, Err(e)) => {
                    cx.flash = Some(format!("editor: {e}"));
                    Vec::new()
                }
                (EditPurpose::NewAgent, Ok(text)) if text == crate::agents::template::TEMPLATE => {
                    cx.flash = Some("nothing changed: no agent made".into());
                    Vec::new()
                }
                (EditPurpose::NewAgent, Ok(text)) => {
                    vec![job(AgentJob::SaveFile { path: None, text })]
                }
                (EditPurpose::AgentFile(path), Ok(text)) => {
                    vec![job(AgentJob::SaveFile {
                        path: Some(path),
                        text,
                    })]
                }
                _ => Vec::new(),
            },
            Event::Action(A::ListUp | A::ScrollUp) => self.move_by(-1),
            Event::Action(A::ListDown | A::ScrollDown) => self.move_by(1),
            Event::Action(A::FocusNext) => {
                self.focus = self.focus.next();
                Vec::new()
            }
            Event::Action(A::FocusPrev) => {
                self.focus = self.focus.prev();
                Vec::new()
            }
            Event::Action(A::PageDown) => {
                self.detail_scroll = self.detail_scroll.saturating_add(5);
                Vec::new()
            }
            Event::Action(A::PageUp) => {
                self.detail_scroll = self.detail_scroll.saturating_sub(5);
                Vec::new()
            }
            Event::Action(A::OpenSession) => self.open(cx),
            Event::Action(A::PauseRun) => {
                self.command(GateCommand::Pause, true, cx);
                Vec::new()
            }
            Event::Action(A::StepRun) => {
                self.command(GateCommand::Step, false, cx);
                Vec::new()
            }
            Event::Action(A::ContinueRun) => {
                self.command(GateCommand::Continue, true, cx);
                Vec::new()
            }
            Event::Action(A::EditStep) => {
                self.edit_held(cx);
                Vec::new()
            }
            Event::Action(A::ForkRun) => {
                if !self.busy(cx) {
                    self.fork_form(cx);
                }
                Vec::new()
            }
            Event::Action(A::ReplayRun) => match &self.shown {
                Some(shown) => {
                    let request = ForkRequest {
                        run: shown.run.id,
                        replay: true,
                        ..ForkRequest::default()
                    };
                    self.fork(request, cx)
                }
                None => {
                    cx.flash = Some("open a run first (Enter on a run)".into());
                    Vec::new()
                }
            },
            Event::Action(A::DiffRuns) => self.diff(cx),
            Event::Action(A::Cancel) if self.diff.is_some() => {
                self.diff = None;
                Vec::new()
            }
            Event::Action(A::Cancel) => {
                self.cancel_work(cx);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut ratatui::Frame, area: ratatui::layout::Rect, cx: &Shared) {
        view::draw(self, frame, area, cx);
    }

    fn status(&self, _cx: &Shared) -> Vec<String> {
        let state = match &self.live {
            None if self.start_paused => " idle · next run starts held ".to_string(),
            None => " idle ".to_string(),
            Some(live) => match &live.held {
                Some(step) => format!(" {} · held before step {} ", live.label, step.index),
                None => format!(" {} · running ", live.label),
            },
        };
        let keys = if self.is_held() {
            "s step · c continue · e edit step · Ctrl-C stop"
        } else if self.live.is_some() {
            "p pause · Ctrl-C stop"
        } else {
            "Enter run · n new · E edit · f fork · R replay · d diff · p held"
        };
        vec![state, keys.into()]
    }

    fn focus_context(&mut self, _context: Context, _cx: &mut Shared) {}

    fn is_busy(&self) -> bool {
        self.live.is_some()
    }

    fn unfinished(&self) -> Option<&CancellationToken> {
        self.live.as_ref().map(|l| &l.control.cancel)
    }

    fn cancel_work(&mut self, cx: &mut Shared) -> bool {
        match &self.live {
            Some(live) => {
                live.control.cancel.cancel();
                cx.flash = Some("stopping the run (its steps so far are kept)…".into());
                true
            }
            None => false,
        }
    }

    fn on_quit(&mut self, _cx: &mut Shared) -> Vec<Effect> {
        if let Some(live) = &self.live {
            live.control.cancel.cancel();
        }
        if let Some(reply) = self.approval_reply.take() {
            let _ = reply.send(None);
        }
        Vec::new()
    }
}
