//! `strata invoke` (and `strata -p`, `echo … | strata`): one turn, streamed to stdout. It is
//! a run of a session's agent through the orchestrator (a new session, or with `-c` /
//! `--session` an existing one), so every answer is in history; `--ephemeral` makes one
//! plain pipeline call that leaves no session behind.

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio_util::sync::CancellationToken;

use super::InvokeArgs;
use crate::guardrails::embed::DEFAULT_EMBEDDINGS_MODEL;
use crate::guardrails::{GuardrailCheck, GuardrailRef, GuardrailUpdate, Guardrails, Source};
use crate::orchestrator::events::{RunErrorKind, RunEvent};
use crate::orchestrator::{describe_intervention, Orchestrator, Turn, TurnInput};
use crate::runtime::context::{CallContext, Caller};
use crate::runtime::converse;
use crate::runtime::invoke::{InvokeError, InvokeRequest};
use crate::runtime::pull::ensure_pulled;
use crate::runtime::types::{ChatRequest, Message, Params, Role, StreamEvent};
use crate::runtime::Runtime;
use crate::sessions::{AgentConfig, ChatMessage, Session};

/// Exit code of a call cut short (stream broke) after printing the partial answer.
const EXIT_INCOMPLETE: i32 = 3;
/// Exit code of an answer a guardrail blocked.
const EXIT_BLOCKED: i32 = 4;
/// Exit code of an answer a guardrail held for review.
const EXIT_NEEDS_REVIEW: i32 = 5;
const EXIT_CANCELLED: i32 = 130;

pub async fn run(runtime: Arc<Runtime>, args: InvokeArgs) -> Result<i32> {
    let (system, mut conversation) = read_conversation(&args)?;
    let flags = flag_params(&args)?;
    let cancel = super::cancel_on_ctrl_c();
    if args.target.ephemeral {
        let params = new_session_params(&Params::default(), &flags, &runtime);
        return ephemeral(&runtime, &args, system, conversation, params, cancel).await;
    }

    let orchestrator = Orchestrator::new(runtime.clone())?;
    let existing = continued_session(&orchestrator, &args)?;
    // Everything that can fail comes before a new session is made, so a failed call
    // leaves no empty session for the next `-c` to pick up.
    let Some(question) = conversation.pop().filter(|m| m.role == Role::User) else {
        bail!("the conversation must end with a user message to answer");
    };
    let requested = args
        .model
        .as_deref()
        .or(existing.as_ref().map(|s| s.agent.model.as_str()));
    let model = runtime.chat_model(requested)?.id.clone();
    ensure_pulled(&runtime, &model).await?;
    let (existing, mut agent) = match existing {
        // Flags given with -c/--session apply to this turn only.
        Some(session) => {
            let mut agent = session.agent.clone();
            agent.model = model;
            agent.instructions = system.or(agent.instructions);
            agent.params = merge(&agent.params, &flags);
            (Some(session), agent)
        }
        None => {
            let mut agent = AgentConfig::default_for(&model);
            agent.instructions = system;
            agent.params = new_session_params(&agent.params, &flags, &runtime);
            (None, agent)
        }
    };
    if args.guardrail.is_some() {
        agent.guardrail = args.guardrail.clone();
    }
    // A guardrail that cannot load stops the call before a session is made.
    if let Some(reference) = orchestrator.guardrail_of(&agent) {
        prepare_guardrail(&orchestrator.guardrails, &reference).await?;
    }
    let (session, save_agent) = match existing {
        Some(session) => (session, false),
        None => (orchestrator.sessions.create_with(agent.clone())?, true),
    };
    // Earlier turns of a --messages file become the session's history.
    let mut stored = session.clone();
    for message in ChatMessage::from_conversation(&conversation) {
        orchestrator.sessions.put_message(&mut stored, &message)?;
    }

    let mut turn = Turn::new(session.id, TurnInput::Ask(question.content), Caller::Cli);
    turn.cancel = cancel.clone();
    turn.agent = Some(agent.clone());
    turn.save_agent = save_agent;
    turn.use_cache = args.cache.then_some(true);
    let json = args.json;
    let seen = Arc::new(std::sync::Mutex::new(GuardrailSeen::default()));
    let noted = seen.clone();
    let outcome = orchestrator
        .run_turn(turn, move |event| {
            if let RunEvent::Guardrail { update, .. } = &event {
                if let Ok(mut seen) = noted.lock() {
                    seen.note(update.clone());
                }
            }
            print_event(&event, json)
        })
        .await?;

    let mut stdout = std::io::stdout();
    if json {
        let mut value = match &outcome.response {
            Some(r) => serde_json::to_value(r)?,
            None => serde_json::json!({ "model": agent.model, "text": "" }),
        };
        value["session_id"] = session.id.to_string().into();
        value["run_id"] = outcome.run.to_string().into();
        value["message_id"] = outcome.answer.id.to_string().into();
        value["status"] = outcome.answer.status.as_str().into();
        if let Ok(seen) = seen.lock() {
            if let Some(g) = seen.to_json() {
                value["guardrail"] = g;
            }
        }
        if let Some(e) = &outcome.error {
            value["error"] = e.message.clone().into();
            value["error_kind"] = e.kind.as_str().into();
        }
        serde_json::to_writer(&mut stdout, &value)?;
        writeln!(stdout)?;
    } else if !outcome.answer.content.is_empty() && !outcome.answer.content.ends_with('\n') {
        writeln!(stdout)?;
    }
    stdout.flush()?;
    if let (None, Some(reason)) = (&outcome.error, &outcome.review) {
        eprintln!(
            "needs_review: the answer is held for review ({reason}); approve or reject it in the TUI (session {})",
            session.id
        );
        return Ok(EXIT_NEEDS_REVIEW);
    }
    Ok(match &outcome.error {
        None => 0,
        Some(e) => match e.kind {
            RunErrorKind::Cancelled => {
                eprintln!("(cancelled)");
                EXIT_CANCELLED
            }
            RunErrorKind::Blocked => {
                eprintln!("{}", e.message);
                EXIT_BLOCKED
            }
            RunErrorKind::BrokenStream => {
                eprintln!("error: {}\n(the answer above is incomplete)", e.message);
                EXIT_INCOMPLETE
            }
            _ if outcome.answer.status == crate::sessions::MessageStatus::Incomplete => {
                eprintln!("error: {}\n(the answer above is incomplete)", e.message);
                EXIT_INCOMPLETE
            }
            _ => {
                eprintln!("error: {}", e.message);
                1
            }
        },
    })
}

