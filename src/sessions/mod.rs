//! Chat sessions in sled: each session's agent (model, instructions, parameters, tools…),
//! its messages (keyed session id + message id, so a prefix scan lists them in order),
//! search and export. Messages that were streaming when the process died are marked
//! interrupted at the next open. A session's runs are the orchestrator's: it deletes them
//! with the session (`orchestrator::delete_session`).

pub mod agent;

use serde::{Deserialize, Serialize};

use crate::runtime::types::{Message, Role, ToolCall, Usage};
use crate::store::{now_micros, Id, Store, StoreError};
pub use agent::{AgentConfig, AgentToolChoice, DEFAULT_MAX_TOKENS};

const SESSIONS: &str = "sessions";
/// Sessions made by an evaluation, a batch or a comparison (one run each): kept apart so
/// listing the chat's sessions never reads them.
const HIDDEN_SESSIONS: &str = "sessions_hidden";
/// The title of a session before its first question names it.
pub const NEW_TITLE: &str = "New chat";
const MESSAGES: &str = "messages";
const UI: &str = "ui";

/// A conversation and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: Id,
    pub title: String,
    /// The agent every run of this session uses (stored flat, beside the other fields).
    #[serde(flatten)]
    pub agent: AgentConfig,
    pub created_us: u64,
    pub updated_us: u64,
    /// Unsent input, restored on resume.
    #[serde(default)]
    pub draft: String,
    /// What made a session that is not a chat (`eval:JOB`, `batch:JOB`, `compare`): such
    /// sessions hold one run each and stay out of the session list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Tools the user approved "for the rest of the session": their calls no longer ask.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub approved_tools: std::collections::BTreeSet<String>,
}

/// How a stored message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Complete,
    /// Being written now (checkpointed as it grows).
    Streaming,
    /// The user cancelled generation; the text is partial.
    Cancelled,
    /// The stream broke; the text is partial.
    Incomplete,
    /// The process ended while it streamed; the text is what was checkpointed.
    Interrupted,
    /// A check stopped the answer; the text is what it released.
    Blocked,
    /// The call failed; `content` holds the error.
    Error,
    /// A guardrail held the answer for approval: shown as awaiting review, not final
    /// and not sent as history until approved.
    AwaitingReview,
    /// A reviewer rejected the held answer.
    Rejected,
    /// The run stopped before a tool call that needs the user's approval; the text is
    /// what was written so far.
    AwaitingApproval,
}

impl MessageStatus {
    /// A label for lists and exports (`complete`, `cancelled`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Streaming => "streaming",
            MessageStatus::Cancelled => "cancelled",
            MessageStatus::Incomplete => "incomplete",
            MessageStatus::Interrupted => "interrupted",
            MessageStatus::Blocked => "blocked",
            MessageStatus::Error => "error",
            MessageStatus::AwaitingReview => "awaiting_review",
            MessageStatus::Rejected => "rejected",
            MessageStatus::AwaitingApproval => "awaiting_approval",
        }
    }

    /// Whether the message takes part in later requests (failed ones do not).
    pub fn is_history(self) -> bool {
        !matches!(
            self,
            MessageStatus::Error
                | MessageStatus::Blocked
                | MessageStatus::AwaitingReview
                | MessageStatus::Rejected
                | MessageStatus::AwaitingApproval
        )
    }
}

/// One message of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: Id,
    pub role: Role,
    pub content: String,
    pub status: MessageStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The model that wrote an assistant message.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// The usage is an estimate (the provider reported none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_estimated: bool,
    /// The agent run that wrote (or answered) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Id>,
    /// The invocation record of the call that wrote an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<Id>,
    /// Why a guardrail blocked the message or held it for review (which policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The knowledge-base passages the answer was grounded in, numbered as the model saw
    /// them; `cited` marks those its citations point at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<crate::knowledge::SourceRef>,
    /// Citation numbers in the answer that matched no retrieved passage (dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_citations: Vec<u32>,
    /// What each of `tool_calls` returned, as the model read it (by call id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_results: Vec<ToolResultEntry>,
    pub created_us: u64,
}

