//! The messages and effects every screen, layer and job trades: `ScreenId` (which screen),
//! `Msg` (what comes in), `ScreenMsg` (what is addressed to one screen) and `Effect` (work
//! to start). A leaf: it imports no screen and not `App`; routing is `App`'s job and
//! running effects the runner's.

use crossterm::event::KeyEvent;

use super::agent_jobs::{AgentJob, AgentMsg};
use super::compare_jobs::{CompareJob, CompareMsg};
use super::eval_jobs::{EvalJob, EvalMsg};
use super::guard_jobs::{GuardJob, GuardMsg};
use super::jobs::{StoreJob, StoreMsg};
use super::kb_jobs::{KbJob, KbMsg};
use crate::orchestrator::events::RunEvent;
use crate::orchestrator::Turn;
use crate::runtime::types::StreamEvent;
use crate::sessions::{ChatMessage, Session};
use crate::store::Id;

/// The screens, in the order the screen-switch key cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScreenId {
    /// Sessions, the conversation and the input box.
    Chat,
    /// Guardrails: their versions with diffs, and a sandbox.
    Guardrails,
    /// Knowledge bases: sync progress and a query playground.
    Knowledge,
    /// One question to several models side by side, with votes.
    Compare,
    /// Evaluation jobs: progress, summaries, items and charts.
    Evals,
    /// Agents and their runs: steps, approvals, and the debugger.
    Agents,
}

impl ScreenId {
    /// Every screen, in switching order.
    pub const ALL: &'static [ScreenId] = &[
        ScreenId::Chat,
        ScreenId::Guardrails,
        ScreenId::Knowledge,
        ScreenId::Compare,
        ScreenId::Evals,
        ScreenId::Agents,
    ];

    /// The screen's name, as the palette and the status bar show it.
    pub fn name(self) -> &'static str {
        match self {
            ScreenId::Chat => "Chat",
            ScreenId::Guardrails => "Guardrails",
            ScreenId::Knowledge => "Knowledge",
            ScreenId::Compare => "Compare",
            ScreenId::Evals => "Evaluations",
            ScreenId::Agents => "Agents",
        }
    }

    /// One line on what the screen is for.
    pub fn description(self) -> &'static str {
        match self {
            ScreenId::Chat => "conversations with a model",
            ScreenId::Guardrails => "guardrail versions, diffs and a sandbox",
            ScreenId::Knowledge => "knowledge bases, sync progress and a query playground",
            ScreenId::Compare => "one question to 2-4 models side by side, with votes",
            ScreenId::Evals => "evaluation jobs: progress, summary, items and charts",
            ScreenId::Agents => "agent runs: steps, approvals, pause/step, fork, replay, diff",
        }
    }

    /// Where the screen stands in `ALL`.
    pub fn index(self) -> usize {
        ScreenId::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The screen after this one (wrapping).
    pub fn next(self) -> ScreenId {
        let all = ScreenId::ALL;
        all[(self.index() + 1) % all.len()]
    }
}

/// Inbound messages: input events, and answers addressed to the screen that owns them.
// Messages are moved once through the channel; boxing `To` would allocate for every
// streamed delta, the most frequent message by far.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    /// Mouse wheel (when mouse capture is on): lines to scroll.
    Scroll(i16),
    Resize(u16, u16),
    /// `$EDITOR` closed on a cited file.
    FileClosed(Result<(), String>),
    /// A path typed in a form, completed (for the form on top, if it still asks `seq`).
    Completed {
        seq: u64,
        completion: super::complete::Completion,
    },
    /// For one screen: the answer of work it started, or another screen's request.
    To(ScreenId, ScreenMsg),
}