/// The last assessments a guardrail reported per side, for `--json`.
#[derive(Default)]
struct GuardrailSeen {
    input: Option<GuardrailUpdate>,
    output: Option<GuardrailUpdate>,
}

impl GuardrailSeen {
    fn note(&mut self, update: GuardrailUpdate) {
        match update.source {
            Source::Input => self.input = Some(update),
            Source::Output => self.output = Some(update),
        }
    }

    fn to_json(&self) -> Option<serde_json::Value> {
        let name = self
            .input
            .as_ref()
            .or(self.output.as_ref())
            .map(|u| u.guardrail.clone())?;
        let side = |u: &Option<GuardrailUpdate>| {
            u.as_ref().map(|u| {
                serde_json::json!({
                    "action": u.action,
                    "assessments": u.rows,
                })
            })
        };
        Some(serde_json::json!({
            "name": name,
            "input": side(&self.input),
            "output": side(&self.output),
        }))
    }
}

/// Makes sure a guardrail loads (pulling its embeddings model once if it needs one).
async fn prepare_guardrail(guardrails: &Guardrails, reference: &str) -> Result<()> {
    let r = GuardrailRef::parse(reference)?;
    let store = guardrails.store().clone();
    let resolved = tokio::task::spawn_blocking(move || store.resolve(&r)).await??;
    if resolved.policy.needs_embeddings() {
        ensure_pulled(guardrails.runtime(), DEFAULT_EMBEDDINGS_MODEL).await?;
    }
    guardrails.load(reference).await?;
    Ok(())
}