/// A tool call's result as the model read it, kept with the answer that made the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultEntry {
    pub call_id: String,
    pub content: String,
    #[serde(default)]
    pub ok: bool,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            id: Id::new(),
            role,
            content: content.into(),
            status: MessageStatus::Complete,
            tool_calls: Vec::new(),
            model: None,
            usage: None,
            cost_usd: 0.0,
            latency_ms: None,
            usage_estimated: false,
            run_id: None,
            record_id: None,
            note: None,
            sources: Vec::new(),
            dropped_citations: Vec::new(),
            tool_results: Vec::new(),
            created_us: now_micros(),
        }
    }

    /// A conversation (a `--messages` file, an evaluation item's turns) as session
    /// messages: a tool message becomes a result of the assistant message whose call it
    /// answers, so `to_messages` gives the same conversation back.
    pub fn from_conversation(conversation: &[Message]) -> Vec<ChatMessage> {
        let mut out: Vec<ChatMessage> = Vec::new();
        for m in conversation {
            if m.role == Role::Tool {
                let call_id = m.tool_call_id.clone().unwrap_or_default();
                if let Some(owner) = out
                    .iter_mut()
                    .rev()
                    .find(|c| c.tool_calls.iter().any(|t| t.id == call_id))
                {
                    owner.tool_results.push(ToolResultEntry {
                        call_id,
                        content: m.content.clone(),
                        ok: true,
                    });
                }
                continue;
            }
            out.push(ChatMessage {
                tool_calls: m.tool_calls.clone(),
                ..ChatMessage::new(m.role, m.content.clone())
            });
        }
        out
    }

    /// The message as the model sees it in a later request. An answer that called tools
    /// becomes the calls, one tool message per result, then its text: the shape an
    /// OpenAI-compatible server accepts (a call without its result is left out, since no
    /// server takes a call that was never answered).
    pub fn to_messages(&self) -> Vec<Message> {
        let answered: Vec<_> = self
            .tool_calls
            .iter()
            .filter_map(|call| {
                self.tool_results
                    .iter()
                    .find(|r| r.call_id == call.id)
                    .map(|r| (call, r))
            })
            .collect();
        if answered.is_empty() {
            return vec![Message::new(self.role, self.content.clone())];
        }
        let mut calls = Message::new(self.role, "");
        calls.tool_calls = answered.iter().map(|(c, _)| (*c).clone()).collect();
        let mut out = vec![calls];
        for (call, result) in answered {
            let mut m = Message::new(Role::Tool, result.content.clone());
            m.tool_call_id = Some(call.id.clone());
            out.push(m);
        }
        if !self.content.is_empty() {
            out.push(Message::new(self.role, self.content.clone()));
        }
        out
    }
}

/// Where the user was in the TUI, restored at the next start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UiState {
    pub session: Option<Id>,
    /// Focused pane: "sidebar", "chat" or "input".
    pub focus: String,
    /// First visible conversation line, when not following the end.
    pub scroll: Option<usize>,
}

/// A search hit: the session and the matching message.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub session: Session,
    pub message: ChatMessage,
}

/// Sessions on top of the store.
#[derive(Clone)]
pub struct SessionStore {
    store: Store,
}

/// The tree a session lives in: chats in `sessions`, the rest apart.
fn tree_of(session: &Session) -> &'static str {
    if session.origin.is_some() {
        HIDDEN_SESSIONS
    } else {
        SESSIONS
    }
}

fn message_key(session: Id, message: Id) -> Vec<u8> {
    let mut key = session.as_bytes().to_vec();
    key.extend_from_slice(message.as_bytes());
    key
}

impl SessionStore {
    pub fn new(store: Store) -> SessionStore {
        SessionStore { store }
    }

    /// Messages that were streaming when an earlier process died become `interrupted`
    /// (their text is the last checkpoint). Call once at start-up.
    pub fn mark_interrupted(&self) -> Result<usize, StoreError> {
        self.store
            .settle_in_flight(MESSAGES, "message", |m: &mut ChatMessage| {
                let streaming = m.status == MessageStatus::Streaming;
                if streaming {
                    m.status = MessageStatus::Interrupted;
                }
                streaming
            })
    }

    /// Stores a message that is still being written, marked in flight (see
    /// `mark_interrupted`); `finish_message` ends it.
    pub fn checkpoint_message(&self, session: Id, message: &ChatMessage) -> Result<(), StoreError> {
        let key = message_key(session, message.id);
        self.store.mark_in_flight(MESSAGES, &key)?;
        self.store.put(MESSAGES, &key, message)
    }

