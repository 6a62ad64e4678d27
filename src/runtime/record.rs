//! The invocation record every call leaves behind (context ids, latency, time to first
//! token, tokens, cost, each check's decision, outcome): written when the call starts
//! (running) and completed when it ends, so a crash leaves a trace. The source of metrics,
//! audit and history, which subscribe to records as they are written.

use serde::{Deserialize, Serialize};

use super::checks::CheckDecision;
use super::context::CallIds;
use super::provider::ErrorKind;
use super::types::StopReason;
use crate::store::Id;

/// How a call ended, in the platform's metric terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The call has started and not ended yet.
    Running,
    Ok,
    ClientError,
    ServerError,
    Throttled,
    Cancelled,
    /// A check stopped the call or its answer.
    Blocked,
    /// A check held the answer for a person's approval.
    NeedsReview,
    /// The process ended while the call was running (found running at the next start).
    Interrupted,
}

impl Outcome {
    pub fn from_error(kind: ErrorKind) -> Outcome {
        match kind {
            ErrorKind::Client | ErrorKind::Auth | ErrorKind::ModelUnavailable => {
                Outcome::ClientError
            }
            ErrorKind::Server | ErrorKind::Unreachable => Outcome::ServerError,
            ErrorKind::Throttled => Outcome::Throttled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Ok => "ok",
            Outcome::NeedsReview => "needs_review",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Throttled => "throttled",
            Outcome::Cancelled => "cancelled",
            Outcome::Blocked => "blocked",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// The operation a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// A streamed chat call (Converse / InvokeModelWithResponseStream).
    Chat,
    /// An embeddings call.
    Embed,
}

impl InvocationRecord {
    /// A record for a call starting now; the pipeline fills in the rest as it goes.
    pub fn start(
        model: &str,
        provider: &str,
        operation: Operation,
        context: CallIds,
    ) -> InvocationRecord {
        InvocationRecord {
            id: Id::new(),
            context,
            model: model.to_string(),
            provider: provider.to_string(),
            operation,
            started_us: crate::store::now_micros(),
            ttft_ms: None,
            latency_ms: 0.0,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
            outcome: Outcome::Running,
            stop_reason: None,
            usage_estimated: false,
            cached: false,
            retries: 0,
            incomplete: false,
            error: None,
            guardrail: None,
            checks: Vec::new(),
        }
    }
}

/// One call, as stored in the `invocations` tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationRecord {
    pub id: Id,
    /// Caller, session, run, step and tags of the call.
    #[serde(default)]
    pub context: CallIds,
    /// Catalog id of the model.
    pub model: String,
    /// Provider profile that served it.
    pub provider: String,
    pub operation: Operation,
    /// Start, microseconds since the Unix epoch.
    pub started_us: u64,
    /// Time to first token (chat) in milliseconds.
    pub ttft_ms: Option<f64>,
    /// Whole call in milliseconds.
    pub latency_ms: f64,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// The token counts are Strata's estimate, not the provider's.
    #[serde(default)]
    pub usage_estimated: bool,
    pub cost_usd: f64,
    pub outcome: Outcome,
    pub stop_reason: Option<StopReason>,
    /// Answered from the response cache.
    pub cached: bool,
    /// Retries made before the final attempt.
    pub retries: u32,
    /// The stream broke and the answer is partial.
    pub incomplete: bool,
    /// What went wrong, for failed calls.
    pub error: Option<String>,
    /// The check that blocked the call, if any.
    pub guardrail: Option<String>,
    /// Every check's decision per stage, with its time.
    #[serde(default)]
    pub checks: Vec<CheckDecision>,
}
