//! The tool steps of a run: each call the model makes is run through the turn's toolset
//! (`crate::tools`), its outcome returned to the model as an observation, and stored as an
//! `execute_tool` step. Calling the model is the driver's; the tools themselves are
//! `crate::tools`'.

use std::time::Instant;

use rig_core::message::{ToolResultContent, UserContent};

use super::driver::Driver;
use super::events::RunEvent;
use super::runs::{Step, StepKind};
use crate::runtime::types::ToolCall;

impl<E: FnMut(RunEvent) + Send> Driver<'_, E> {
    /// Runs the model's tool calls in order, one step each, and returns one result per
    /// pending call. A failure, a timeout, an unknown tool or bad arguments come back as
    /// an error result the model can read; a call repeated with the same arguments is
    /// answered from the earlier result.
    pub(super) async fn call_tools(
        &mut self,
        calls: &[rig_agent::run::PendingToolCall],
    ) -> Vec<UserContent> {
        let mut results = Vec::with_capacity(calls.len());
        for pending in calls {
            if let Some(pre) = &pending.preresolved_result {
                results.push(pre.clone());
                continue;
            }
            let rig_call = &pending.tool_call;
            let call = ToolCall {
                id: rig_call.id.wire().into_owned(),
                name: rig_call.function.name.to_string(),
                arguments: serde_json::Value::Object(rig_call.function.arguments.clone())
                    .to_string(),
            };
            self.state.step_count += 1;
            let mut step = Step {
                tool_calls: vec![call.clone()],
                ..Step::start(self.run.id, self.state.step_count, StepKind::ToolCall)
            };
            self.store_step(&step);
            let started = Instant::now();
            let (ok, observation, outcome) = self.run_tool(&call).await;
            step.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            step.output = observation.clone();
            step.outcome = outcome.into();
            self.store_step(&step);
            (self.emit)(RunEvent::ToolResult {
                answer: self.answer.id,
                call,
                ok,
                observation: observation.clone(),
                duration_ms: step.latency_ms,
            });
            let content = vec![ToolResultContent::text(observation)];
            results.push(UserContent::ToolResult(if ok {
                rig_call.result(content)
            } else {
                rig_call.error_result(content)
            }));
        }
        results
    }

    /// One call: (ok, what the model reads, the step's outcome).
    async fn run_tool(&mut self, call: &ToolCall) -> (bool, String, &'static str) {
        let Some(tools) = self.turn.tools.clone() else {
            return (
                false,
                format!("error: tool `{}` is not available to this agent", call.name),
                "unavailable",
            );
        };
        if self.turn.needs_approval.contains(&call.name) && !self.turn.auto_approve {
            return (
                false,
                format!(
                    "error: `{}` needs the user's approval before it runs, and this run cannot \
                     ask for it; it was not run (the user can approve every call with --yes)",
                    call.name
                ),
                "needs_approval",
            );
        }
        let key = (call.name.clone(), canonical_arguments(&call.arguments));
        // A call repeated with the same arguments is answered from the first result.
        if let Some((_, first)) = self.state.seen_calls.iter().find(|(k, _)| *k == key) {
            return (
                false,
                format!(
                    "error: you already called `{}` with these arguments; its result was: \
                     {first}. Use it to answer, or call with other arguments.",
                    call.name
                ),
                "repeated",
            );
        }
        let outcome = tools
            .call_text(&call.name, &call.arguments, self.turn.cancel.clone())
            .await;
        let observation = outcome.observation();
        self.state.seen_calls.push((key, observation.clone()));
        let label = if outcome.ok { "ok" } else { "tool_error" };
        (outcome.ok, observation, label)
    }
}

/// Arguments compared as JSON values (key order and spacing do not make a new call).
fn canonical_arguments(arguments: &str) -> String {
    serde_json::from_str::<serde_json::Value>(arguments)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| arguments.to_string())
}