    /// Stores the final state of a message written with `checkpoint_message`.
    pub fn finish_message(
        &self,
        session: &mut Session,
        message: &ChatMessage,
    ) -> Result<(), StoreError> {
        self.put_message(session, message)?;
        self.store
            .clear_in_flight(MESSAGES, &message_key(session.id, message.id))
    }

    /// Flushes the database to disk (checkpoints survive a kill -9 once flushed).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    /// The most recently updated session, if any.
    pub fn latest(&self) -> Result<Option<Session>, StoreError> {
        Ok(self.list()?.into_iter().next())
    }

    /// One message of a session.
    pub fn message(&self, session: Id, message: Id) -> Result<Option<ChatMessage>, StoreError> {
        self.store
            .get(MESSAGES, &message_key(session, message), "message")
    }

    /// Creates and stores an empty session on the default agent for `model`.
    pub fn create(&self, model: &str) -> Result<Session, StoreError> {
        self.create_with(AgentConfig::default_for(model))
    }

    /// Creates and stores an empty session with this agent.
    pub fn create_with(&self, agent: AgentConfig) -> Result<Session, StoreError> {
        self.create_as(agent, None)
    }

    /// Creates and stores an empty session with this agent, made by `origin` (a session
    /// with an origin stays out of `list`).
    pub fn create_as(
        &self,
        agent: AgentConfig,
        origin: Option<String>,
    ) -> Result<Session, StoreError> {
        let now = now_micros();
        let session = Session {
            id: Id::new(),
            title: NEW_TITLE.into(),
            agent,
            created_us: now,
            updated_us: now,
            draft: String::new(),
            origin,
            approved_tools: Default::default(),
        };
        self.save(&session)?;
        Ok(session)
    }

    pub fn save(&self, session: &Session) -> Result<(), StoreError> {
        self.store
            .put(tree_of(session), session.id.as_bytes(), session)
    }

    pub fn get(&self, id: Id) -> Result<Option<Session>, StoreError> {
        match self.store.get(SESSIONS, id.as_bytes(), "session")? {
            Some(s) => Ok(Some(s)),
            None => self.store.get(HIDDEN_SESSIONS, id.as_bytes(), "session"),
        }
    }

    /// The sessions an evaluation, a batch or a comparison made whose origin starts with
    /// `prefix` (`eval:JOB` also finds its judges' `eval:JOB:judge`).
    pub fn made_by(&self, prefix: &str) -> Result<Vec<Session>, StoreError> {
        let mut sessions: Vec<Session> =
            self.store.latest(HIDDEN_SESSIONS, usize::MAX, "session")?;
        sessions.retain(|s| s.origin.as_deref().is_some_and(|o| o.starts_with(prefix)));
        Ok(sessions)
    }

    /// All chat sessions, most recently updated first (those an evaluation, a batch or a
    /// comparison made are left out).
    pub fn list(&self) -> Result<Vec<Session>, StoreError> {
        let mut sessions: Vec<Session> = self.store.latest(SESSIONS, usize::MAX, "session")?;
        sessions.sort_by_key(|s| std::cmp::Reverse(s.updated_us));
        Ok(sessions)
    }

    /// Deletes a session with its messages and, in the same transaction, `also`'s keys
    /// (tree name, keys): the records a store above this one keeps for the session (its
    /// runs and steps), so a crash leaves all of them or none.
    pub fn delete_with(&self, id: Id, also: &[(&str, Vec<Vec<u8>>)]) -> Result<(), StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional;
        let messages = self.store.tree(MESSAGES)?;
        let message_keys: Vec<_> = messages
            .scan_prefix(id.as_bytes())
            .keys()
            .collect::<Result<_, _>>()?;
        let mut trees = vec![
            self.store.tree(SESSIONS)?,
            self.store.tree(HIDDEN_SESSIONS)?,
            messages,
        ];
        for (tree, _) in also {
            trees.push(self.store.tree(tree)?);
        }
        trees
            .as_slice()
            .transaction(|t| {
                t[0].remove(id.as_bytes())?;
                t[1].remove(id.as_bytes())?;
                for key in &message_keys {
                    t[2].remove(key)?;
                }
                for (tree, (_, keys)) in t[3..].iter().zip(also) {
                    for key in keys {
                        tree.remove(key.as_slice())?;
                    }
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(()) => {
                    StoreError::Sled(sled::Error::Unsupported("delete aborted".into()))
                }
            })?;
        Ok(())
    }

