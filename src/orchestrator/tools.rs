//! The tool steps of a run: each call the model makes is run through the turn's toolset
//! (`crate::tools`), its outcome returned to the model as an observation, and stored as an
//! `execute_tool` step with a checkpoint. A call that needs approval is put to the turn's
//! approver, or stops the run until the user decides (`approval`). Calling the model is the
//! driver's; the tools themselves are `crate::tools`'.

use std::time::Instant;

use rig_agent::run::{AgentRun, PendingToolCall};
use rig_core::message::{ToolResultContent, UserContent};

use super::approval::{ApprovalRequest, Decision, GateAction};
use super::driver::Driver;
use super::events::{RunErrorKind, RunEvent};
use super::runs::{PendingApproval, Step, StepKind};
use crate::runtime::types::ToolCall;
use crate::sessions::ToolResultEntry;

/// What one call came to.
enum ToolRun {
    /// (ok, what the model reads, the step's outcome, the arguments it ran with when the
    /// user changed them).
    Done {
        ok: bool,
        observation: String,
        outcome: &'static str,
        edited: Option<String>,
    },
    /// It waits for the user's decision.
    Paused(PendingApproval),
}

impl ToolRun {
    fn done(ok: bool, observation: String, outcome: &'static str) -> ToolRun {
        ToolRun::Done {
            ok,
            observation,
            outcome,
            edited: None,
        }
    }
}

