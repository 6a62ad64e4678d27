//! What a run reports to its client while it runs: typed events the TUI and the CLI show
//! distinctly (text, tool calls, guardrail interventions, usage, the end, and errors by kind).

use serde::Serialize;

use crate::runtime::invoke::InvokeError;
use crate::runtime::provider::ErrorKind;
use crate::runtime::types::{Action, ToolCall, Usage};
use crate::sessions::ChatMessage;
use crate::store::Id;

/// Why a run did not end with a complete answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunErrorKind {
    /// Credentials missing or refused.
    Auth,
    /// The provider asked us to slow down, and retries ran out.
    Throttled,
    /// The endpoint could not be reached.
    Unreachable,
    /// A check (guardrail) blocked the request or the answer.
    Blocked,
    /// The stream broke after the answer began (the partial answer is kept).
    BrokenStream,
    /// The user cancelled (the partial answer is kept).
    Cancelled,
    /// The request was refused (bad parameters, unknown or unusable model).
    Client,
    /// The provider failed.
    Server,
    /// The model is not downloaded or failed to load.
    ModelUnavailable,
    /// Strata could not read or write its database.
    Storage,
}

impl RunErrorKind {
    pub fn from_provider(kind: ErrorKind) -> RunErrorKind {
        match kind {
            ErrorKind::Auth => RunErrorKind::Auth,
            ErrorKind::Throttled => RunErrorKind::Throttled,
            ErrorKind::Unreachable => RunErrorKind::Unreachable,
            ErrorKind::Client => RunErrorKind::Client,
            ErrorKind::Server => RunErrorKind::Server,
            ErrorKind::ModelUnavailable => RunErrorKind::ModelUnavailable,
        }
    }

    pub fn from_invoke(error: &InvokeError) -> RunErrorKind {
        match error {
            InvokeError::Blocked { .. } => RunErrorKind::Blocked,
            InvokeError::Provider(e) => RunErrorKind::from_provider(e.kind),
            InvokeError::UnknownModel(_) | InvokeError::Unsupported { .. } => RunErrorKind::Client,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunErrorKind::Auth => "auth",
            RunErrorKind::Throttled => "throttled",
            RunErrorKind::Unreachable => "unreachable",
            RunErrorKind::Blocked => "blocked",
            RunErrorKind::BrokenStream => "broken_stream",
            RunErrorKind::Cancelled => "cancelled",
            RunErrorKind::Client => "client",
            RunErrorKind::Server => "server",
            RunErrorKind::ModelUnavailable => "model_unavailable",
            RunErrorKind::Storage => "storage",
        }
    }
}

/// An error that ended (or cut short) a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunError {
    pub kind: RunErrorKind,
    pub message: String,
}

/// One event of a run, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// The run began: the stored user message (none when regenerating) and the answer
    /// being written (empty, streaming).
    Started {
        session: Id,
        run: Id,
        prompt: Option<ChatMessage>,
        answer: ChatMessage,
    },
    /// The knowledge-base passages this answer is grounded in (before any text).
    Retrieved {
        answer: Id,
        sources: Vec<crate::knowledge::SourceRef>,
    },
    /// Answer text released by every check.
    TextDelta { answer: Id, text: String },
    /// The model asked for a tool (after the checks on its arguments).
    ToolCall { answer: Id, call: ToolCall },
    /// A tool ran (or was refused): what the model reads back, and how long it took.
    ToolResult {
        answer: Id,
        call: ToolCall,
        ok: bool,
        observation: String,
        duration_ms: f64,
    },
    /// A check masked or blocked something.
    Intervention {
        answer: Id,
        check: String,
        action: Action,
        detail: String,
    },
    /// A guardrail's per-policy assessments of the question or the answer so far (for the
    /// live panel).
    Guardrail {
        answer: Id,
        update: crate::guardrails::GuardrailUpdate,
    },
    /// Token counts of the answer so far.
    Usage {
        answer: Id,
        usage: Usage,
        estimated: bool,
    },
    /// The run ended: the answer as stored, the question when the run changed it (a
    /// check refused it: marked blocked; or masked it: stored as sent), and the error if
    /// it did not complete.
    Finished {
        session: Id,
        run: Id,
        answer: ChatMessage,
        prompt: Option<ChatMessage>,
        error: Option<RunError>,
    },
}

/// The intervention a run event describes, for clients that show them.
pub fn describe_intervention(check: &str, action: Action, detail: &str) -> String {
    let verb = match action {
        Action::Allow => "allowed",
        Action::Hold => "held",
        Action::Mask => "masked",
        Action::Review => "held for review",
        Action::Block => "blocked",
    };
    format!("{check} {verb}: {detail}")
}
