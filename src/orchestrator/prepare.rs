//! Getting a turn ready: the session and its history, the question (new, or the last one
//! again), the agent, its guardrail and the knowledge-base passages, then the question and
//! the empty answer stored. Running the agent (`driver`) and ending the turn (`finish`) are
//! not done here.

use std::sync::Arc;

use super::{Orchestrator, Turn, TurnError, TurnInput};
use crate::guardrails::{Guardrail, GuardrailCheck};
use crate::knowledge::cite::DEFAULT_TOP_K;
use crate::knowledge::retrieve::{Hit, Query};
use crate::runtime::types::Role;
use crate::sessions::{AgentConfig, ChatMessage, Session};
use crate::store::StoreError;

/// A turn ready to run; nothing of it is stored yet (the agent settings aside, when the
/// turn saves them).
pub(super) struct Prepared {
    pub(super) session: Session,
    /// The session's messages, less the answer a regeneration replaces.
    pub(super) history: Vec<ChatMessage>,
    /// The new question (none when regenerating).
    pub(super) prompt: Option<ChatMessage>,
    /// The answer a regeneration replaces, once the new one is complete.
    pub(super) replaced: Option<ChatMessage>,
    /// The agent of this run (the session's, or the turn's own settings).
    pub(super) agent: AgentConfig,
    pub(super) guardrail: Option<Arc<Guardrail>>,
    /// The passages found for the question (none without knowledge bases, or when the
    /// input check will refuse the question).
    pub(super) retrieved: Option<Vec<Hit>>,
}

impl Orchestrator {
    /// Everything that can refuse a turn before it is stored: the session must exist, the
    /// input make sense, the guardrail load and the knowledge bases answer.
    pub(super) async fn prepare(&self, turn: &Turn) -> Result<Prepared, TurnError> {
        let mut session = self
            .sessions
            .get(turn.session)?
            .ok_or(TurnError::NoSession(turn.session))?;
        if let Some(agent) = turn.agent.as_ref().filter(|_| turn.save_agent) {
            if *agent != session.agent {
                session.agent = agent.clone();
                self.sessions.save(&session)?;
            }
        }
        let mut history = self.sessions.messages(session.id)?;
        // Regenerating replaces the last answer, but only once the new one is complete.
        let mut replaced = None;
        let prompt = match &turn.input {
            TurnInput::Ask(text) => {
                if text.trim().is_empty() {
                    return Err(TurnError::BadInput(
                        "the message is empty; type a question".into(),
                    ));
                }
                let mut m = ChatMessage::new(Role::User, text.clone());
                m.id = turn.prompt_id;
                Some(m)
            }
            TurnInput::Regenerate => {
                if history.last().is_some_and(|m| m.role == Role::Assistant) {
                    replaced = history.pop();
                }
                if !history.last().is_some_and(|m| m.role == Role::User) {
                    return Err(TurnError::BadInput(
                        "nothing to regenerate: the session has no question to answer".into(),
                    ));
                }
                None
            }
        };
        let agent = turn.agent.clone().unwrap_or_else(|| session.agent.clone());
        let guardrail = self.load_guardrail(&agent).await?;
        // The input checks run on a new question before it is stored: one they mask is
        // stored, and sent, masked (the raw value is never written).
        let mut prompt = prompt;
        if let Some(question) = prompt.as_mut() {
            let mut checks = turn.checks.clone();
            if let Some(g) = &guardrail {
                checks.push(Arc::new(GuardrailCheck::new(g.clone(), None)));
            }
            if let Some(masked) = self
                .runtime
                .masked_question(&question.content, &checks)
                .await
            {
                question.content = masked;
            }
        }
        // Knowledge bases: the passages for the newest question, retrieved before anything
        // is stored (a base that cannot be searched stops the turn, like a guardrail).
        let retrieved = if agent.knowledge_bases.is_empty() {
            None
        } else {
            let question = prompt
                .as_ref()
                .map(|p| p.content.clone())
                .or_else(|| {
                    history
                        .iter()
                        .rev()
                        .find(|m| m.role == Role::User)
                        .map(|m| m.content.clone())
                })
                .unwrap_or_default();
            match retrieval_query(guardrail.as_deref(), &question) {
                // The input check will refuse this question: nothing is searched for it.
                None => None,
                Some(text) => {
                    let query = Query::new(text, agent.knowledge_top_k.unwrap_or(DEFAULT_TOP_K));
                    let hits = self
                        .knowledge
                        .retrieve(&agent.knowledge_bases, &query)
                        .await
                        .map_err(|e| {
                            TurnError::Unavailable(format!(
                                "the session's knowledge bases cannot be searched: {e}"
                            ))
                        })?;
                    Some(hits)
                }
            }
        };
        Ok(Prepared {
            session,
            history,
            prompt,
            replaced,
            agent,
            guardrail,
            retrieved,
        })
    }

    /// The agent's guardrail, else the config's default; a guardrail that cannot be loaded
    /// stops the turn before anything is stored (never run unguarded).
    pub(super) async fn load_guardrail(
        &self,
        agent: &AgentConfig,
    ) -> Result<Option<Arc<Guardrail>>, TurnError> {
        let Some(reference) = self.guardrail_of(agent) else {
            return Ok(None);
        };
        self.guardrails
            .load(&reference)
            .await
            .map(Some)
            .map_err(|e| {
                let from = if agent.guardrail.is_some() {
                    "the session's guardrail"
                } else {
                    "the config's default `guardrail`"
                };
                TurnError::Unavailable(format!(
                    "{from} {reference:?} cannot be used: {e}; attach another (Ctrl-G in the \
                     TUI, --guardrail NAME) or detach it (`none`)"
                ))
            })
    }

    /// Stores the question (if new) and the empty answer; returns the stored question.
    pub(super) fn start_answer(
        &self,
        session: &mut Session,
        history: &mut Vec<ChatMessage>,
        prompt: Option<ChatMessage>,
        answer: &ChatMessage,
    ) -> Result<Option<ChatMessage>, StoreError> {
        let prompt = prompt.map(|mut p| {
            p.run_id = answer.run_id;
            p
        });
        if let Some(p) = &prompt {
            self.sessions.put_message(session, p)?;
            history.push(p.clone());
        }
        self.sessions.checkpoint_message(session.id, answer)?;
        Ok(prompt)
    }
}

/// The text a question is searched with: with a guardrail, what its patterns and words
/// would mask is masked first (the question is embedded, possibly by a remote model,
/// before the call's input check runs); `None` when they would block it.
pub fn retrieval_query(guardrail: Option<&Guardrail>, question: &str) -> Option<String> {
    let Some(g) = guardrail else {
        return Some(question.to_string());
    };
    let hits = g.deterministic(question);
    if hits
        .iter()
        .any(|h| h.action == crate::guardrails::policy::PolicyAction::Block)
    {
        return None;
    }
    Some(crate::guardrails::engine::mask(question, &hits))
}