impl<E: FnMut(RunEvent) + Send> Driver<'_, E> {
    /// Runs the model's tool calls in order, one step each, and returns one result per
    /// pending call; `None` when a call waits for approval (the run stops, resumable from
    /// that step's checkpoint). A failure, a timeout, an unknown tool or bad arguments
    /// come back as an error result the model can read; a call repeated with the same
    /// arguments is answered from the earlier result.
    pub(super) async fn call_tools(
        &mut self,
        calls: &[PendingToolCall],
        agent_run: &AgentRun,
    ) -> Option<Vec<UserContent>> {
        let mut results = Vec::with_capacity(calls.len());
        for pending in calls {
            if let Some(pre) = &pending.preresolved_result {
                results.push(pre.clone());
                continue;
            }
            let rig_call = &pending.tool_call;
            // Answered before a pause (or in the run a fork copied): not run again.
            if let Some(done) = self.state.answered.iter().find(
                |r| matches!(r, UserContent::ToolResult(result) if result.call == rig_call.id),
            ) {
                results.push(done.clone());
                continue;
            }
            let call = ToolCall {
                id: rig_call.id.wire().into_owned(),
                name: rig_call.function.name.to_string(),
                arguments: serde_json::Value::Object(rig_call.function.arguments.clone())
                    .to_string(),
            };
            let Some(gated) = self.gate(StepKind::ToolCall, Some(call.clone())).await else {
                // Cancelled while held: the call is not run (nor stored).
                self.fail(RunErrorKind::Cancelled, "cancelled".into());
                return None;
            };
            self.state.step_count += 1;
            let mut step = Step {
                tool_calls: vec![call.clone()],
                ..Step::start(self.run.id, self.state.step_count, StepKind::ToolCall)
            };
            self.store_step(&step);
            let started = Instant::now();
            let ran = match gated {
                // The debugger gave the result: the tool does not run.
                GateAction::Result(result) if !result.trim().is_empty() => {
                    ToolRun::done(true, result_observation(result), "user_result")
                }
                _ => self.run_tool(&call).await,
            };
            let (ok, observation, outcome, edited) = match ran {
                ToolRun::Done {
                    ok,
                    observation,
                    outcome,
                    edited,
                } => (ok, observation, outcome, edited),
                ToolRun::Paused(pending) => {
                    step.outcome = "awaiting_approval".into();
                    step.output = pending.reason.clone();
                    self.store_step(&step);
                    // The checkpoint holds the batch's results before this call.
                    self.checkpoint(agent_run);
                    self.state.paused = Some(pending);
                    return None;
                }
            };
            step.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            step.output = observation.clone();
            step.outcome = outcome.into();
            if let Some(args) = edited {
                step.tool_calls.push(ToolCall {
                    arguments: args,
                    ..call.clone()
                });
            }
            self.store_step(&step);
            (self.emit)(RunEvent::ToolResult {
                answer: self.answer.id,
                call: call.clone(),
                ok,
                observation: observation.clone(),
                duration_ms: step.latency_ms,
            });
            let content = vec![ToolResultContent::text(observation.clone())];
            let result = UserContent::ToolResult(if ok {
                rig_call.result(content)
            } else {
                rig_call.error_result(content)
            });
            self.answer.tool_results.push(ToolResultEntry {
                call_id: call.id.clone(),
                content: observation,
                ok,
            });
            self.state.answered.push(result.clone());
            results.push(result);
            self.checkpoint(agent_run);
        }
        self.state.answered.clear();
        Some(results)
    }

    /// One call, after its approval if it needs one.
    async fn run_tool(&mut self, call: &ToolCall) -> ToolRun {
        let Some(tools) = self.turn.access.tools.clone() else {
            return ToolRun::done(
                false,
                format!("error: tool `{}` is not available to this agent", call.name),
                "unavailable",
            );
        };
        let mut arguments = call.arguments.clone();
        let mut edited = None;
        if self.needs_approval(&call.name) {
            let decision = match self.state.preset.take() {
                Some((id, decision)) if id == call.id => Some(decision),
                other => {
                    self.state.preset = other;
                    self.ask(call).await
                }
            };
            let Some(decision) = decision else {
                if self.turn.cancel.is_cancelled() {
                    self.fail(RunErrorKind::Cancelled, "cancelled".into());
                    return ToolRun::done(false, "error: cancelled".into(), "cancelled");
                }
                return ToolRun::Paused(PendingApproval {
                    step: self.state.step_count,
                    call: call.clone(),
                    reason: approval_reason(&call.name),
                });
            };
            match decision {
                Decision::Approve => {}
                Decision::ApproveAlways => self.approve_always(&call.name),
                Decision::EditArgs(args) => {
                    if let Err(e) = Decision::EditArgs(args.clone()).check() {
                        return ToolRun::done(false, format!("error: {e}"), "denied");
                    }
                    arguments = args.clone();
                    edited = Some(args);
                }
                Decision::Deny(reason) => {
                    let reason = if reason.trim().is_empty() {
                        "no reason given".to_string()
                    } else {
                        reason
                    };
                    return ToolRun::done(
                        false,
                        format!(
                            "error: the user denied this call of `{}`: {reason}",
                            call.name
                        ),
                        "denied",
                    );
                }
                Decision::Result(result) => {
                    return ToolRun::done(true, result_observation(result), "user_result");
                }
            }
        }
        let key = (call.name.clone(), canonical_arguments(&arguments));
        if let Some(recorded) = self.state.recorded.as_mut().and_then(|r| {
            r.iter_mut()
                .find(|r| !r.used && r.name == key.0 && r.arguments == key.1)
        }) {
            recorded.used = true;
            let (ok, observation) = (recorded.ok, recorded.observation.clone());
            self.state.seen_calls.push((key, observation.clone()));
            return ToolRun::done(ok, observation, "recorded");
        }
        // A call repeated with the same arguments is answered from the first result.
        if let Some((_, first)) = self.state.seen_calls.iter().find(|(k, _)| *k == key) {
            return ToolRun::done(
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
            .call_text(&call.name, &arguments, self.turn.cancel.clone())
            .await;
        let observation = outcome.observation();
        self.state.seen_calls.push((key, observation.clone()));
        let label = if outcome.ok { "ok" } else { "tool_error" };
        let observation = match &edited {
            Some(args) => format!("(run with the arguments the user set: {args}) {observation}"),
            None => observation,
        };
        ToolRun::Done {
            ok: outcome.ok,
            observation,
            outcome: label,
            edited,
        }
    }

    fn needs_approval(&self, tool: &str) -> bool {
        let access = &self.turn.access;
        access.needs_approval.contains(tool)
            && !access.auto_approve
            && !self.state.approved_always.contains(tool)
    }

    /// Puts the call to the turn's approver; `None` without one, or when it leaves the
    /// decision for later.
    async fn ask(&mut self, call: &ToolCall) -> Option<Decision> {
        let approver = self.turn.access.approver.clone()?;
        let request = ApprovalRequest {
            run: self.run.id,
            step: self.state.step_count,
            call: call.clone(),
            reason: approval_reason(&call.name),
        };
        tokio::select! {
            decision = approver.decide(request) => decision,
            // Cancelled while the question is open: nobody answers.
            _ = self.turn.cancel.cancelled() => None,
        }
    }

    /// Remembers, in the session, that `tool` runs without asking from now on.
    fn approve_always(&mut self, tool: &str) {
        self.state.approved_always.insert(tool.to_string());
        let sessions = &self.orchestrator.sessions;
        let stored = sessions.get(self.session.id).map(|s| {
            s.map(|mut s| {
                s.approved_tools.insert(tool.to_string());
                sessions.save(&s)
            })
        });
        if let Ok(Some(Err(e))) | Err(e) = stored {
            tracing::error!("could not store the approval of `{tool}`: {e}");
        }
    }
}

/// Why a call asks before it runs.
fn approval_reason(tool: &str) -> String {
    format!("`{tool}` asks before it runs (confirm = true, or the agent's approval policy)")
}

/// What the model reads of a result the user gave by hand: a JSON string's text, other
/// JSON as JSON, anything else as it is.
pub(super) fn result_observation(result: String) -> String {
    serde_json::from_str::<serde_json::Value>(&result)
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            v => v.to_string(),
        })
        .unwrap_or(result)
}

/// Arguments compared as JSON values (key order and spacing do not make a new call).
pub(super) fn canonical_arguments(arguments: &str) -> String {
    serde_json::from_str::<serde_json::Value>(arguments)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| arguments.to_string())
}
