//! The context every call carries through the pipeline: who calls (TUI, CLI, agent, eval…),
//! for which session, run and step, with which tags, and the checks that apply to it.

use serde::{Deserialize, Serialize};

use super::checks::Checks;
use crate::store::Id;

/// Which client made a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Caller {
    Tui,
    #[default]
    Cli,
    Agent,
    Eval,
    Batch,
    Bench,
    Test,
}

/// The ids a call belongs to, as records keep them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallIds {
    pub caller: Caller,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Id>,
    /// One-based step number within the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// A call's context: its ids and the checks that apply to this call (on top of the
/// runtime's process-wide ones).
#[derive(Clone, Default)]
pub struct CallContext {
    pub ids: CallIds,
    pub checks: Checks,
}

impl CallContext {
    pub fn new(caller: Caller) -> CallContext {
        CallContext {
            ids: CallIds {
                caller,
                ..CallIds::default()
            },
            checks: Vec::new(),
        }
    }
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("ids", &self.ids)
            .field(
                "checks",
                &self.checks.iter().map(|c| c.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}
