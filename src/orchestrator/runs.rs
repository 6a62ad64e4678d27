//! Agent runs and their steps in sled. A run is one turn of a session (a user message and
//! the model calls and tool calls that answer it); each step is stored as it happens, with
//! its input, output, tokens, time and record id, and with a checkpoint: rig's serialized
//! `AgentRun` after the step plus what the driver needs to go on from there (the tool
//! results of the current batch so far, the answer text). A run paused for an approval is
//! resumed from its pending step's checkpoint; a fork copies steps 1..N with their
//! checkpoints and goes on from N (`resume`).

use serde::{Deserialize, Serialize};

use crate::runtime::types::{Message, ToolCall, Usage};
use crate::sessions::{AgentConfig, SessionStore};
use crate::store::{now_micros, Id, Store, StoreError};

const RUNS: &str = "runs";
const STEPS: &str = "steps";
/// Index: session id + run id → nothing, so a session's runs are a prefix scan.
const SESSION_RUNS: &str = "session_runs";
/// Checkpoints: run id + step index → `Checkpoint` (index 0: before the first step).
const CHECKPOINTS: &str = "run_checkpoints";

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Stopped before a tool call that needs the user's approval (`Run::pending`); goes
    /// on with `Orchestrator::resume`.
    AwaitingApproval,
    Done,
    Cancelled,
    Blocked,
    Failed,
    /// The process ended while it ran.
    Interrupted,
}

/// One run of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: Id,
    pub session: Id,
    /// The agent as it was when the run started.
    pub agent: AgentConfig,
    /// The user message it answers, and the assistant message it writes.
    pub prompt_message: Option<Id>,
    pub answer_message: Id,
    pub status: RunStatus,
    pub started_us: u64,
    pub ended_us: Option<u64>,
    /// How many steps the run has taken (its steps are `RunStore::steps`); stored as
    /// `steps`.
    #[serde(rename = "steps")]
    pub step_count: u32,
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The run this one was forked (or replayed) from, and the step it shares up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<RunParent>,
    /// The agent file the run's tools came from (its path), so a resumed or forked run can
    /// bind them again; none for a chat turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_file: Option<String>,
    /// The tool call the run waits on while `AwaitingApproval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingApproval>,
}

impl Run {
    /// The status as the `--json` outputs and lists name it (`awaiting_approval`, …).
    pub fn status_name(&self) -> &'static str {
        match self.status {
            RunStatus::Running => "running",
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::Done => "done",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Blocked => "blocked",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// Where a forked run came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunParent {
    pub run: Id,
    /// Steps 1..=step are the parent's (0: none, a replay from the start).
    pub step: u32,
}

/// A tool call waiting for the user: the step it will be, the call, and why it asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingApproval {
    pub step: u32,
    pub call: ToolCall,
    pub reason: String,
}

/// What a run needs to go on after a step: rig's state machine, the results of the tool
/// batch in progress (rig takes a batch's results at once), the answer so far and the calls
/// made so far (for repeat detection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// rig-agent's `AgentRun`, serialized (versioned by rig).
    pub agent_run: serde_json::Value,
    /// rig `UserContent::ToolResult`s of the current batch, serialized.
    #[serde(default)]
    pub answered: Vec<serde_json::Value>,
    #[serde(default)]
    pub answer_text: String,
    #[serde(default)]
    pub answer_tool_calls: Vec<ToolCall>,
    /// (tool, canonical arguments) → observation of every tool call so far.
    #[serde(default)]
    pub seen_calls: Vec<((String, String), String)>,
    #[serde(default)]
    pub tool_results: Vec<crate::sessions::ToolResultEntry>,
    /// Instructions a debugger set for the model calls from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A model call (OpenTelemetry GenAI's `chat` operation).
    #[serde(rename = "chat", alias = "model_call")]
    ModelCall,
    /// One tool call run (GenAI's `execute_tool`).
    #[serde(rename = "execute_tool", alias = "tool_call")]
    ToolCall,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub run: Id,
    /// One-based, in order.
    pub index: u32,
    pub kind: StepKind,
    /// What the step was given: the messages sent to the model (after context fitting),
    /// or the tool calls to run.
    pub input: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The model's text (or the tool results as text).
    pub output: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    #[serde(default)]
    pub usage_estimated: bool,
    /// Messages of the session left out to fit the context window.
    #[serde(default)]
    pub dropped_messages: usize,
    /// The prompt's tokens as counted for fitting, and whether that count is an estimate.
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub prompt_tokens_estimated: bool,
    pub started_us: u64,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<Id>,
    /// How the step ended (`ok`, `cancelled`, `blocked`, an error kind…).
    pub outcome: String,
    /// What each check (guardrail) decided on this call, with its time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::runtime::checks::CheckDecision>,
}

