//! The chat's side of agent runs: an answer that waits for a tool call's approval is
//! decided here (`A` opens the approval prompt; the run resumes with the decision and the
//! session is read again when it ends; a later call that needs approval asks again), and
//! `T` opens the selected (or last) answer's run in the Agents debugger.

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::sessions::Opening;
use super::ChatScreen;
use crate::orchestrator::approval::Decision;
use crate::runtime::types::Role;
use crate::sessions::MessageStatus;
use crate::store::Id;
use crate::tui::agent_jobs::{AgentJob, AgentMsg, RunControl};
use crate::tui::forms::ApprovalPrompt;
use crate::tui::jobs::OpenTarget;
use crate::tui::layers::Layer;
use crate::tui::msg::{Effect, ScreenId, ScreenMsg};
use crate::tui::screens::Shared;

/// A run resumed from the chat, and the question it asks now, if any.
#[derive(Debug, Default)]
pub struct ToolApprovals {
    /// The resumed run's cancel token while it goes on.
    pub resuming: Option<CancellationToken>,
    /// The resumed run's question about a call, waiting for the prompt's answer.
    reply: Option<oneshot::Sender<Option<Decision>>>,
}

impl ChatScreen {
    /// The newest answer whose run waits for a tool call's approval.
    fn awaiting_tool_approval(&self) -> Option<Id> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.status == MessageStatus::AwaitingApproval)
            .and_then(|m| m.run_id)
    }

    /// `A` / `D` on an answer waiting for a tool call: read the call (off the UI task), then
    /// the prompt opens. False when no answer waits for one.
    pub(super) fn ask_tool_approval(&mut self, fx: &mut Vec<Effect>) -> bool {
        let Some(run) = self.awaiting_tool_approval() else {
            return false;
        };
        fx.push(Effect::Agent(ScreenId::Chat, AgentJob::Pending { run }));
        true
    }

    /// `T`: the selected (else the last) answer's run, in the debugger.
    pub(super) fn open_run(&self, cx: &mut Shared, fx: &mut Vec<Effect>) {
        let chosen = match self.selected_message {
            Some(i) => self.messages.get(i),
            None => self
                .messages
                .iter()
                .rev()
                .find(|m| m.role == Role::Assistant),
        };
        match chosen.and_then(|m| m.run_id) {
            Some(run) => {
                fx.push(Effect::Show(ScreenId::Agents));
                fx.push(Effect::Send(
                    ScreenId::Agents,
                    ScreenMsg::OpenRun { run, item: None },
                ));
            }
            None => cx.flash = Some("that message has no run to open (select an answer)".into()),
        }
    }

    /// The user's decision on the prompt: to the run that asked, or a stored run resumed.
    pub(super) fn on_tool_decision(
        &mut self,
        cx: &mut Shared,
        run: Id,
        decision: Option<Decision>,
        fx: &mut Vec<Effect>,
    ) {
        if let Some(reply) = self.approvals.reply.take() {
            let _ = reply.send(decision);
            return;
        }
        let Some(decision) = decision else {
            cx.flash = Some("the run waits for your decision (A asks again)".into());
            return;
        };
        if self.approvals.resuming.is_some() || self.streaming.is_some() {
            cx.flash = Some("wait for the answer in progress first".into());
            return;
        }
        let control = RunControl {
            cancel: CancellationToken::new(),
            gate: None,
        };
        self.approvals.resuming = Some(control.cancel.clone());
        cx.flash = Some(format!("{} — the run goes on…", decision.label()));
        fx.push(Effect::Agent(
            ScreenId::Chat,
            AgentJob::Resume {
                run,
                decision,
                control,
            },
        ));
    }

    /// Stops a run resumed from here (its question, if one is open, is left for later);
    /// false when none goes on.
    pub(super) fn cancel_resumed(&mut self, cx: &mut Shared) -> bool {
        let Some(cancel) = &self.approvals.resuming else {
            return false;
        };
        cancel.cancel();
        if let Some(reply) = self.approvals.reply.take() {
            let _ = reply.send(None);
        }
        cx.flash = Some("stopping the run (its steps so far are kept)…".into());
        true
    }

    /// Agent answers addressed to the chat.
    pub(super) fn on_agent_msg(&mut self, cx: &mut Shared, msg: AgentMsg) {
        match msg {
            AgentMsg::Pending(Ok(run)) => match ApprovalPrompt::for_run(ScreenId::Chat, &run) {
                Some(prompt) => cx.open(Layer::Approval(Box::new(prompt))),
                None => cx.flash = Some(format!("the run is {} now", run.status_name())),
            },
            AgentMsg::Pending(Err(e)) => cx.flash = Some(format!("cannot read the run: {e}")),
            AgentMsg::Approval { request, reply } => {
                self.approvals.reply = Some(reply);
                cx.open(Layer::Approval(Box::new(ApprovalPrompt::for_request(
                    ScreenId::Chat,
                    request,
                ))));
            }
            AgentMsg::Finished(result) => {
                self.approvals = ToolApprovals::default();
                match result {
                    Ok(outcome) => {
                        cx.flash = Some(match (&outcome.pending, &outcome.error) {
                            (Some(p), _) => format!("the run waits again: {}", p.call.name),
                            (None, Some(e)) => format!("the run failed: {}", e.message),
                            (None, None) => "the run is done".into(),
                        });
                        // The answer as the run left it.
                        let id = self.session.id;
                        self.open(
                            cx,
                            OpenTarget::Existing(id),
                            Opening::new("reload the answer"),
                        );
                    }
                    Err(e) => cx.flash = Some(format!("the run could not go on: {e}")),
                }
            }
            AgentMsg::Event(_)
            | AgentMsg::Held(_)
            | AgentMsg::List(_)
            | AgentMsg::Loaded { .. }
            | AgentMsg::Diff(_)
            | AgentMsg::Scored { .. }
            | AgentMsg::FileRead { .. }
            | AgentMsg::FileSaved { .. } => {}
        }
    }
}