/// Streams a run's events: answer text to stdout (unless `--json`), the rest to stderr.
fn print_event(event: &RunEvent, json: bool) {
    match event {
        RunEvent::TextDelta { text, .. } if !json => print_text(text),
        RunEvent::ToolCall { call, .. } if !json => {
            println!("[tool call] {}({})", call.name, call.arguments);
        }
        RunEvent::Intervention {
            check,
            action,
            detail,
            ..
        } => print_intervention(check, *action, detail),
        _ => {}
    }
}

fn print_text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn print_intervention(check: &str, action: crate::runtime::types::Action, detail: &str) {
    eprintln!(
        "[guardrail] {}",
        describe_intervention(check, action, detail)
    );
}

/// The session a turn continues: `--session ID`, the latest with `-c`, else none (a new
/// one is made once the call can go ahead).
fn continued_session(orchestrator: &Orchestrator, args: &InvokeArgs) -> Result<Option<Session>> {
    let store = &orchestrator.sessions;
    if let Some(id) = &args.target.session {
        return super::sessions::find(store, id).map(Some);
    }
    if args.target.continue_last {
        let latest = store.latest()?;
        if latest.is_none() {
            eprintln!("(no earlier session; starting a new one)");
        }
        return Ok(latest);
    }
    Ok(None)
}

/// A new session's parameters: the flags, else the config's `max_tokens`, else `base`.
fn new_session_params(base: &Params, flags: &Params, runtime: &Runtime) -> Params {
    let mut params = merge(base, flags);
    if flags.max_tokens.is_none() {
        params.max_tokens = runtime.config.max_tokens.or(base.max_tokens);
    }
    params
}

/// Flags override the session's parameters where given.
fn merge(session: &Params, flags: &Params) -> Params {
    Params {
        temperature: flags.temperature.or(session.temperature),
        top_p: flags.top_p.or(session.top_p),
        max_tokens: flags.max_tokens.or(session.max_tokens),
        seed: flags.seed.or(session.seed),
        stop: if flags.stop.is_empty() {
            session.stop.clone()
        } else {
            flags.stop.clone()
        },
        repetition_penalty: flags.repetition_penalty.or(session.repetition_penalty),
    }
}

/// One pipeline call with no session (`--ephemeral`).
async fn ephemeral(
    runtime: &Arc<Runtime>,
    args: &InvokeArgs,
    system: Option<String>,
    messages: Vec<Message>,
    params: Params,
    cancel: CancellationToken,
) -> Result<i32> {
    let model = runtime.chat_model(args.model.as_deref())?.id.clone();
    ensure_pulled(runtime, &model).await?;
    let mut context = CallContext::new(Caller::Cli);
    let (updates_tx, mut updates) = tokio::sync::mpsc::unbounded_channel();
    if let Some(reference) = args.guardrail.clone().or(runtime.config.guardrail.clone()) {
        if reference != crate::orchestrator::NO_GUARDRAIL {
            let guardrails = Guardrails::new(runtime.clone());
            prepare_guardrail(&guardrails, &reference).await?;
            let g = guardrails.load(&reference).await?;
            context
                .checks
                .push(Arc::new(GuardrailCheck::new(g, Some(updates_tx))));
        }
    }
    let json = args.json;
    let sink = move |event: &StreamEvent| match event {
        StreamEvent::TextDelta { text } if !json => print_text(text),
        StreamEvent::Intervention {
            check,
            action,
            detail,
        } => print_intervention(check, *action, detail),
        _ => {}
    };
    let request = InvokeRequest {
        model,
        chat: ChatRequest {
            model: String::new(),
            system,
            messages,
            params,
            tools: Vec::new(),
            tool_choice: Default::default(),
        },
        use_cache: args.cache.then_some(true),
        context,
    };
    let result = runtime.invoke(request, sink, cancel.clone()).await;
    let mut seen = GuardrailSeen::default();
    while let Ok(update) = updates.try_recv() {
        seen.note(update);
    }
    let response = match result {
        Ok(response) => response,
        Err(InvokeError::Blocked {
            hook,
            reason,
            message,
            ..
        }) => {
            if json {
                let value = serde_json::json!({
                    "blocked": true,
                    "text": message,
                    "error": format!("blocked by `{hook}`: {reason}"),
                    "guardrail": seen.to_json(),
                });
                println!("{value}");
            }
            match message {
                Some(m) => eprintln!("{m} (blocked by `{hook}`: {reason})"),
                None => eprintln!("blocked by guardrail `{hook}`: {reason}"),
            }
            return Ok(EXIT_BLOCKED);
        }
        Err(e) => return Err(e.into()),
    };
    let mut stdout = std::io::stdout();
    if json {
        let mut value = serde_json::to_value(&response)?;
        if let Some(g) = seen.to_json() {
            value["guardrail"] = g;
        }
        serde_json::to_writer(&mut stdout, &value)?;
        writeln!(stdout)?;
    } else {
        if !response.text.ends_with('\n') {
            writeln!(stdout)?;
        }
        for call in &response.tool_calls {
            writeln!(stdout, "[tool call] {}({})", call.name, call.arguments)?;
        }
    }
    stdout.flush()?;
    if response.blocked {
        eprintln!(
            "{}blocked by guardrail `{}`: {}",
            response
                .blocked_message
                .as_ref()
                .map(|m| format!("{m}\n"))
                .unwrap_or_default(),
            response.guardrail.as_deref().unwrap_or(""),
            response.error.as_deref().unwrap_or("")
        );
        return Ok(EXIT_BLOCKED);
    }
    if let Some(reason) = &response.needs_review {
        eprintln!("needs_review: the answer is held for review ({reason})");
        return Ok(EXIT_NEEDS_REVIEW);
    }
    if let Some(error) = &response.error {
        eprintln!("error: {error}\n(the answer above is incomplete)");
        return Ok(EXIT_INCOMPLETE);
    }
    if cancel.is_cancelled() {
        eprintln!("(cancelled)");
        return Ok(EXIT_CANCELLED);
    }
    Ok(0)
}