    /// The store the sessions live in (for the stores kept beside them).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Approves (the answer becomes final and part of history) or rejects an answer a
    /// guardrail held for review. Err(None) when there is no such answer awaiting review.
    pub fn review(
        &self,
        session: Id,
        message: Id,
        approve: bool,
    ) -> Result<ChatMessage, Option<StoreError>> {
        let mut m = self
            .message(session, message)
            .map_err(Some)?
            .filter(|m| m.status == MessageStatus::AwaitingReview)
            .ok_or(None)?;
        m.status = if approve {
            MessageStatus::Complete
        } else {
            MessageStatus::Rejected
        };
        let mut s = self.get(session).map_err(Some)?.ok_or(None)?;
        self.put_message(&mut s, &m).map_err(Some)?;
        Ok(m)
    }

    /// The session's messages in order.
    pub fn messages(&self, session: Id) -> Result<Vec<ChatMessage>, StoreError> {
        self.store
            .scan_prefix(MESSAGES, session.as_bytes(), "message")
    }

    /// Stores (or replaces) a message and touches the session.
    pub fn put_message(
        &self,
        session: &mut Session,
        message: &ChatMessage,
    ) -> Result<(), StoreError> {
        self.store
            .put(MESSAGES, &message_key(session.id, message.id), message)?;
        session.updated_us = now_micros();
        if session.title == NEW_TITLE && message.role == Role::User {
            session.title = title_from(&message.content);
        }
        // Touch the stored session rather than writing this copy whole: another client
        // (the TUI while a turn runs) may have changed its settings meanwhile.
        let Some(mut stored) = self.get(session.id)? else {
            // Deleted meanwhile (e.g. while its answer streamed): leave nothing behind.
            return self.remove_message(session.id, message.id);
        };
        stored.updated_us = session.updated_us;
        if stored.title == NEW_TITLE {
            stored.title = session.title.clone();
        }
        self.save(&stored)
    }

    /// Removes one message.
    pub fn remove_message(&self, session: Id, message: Id) -> Result<(), StoreError> {
        self.store
            .tree(MESSAGES)?
            .remove(message_key(session, message))?;
        Ok(())
    }

    /// A new session with the same settings and the messages before `upto` (exclusive).
    pub fn fork(&self, from: &Session, upto: Id) -> Result<Session, StoreError> {
        self.fork_as(from, upto, None)
    }

    /// `fork`, made by `origin` (see `create_as`).
    pub fn fork_as(
        &self,
        from: &Session,
        upto: Id,
        origin: Option<String>,
    ) -> Result<Session, StoreError> {
        let mut fork = self.create_as(from.agent.clone(), origin)?;
        fork.title = format!("{} (fork)", from.title);
        for message in self
            .messages(from.id)?
            .into_iter()
            .take_while(|m| m.id != upto)
        {
            self.store
                .put(MESSAGES, &message_key(fork.id, message.id), &message)?;
        }
        self.save(&fork)?;
        Ok(fork)
    }

    /// Sessions whose title or messages contain `query` (case-insensitive).
    pub fn search(&self, query: &str) -> Result<Vec<SearchHit>, StoreError> {
        let needle = query.to_lowercase();
        let mut hits = Vec::new();
        if needle.is_empty() {
            return Ok(hits);
        }
        for session in self.list()? {
            let messages = self.messages(session.id)?;
            if let Some(message) = messages
                .iter()
                .find(|m| m.content.to_lowercase().contains(&needle))
            {
                hits.push(SearchHit {
                    session: session.clone(),
                    message: message.clone(),
                });
            } else if session.title.to_lowercase().contains(&needle) {
                if let Some(first) = messages.first() {
                    hits.push(SearchHit {
                        session: session.clone(),
                        message: first.clone(),
                    });
                }
            }
        }
        Ok(hits)
    }

    /// Remembers where the user was.
    pub fn save_ui(&self, state: &UiState) -> Result<(), StoreError> {
        self.store.put(UI, b"state", state)
    }