impl Step {
    /// A step starting now: nothing given or returned yet, outcome `running`.
    pub fn start(run: Id, index: u32, kind: StepKind) -> Step {
        Step {
            run,
            index,
            kind,
            input: Vec::new(),
            system: None,
            output: String::new(),
            tool_calls: Vec::new(),
            usage: Usage::default(),
            usage_estimated: false,
            dropped_messages: 0,
            prompt_tokens: 0,
            prompt_tokens_estimated: false,
            started_us: now_micros(),
            latency_ms: 0.0,
            record_id: None,
            outcome: "running".into(),
            checks: Vec::new(),
        }
    }
}

fn pair_key(a: Id, b: Id) -> Vec<u8> {
    let mut key = a.as_bytes().to_vec();
    key.extend_from_slice(b.as_bytes());
    key
}

fn step_key(run: Id, index: u32) -> Vec<u8> {
    let mut key = run.as_bytes().to_vec();
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// Keys to delete, per tree.
pub type TreeKeys = Vec<(&'static str, Vec<Vec<u8>>)>;

/// Runs and steps on top of the store.
#[derive(Clone)]
pub struct RunStore {
    store: Store,
}

impl RunStore {
    pub fn new(store: Store) -> RunStore {
        RunStore { store }
    }

    /// A new run of `agent` in `session`, stored as running (and marked in flight).
    pub fn start(
        &self,
        session: Id,
        agent: &AgentConfig,
        prompt_message: Option<Id>,
        answer_message: Id,
    ) -> Result<Run, StoreError> {
        self.start_with(session, agent, prompt_message, answer_message, |_| {})
    }

    /// `start`, with the new run adjusted by `set` before it is first stored.
    pub fn start_with(
        &self,
        session: Id,
        agent: &AgentConfig,
        prompt_message: Option<Id>,
        answer_message: Id,
        set: impl FnOnce(&mut Run),
    ) -> Result<Run, StoreError> {
        let mut run = Run {
            id: Id::new(),
            session,
            agent: agent.clone(),
            prompt_message,
            answer_message,
            status: RunStatus::Running,
            started_us: now_micros(),
            ended_us: None,
            step_count: 0,
            usage: Usage::default(),
            error: None,
            parent: None,
            agent_file: None,
            pending: None,
        };
        set(&mut run);
        self.store.mark_in_flight(RUNS, run.id.as_bytes())?;
        self.save(&run)?;
        self.store
            .tree(SESSION_RUNS)?
            .insert(pair_key(session, run.id), &[])?;
        Ok(run)
    }

    pub fn save(&self, run: &Run) -> Result<(), StoreError> {
        self.store.put(RUNS, run.id.as_bytes(), run)?;
        if run.status == RunStatus::Running {
            self.store.mark_in_flight(RUNS, run.id.as_bytes())?;
        } else {
            self.store.clear_in_flight(RUNS, run.id.as_bytes())?;
        }
        Ok(())
    }

    /// Stores the checkpoint after step `index` of `run` (0: before the first step).
    pub fn put_checkpoint(
        &self,
        run: Id,
        index: u32,
        checkpoint: &Checkpoint,
    ) -> Result<(), StoreError> {
        self.store
            .put(CHECKPOINTS, &step_key(run, index), checkpoint)
    }

    /// The checkpoint after step `index` of `run`.
    pub fn checkpoint(&self, run: Id, index: u32) -> Result<Option<Checkpoint>, StoreError> {
        self.store
            .get(CHECKPOINTS, &step_key(run, index), "run checkpoint")
    }

    pub fn get(&self, id: Id) -> Result<Option<Run>, StoreError> {
        self.store.get(RUNS, id.as_bytes(), "run")
    }

    /// Every run, oldest first.
    pub fn list(&self) -> Result<Vec<Run>, StoreError> {
        self.store.scan_prefix(RUNS, &[], "run")
    }

    /// Stores (or replaces) a step.
    pub fn put_step(&self, step: &Step) -> Result<(), StoreError> {
        self.store.put(STEPS, &step_key(step.run, step.index), step)
    }

    /// A run's steps in order.
    pub fn steps(&self, run: Id) -> Result<Vec<Step>, StoreError> {
        self.store.scan_prefix(STEPS, run.as_bytes(), "step")
    }

    /// The runs of a session, oldest first.
    pub fn for_session(&self, session: Id) -> Result<Vec<Run>, StoreError> {
        let mut runs = Vec::new();
        for key in self
            .store
            .tree(SESSION_RUNS)?
            .scan_prefix(session.as_bytes())
            .keys()
        {
            let key = key?;
            let Some(run_id) = key.get(session.as_bytes().len()..).and_then(Id::from_slice) else {
                continue;
            };
            if let Some(run) = self.get(run_id)? {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// Deletes one run of `session` and its steps (its session was deleted while it ran).
    pub fn delete_run(&self, run: Id, session: Id) -> Result<(), StoreError> {
        for tree in [STEPS, CHECKPOINTS] {
            let tree = self.store.tree(tree)?;
            for key in tree.scan_prefix(run.as_bytes()).keys() {
                tree.remove(key?)?;
            }
        }
        self.store.tree(RUNS)?.remove(run.as_bytes())?;
        self.store.clear_in_flight(RUNS, run.as_bytes())?;
        self.store
            .tree(SESSION_RUNS)?
            .remove(pair_key(session, run))?;
        Ok(())
    }

    /// The keys a session's runs occupy, per tree (runs, steps, the session index), for
    /// deleting them with the session in one transaction.
    pub fn keys_of_session(&self, session: Id) -> Result<TreeKeys, StoreError> {
        let steps = self.store.tree(STEPS)?;
        let checkpoints = self.store.tree(CHECKPOINTS)?;
        let (mut run_keys, mut step_keys, mut index_keys) = (Vec::new(), Vec::new(), Vec::new());
        let mut checkpoint_keys = Vec::new();
        for run in self.for_session(session)? {
            for key in steps.scan_prefix(run.id.as_bytes()).keys() {
                step_keys.push(key?.to_vec());
            }
            for key in checkpoints.scan_prefix(run.id.as_bytes()).keys() {
                checkpoint_keys.push(key?.to_vec());
            }
            run_keys.push(run.id.as_bytes().to_vec());
            index_keys.push(pair_key(session, run.id));
        }
        Ok(vec![
            (RUNS, run_keys),
            (STEPS, step_keys),
            (CHECKPOINTS, checkpoint_keys),
            (SESSION_RUNS, index_keys),
        ])
    }

    /// Runs left running by a process that died become `interrupted`.
    pub fn mark_interrupted(&self) -> Result<usize, StoreError> {
        self.store.settle_in_flight(RUNS, "run", |run: &mut Run| {
            let running = run.status == RunStatus::Running;
            if running {
                run.status = RunStatus::Interrupted;
                run.ended_us = Some(now_micros());
            }
            running
        })
    }
}

/// Deletes a session with its messages, runs and steps, atomically: a crash leaves all of
/// them or none.
pub fn delete_session(sessions: &SessionStore, id: Id) -> Result<(), StoreError> {
    let runs = RunStore::new(sessions.store().clone()).keys_of_session(id)?;
    sessions.delete_with(id, &runs)
}
