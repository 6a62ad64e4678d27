//! Where guardrails plug into the invoke pipeline: a check on the request before the model
//! and a check on the streamed answer after it.

use super::types::ChatRequest;

/// A hook's decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Allow,
    /// Stop the call; `reason` is shown to the user and recorded.
    Block {
        reason: String,
    },
}

/// A check around every model call (guardrails implement it).
pub trait Hook: Send + Sync {
    /// Name shown in records and messages.
    fn name(&self) -> &str;

    /// Runs before the model; may rewrite the request (e.g. mask PII) or block it.
    fn before(&self, _request: &mut ChatRequest) -> Verdict {
        Verdict::Allow
    }

    /// Runs on the streamed answer: `text` is everything so far, `delta` the newest piece.
    /// Blocking stops generation and withholds `delta`.
    fn on_output(&self, _text: &str, _delta: &str) -> Verdict {
        Verdict::Allow
    }
}
