//! The tool step of a run: answering the model's tool calls and storing the step. Agents
//! have no tools yet, so every call gets an error result the model can read; calling the
//! model is the driver's.

use rig_core::message::{ToolResultContent, UserContent};

use super::driver::Driver;
use super::events::RunEvent;
use super::runs::{Step, StepKind};
use crate::runtime::types::{ToolCall, Usage};
use crate::store::now_micros;

impl<E: FnMut(RunEvent) + Send> Driver<'_, E> {
    /// Tool calls: the agent has no tools yet (the agents issue fills the slot), so each
    /// call is answered with an error result the model can read.
    pub(super) fn call_tools(
        &mut self,
        calls: &[rig_agent::run::PendingToolCall],
    ) -> Vec<UserContent> {
        self.state.step_count += 1;
        let mut output = Vec::new();
        let results = calls
            .iter()
            .map(|pending| {
                if let Some(pre) = &pending.preresolved_result {
                    return pre.clone();
                }
                let call = &pending.tool_call;
                let text = format!(
                    "tool `{}` is not available to this agent",
                    call.function.name
                );
                output.push(text.clone());
                UserContent::ToolResult(call.error_result(vec![ToolResultContent::text(text)]))
            })
            .collect();
        let step = Step {
            run: self.run.id,
            index: self.state.step_count,
            kind: StepKind::ToolCall,
            input: Vec::new(),
            system: None,
            output: output.join("\n"),
            tool_calls: calls
                .iter()
                .map(|c| ToolCall {
                    id: c.tool_call.id.wire().into_owned(),
                    name: c.tool_call.function.name.to_string(),
                    arguments: serde_json::Value::Object(c.tool_call.function.arguments.clone())
                        .to_string(),
                })
                .collect(),
            usage: Usage::default(),
            usage_estimated: false,
            dropped_messages: 0,
            prompt_tokens: 0,
            prompt_tokens_estimated: false,
            started_us: now_micros(),
            latency_ms: 0.0,
            record_id: None,
            outcome: "unavailable".into(),
            checks: Vec::new(),
        };
        self.store_step(&step);
        results
    }
}