    /// Where the user was last time (default when never saved).
    pub fn load_ui(&self) -> UiState {
        self.store
            .get(UI, b"state", "ui state")
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// The session as Markdown.
    pub fn export_markdown(&self, id: Id) -> Result<String, StoreError> {
        let Some(session) = self.get(id)? else {
            return Ok(String::new());
        };
        let mut out = format!(
            "# {}\n\n_model: {}_\n\n",
            session.title, session.agent.model
        );
        if let Some(system) = &session.agent.instructions {
            out.push_str(&format!("> system: {system}\n\n"));
        }
        for m in self.messages(id)? {
            let who = match m.role {
                Role::User => "You",
                Role::Assistant => "Assistant",
                Role::System => "System",
                Role::Tool => "Tool",
            };
            let note = match m.status {
                MessageStatus::Complete => String::new(),
                other => format!(" ({})", other.as_str()),
            };
            out.push_str(&format!("## {who}{note}\n\n{}\n\n", m.content.trim_end()));
        }
        Ok(out)
    }

    /// The session and its messages as JSON.
    pub fn export_json(&self, id: Id) -> Result<String, StoreError> {
        let session = self.get(id)?;
        let messages = self.messages(id)?;
        Ok(serde_json::to_string_pretty(&serde_json::json!({
            "session": session,
            "messages": messages,
        }))
        .unwrap_or_default())
    }
}

/// A short title from the first user message.
pub fn title_from(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(NEW_TITLE)
        .trim();
    let mut title: String = line.chars().take(40).collect();
    if line.chars().count() > 40 {
        title.push('…');
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SessionStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, SessionStore::new(store))
    }

    #[test]
    fn messages_keep_order_and_sessions_title_themselves() {
        let (_d, s) = store();
        let mut a = s.create("local/m").unwrap();
        for (i, role) in [Role::User, Role::Assistant, Role::User]
            .into_iter()
            .enumerate()
        {
            s.put_message(&mut a, &ChatMessage::new(role, format!("msg {i}")))
                .unwrap();
        }
        let msgs = s.messages(a.id).unwrap();
        assert_eq!(
            msgs.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
            ["msg 0", "msg 1", "msg 2"]
        );
        assert_eq!(s.get(a.id).unwrap().unwrap().title, "msg 0");
        let b = s.create("local/m").unwrap();
        assert_eq!(
            s.messages(b.id).unwrap().len(),
            0,
            "prefix scans do not leak across sessions"
        );
    }

    #[test]
    fn delete_fork_search_export() {
        let (_d, s) = store();
        let mut a = s.create("local/m").unwrap();
        let q = ChatMessage::new(Role::User, "Wie heißt die Hauptstadt?");
        let r = ChatMessage::new(Role::Assistant, "Berlin");
        let q2 = ChatMessage::new(Role::User, "Und von Korea? 한국");
        for m in [&q, &r, &q2] {
            s.put_message(&mut a, m).unwrap();
        }
        let fork = s.fork(&a, q2.id).unwrap();
        assert_eq!(s.messages(fork.id).unwrap().len(), 2);
        let hits = s.search("한국").unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].session.id, a.id);
        assert!(s
            .export_markdown(a.id)
            .unwrap()
            .contains("## Assistant\n\nBerlin"));
        let json: serde_json::Value = serde_json::from_str(&s.export_json(a.id).unwrap()).unwrap();
        assert_eq!(json["messages"].as_array().unwrap().len(), 3);
        s.delete_with(a.id, &[]).unwrap();
        assert!(s.get(a.id).unwrap().is_none());
        assert!(s.messages(a.id).unwrap().is_empty());
        assert_eq!(s.messages(fork.id).unwrap().len(), 2, "the fork survives");
    }

    #[test]
    fn storing_a_message_keeps_settings_changed_by_another_writer() {
        let (_d, s) = store();
        let mut stale = s.create("local/m").unwrap();
        let mut edited = stale.clone();
        edited.agent.params.temperature = Some(0.3);
        s.save(&edited).unwrap();
        s.put_message(&mut stale, &ChatMessage::new(Role::User, "hello there"))
            .unwrap();
        let stored = s.get(stale.id).unwrap().unwrap();
        assert_eq!(stored.agent.params.temperature, Some(0.3));
        assert_eq!(stored.title, "hello there");
        // A deleted session is not brought back by a late message.
        s.delete_with(stale.id, &[]).unwrap();
        s.put_message(&mut stale, &ChatMessage::new(Role::Assistant, "late"))
            .unwrap();
        assert!(s.get(stale.id).unwrap().is_none());
        assert!(s.messages(stale.id).unwrap().is_empty());
    }
}