/// The system prompt and messages from flags, the messages file, the prompt and stdin.
fn read_conversation(args: &InvokeArgs) -> Result<(Option<String>, Vec<Message>)> {
    let mut conversation = match &args.messages {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --messages file {}", path.display()))?;
            converse::parse(&text)
                .with_context(|| format!("bad --messages file {}", path.display()))?
        }
        None => converse::Conversation::default(),
    };
    let prompt = match args.prompt.as_deref() {
        Some("-") => Some(read_stdin()?),
        Some(p) => Some(p.to_string()),
        None if !std::io::stdin().is_terminal() && args.messages.is_none() => Some(read_stdin()?),
        None => None,
    };
    if let Some(prompt) = prompt {
        if prompt.trim().is_empty() {
            bail!("the prompt is empty; pass a question as an argument or on stdin");
        }
        conversation.messages.push(Message::user(prompt));
    }
    if conversation.messages.is_empty() {
        bail!("nothing to ask: give a PROMPT, pipe text on stdin, or pass --messages FILE");
    }
    Ok((
        args.system.clone().or(conversation.system),
        conversation.messages,
    ))
}

/// The sampling flags, checked by the same ranges as the TUI's parameter line.
fn flag_params(args: &InvokeArgs) -> Result<Params> {
    let params = Params {
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
        seed: args.seed,
        stop: args.stop.clone(),
        repetition_penalty: args.repeat_penalty,
    };
    params
        .validate()
        .map_err(|e| anyhow::anyhow!("--{}", e.0.replace('_', "-")))?;
    Ok(params)
}

/// Stdin as the prompt: one trailing newline (the one `echo` adds) is not part of it, so
/// `echo q | strata invoke` and `strata invoke q` send the same prompt.
fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read stdin")?;
    Ok(strip_one_newline(text))
}

fn strip_one_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_of_stdin_is_dropped() {
        assert_eq!(strip_one_newline("question\n".into()), "question");
        assert_eq!(strip_one_newline("question\r\n".into()), "question");
        assert_eq!(strip_one_newline("a\n\n".into()), "a\n");
        assert_eq!(strip_one_newline("a".into()), "a");
    }
}