/// What is addressed to one screen: the answers of its background work (tagged by the
/// runner with the screen that asked) and requests from other screens.
#[derive(Debug)]
pub enum ScreenMsg {
    /// Answer text of a run, as its checks released it.
    Stream { message: Id, event: StreamEvent },
    /// Every other event of a run (interventions, usage, the end).
    Run(Box<RunEvent>),
    /// A turn could not start at all (its session is gone, the database failed).
    TurnFailed(String),
    PullProgress {
        model: String,
        done: u64,
        total: Option<u64>,
    },
    Pulled {
        model: String,
        result: Result<(), String>,
    },
    /// `$EDITOR` closed (it ran off the UI task, with the terminal handed over): what
    /// the edit was for, and the text as the editor left it.
    EditorDone(super::editor::EditPurpose, Result<String, String>),
    /// Storage answers (lists, opened sessions, deletions, exports, failures).
    Store(StoreMsg),
    /// Guardrail work answered (lists, versions, attach, sandbox, review).
    Guard(GuardMsg),
    /// Knowledge-base answers (lists, sync progress, queries, checks, cited chunks).
    Kb(KbMsg),
    /// Comparison answers (column streams, votes, a kept answer).
    Compare(CompareMsg),
    /// Evaluation answers (jobs, results, a run's progress, votes).
    Eval(EvalMsg),
    /// Sessions matching a session search.
    SessionHits {
        /// Which search this answers (only the latest counts).
        seq: u64,
        result: Result<Vec<Id>, String>,
    },
    /// Another screen's session (and default guardrail) to work on, offered when this
    /// screen is about to be shown.
    Attach {
        session: Box<Session>,
        default_guardrail: Option<String>,
    },
    /// Ask a question of the conversation again (the selected message of `messages`,
    /// else the last question), side by side.
    Reask {
        session: Box<Session>,
        messages: Vec<ChatMessage>,
        selected: Option<usize>,
    },
    /// Show this stored session (a compared answer was kept in it).
    ShowSession(Id),
    /// Attach this guardrail reference (`NAME@2`, `none`) to the chat's session.
    UseGuardrail(String),
    /// Attach (or, when it is attached, detach) this knowledge base on the chat's session.
    ToggleKnowledge(String),
    /// Agent answers (lists, a run's steps, live runs, approvals, diffs).
    Agent(AgentMsg),
    /// Open this run in the debugger (a chat answer's, a compared column's, an evaluation
    /// item's: then a fork of it is scored again with the job's metrics).
    OpenRun {
        run: Id,
        item: Option<crate::eval::rescore::ItemRef>,
    },
}

/// Work for the runner (or, for `Show` and `Send`, for the router at once).
#[derive(Debug)]
pub enum Effect {
    /// Run a turn of a session through the orchestrator (answered by `ScreenMsg::Stream`
    /// and `ScreenMsg::Run`).
    Turn(ScreenId, Box<Turn>),
    /// Download a model (answered by `ScreenMsg::PullProgress` and `ScreenMsg::Pulled`).
    Pull(ScreenId, String),
    Copy(String),
    /// Hand the terminal to `$EDITOR` on a text (answered by `ScreenMsg::EditorDone` to
    /// the request's owner).
    OpenEditor(super::editor::EditRequest),
    /// Complete a path typed in a form (answered by `Msg::Completed`).
    CompletePath {
        text: String,
        seq: u64,
    },
    /// Guardrail work off the UI task (answered by `ScreenMsg::Guard`).
    Guard(ScreenId, GuardJob),
    /// Knowledge-base work off the UI task (answered by `ScreenMsg::Kb`).
    Kb(ScreenId, KbJob),
    /// Comparison work (answered by `ScreenMsg::Compare`).
    Compare(ScreenId, CompareJob),
    /// Evaluation work (answered by `ScreenMsg::Eval`).
    Eval(ScreenId, EvalJob),
    /// Agent work (answered by `ScreenMsg::Agent`).
    Agent(ScreenId, AgentJob),
    /// Hand the terminal to `$EDITOR` on a file at a line.
    OpenFile {
        path: String,
        line: usize,
    },
    /// Storage work, run in order off the UI task (answered by `ScreenMsg::Store`).
    Store(ScreenId, Vec<StoreJob>),
    SetMouse(bool),
    /// Full-text search over all sessions (answered by `ScreenMsg::SessionHits` with
    /// `seq`).
    SearchSessions {
        owner: ScreenId,
        query: String,
        seq: u64,
    },
    /// Show a screen (the router switches to it, as the screen-switch key would).
    Show(ScreenId),
    /// Hand a message to another screen (the router delivers it at once).
    Send(ScreenId, ScreenMsg),
    Quit,
}
