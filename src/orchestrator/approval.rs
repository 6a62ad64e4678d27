//! Return of control: what a client decides about a tool call that needs approval, the
//! trait through which a run asks (the TUI's prompt, the CLI's terminal question), and the
//! step gate a debugger holds a run at. Without an approver, a run that meets such a call
//! stops as `awaiting_approval` and is resumed later with a `Decision`
//! (`Orchestrator::resume`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::runs::StepKind;
use crate::runtime::types::ToolCall;
use crate::store::Id;

/// What the user decided about one tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run it as called.
    Approve,
    /// Run it, and run this tool without asking for the rest of the session.
    ApproveAlways,
    /// Run it with these arguments (a JSON object) instead.
    EditArgs(String),
    /// Do not run it; the model reads the reason.
    Deny(String),
    /// Do not run it; the model reads this as its result (JSON or text), as if it ran.
    Result(String),
}

impl Decision {
    /// A short label for traces and lists.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::ApproveAlways => "approved for the session",
            Decision::EditArgs(_) => "approved with edited arguments",
            Decision::Deny(_) => "denied",
            Decision::Result(_) => "result given by hand",
        }
    }

    /// Checks what the decision carries: edited arguments must be a JSON object.
    pub fn check(&self) -> Result<(), String> {
        if let Decision::EditArgs(args) = self {
            match serde_json::from_str::<serde_json::Value>(args) {
                Ok(serde_json::Value::Object(_)) => {}
                Ok(_) => return Err(format!("the edited arguments {args} are not a JSON object")),
                Err(e) => return Err(format!("the edited arguments are not JSON: {e}")),
            }
        }
        Ok(())
    }
}

/// A tool call that waits for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRequest {
    pub run: Id,
    /// The step the call will be.
    pub step: u32,
    pub call: ToolCall,
    /// Why it asks (`confirm = true`, the agent's policy, an MCP server's hint).
    pub reason: String,
}

/// Asks the user about tool calls while a run waits. `None`: nobody answers now; the
/// run stops as awaiting approval, to be resumed later.
#[async_trait]
pub trait Approver: Send + Sync {
    async fn decide(&self, request: ApprovalRequest) -> Option<Decision>;
}

/// The step a run is about to take, as a debugger's gate sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NextStep {
    pub run: Id,
    pub index: u32,
    pub kind: StepKind,
    /// The tool call, for an `execute_tool` step.
    pub call: Option<ToolCall>,
    /// The instructions the model call will be sent with, for a `chat` step.
    pub instructions: Option<String>,
}

/// What a debugger lets the step it held do.
#[derive(Debug, Clone, PartialEq)]
pub enum GateAction {
    /// Take the step as it is.
    Go,
    /// A tool step: do not run the tool; the model reads this (JSON or text) as its result.
    Result(String),
    /// A model step: send this call, and the run's later ones, with these instructions.
    Instructions(String),
}

/// Holds a run before each step (a debugger's pause and single-step): the run waits until
/// `before` returns, and takes the step as it says.
#[async_trait]
pub trait StepGate: Send + Sync {
    async fn before(&self, step: NextStep) -> GateAction;
}
