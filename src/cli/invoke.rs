//! `strata invoke` (and `strata -p`, `echo … | strata`): one call, streamed to stdout.

use std::io::{IsTerminal, Read, Write};

use anyhow::{bail, Context, Result};
use tokio_util::sync::CancellationToken;

use super::InvokeArgs;
use crate::runtime::converse;
use crate::runtime::invoke::InvokeRequest;
use crate::runtime::types::{ChatRequest, Message, Params, StreamEvent};
use crate::runtime::Runtime;

/// Exit code of a call cut short (stream broke or Ctrl-C) after printing the partial answer.
const EXIT_INCOMPLETE: i32 = 3;
const EXIT_CANCELLED: i32 = 130;

pub async fn run(runtime: &Runtime, args: InvokeArgs) -> Result<i32> {
    let model = runtime.chat_model(args.model.as_deref())?.id.clone();
    let mut chat = build_request(&args)?;
    if chat.params.max_tokens.is_none() {
        chat.params.max_tokens = runtime.config.max_tokens;
    }
    super::ensure_pulled(runtime, &model).await?;

    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });

    let json = args.json;
    let mut stdout = std::io::stdout();
    let sink = move |event: &StreamEvent| {
        if let (false, StreamEvent::TextDelta { text }) = (json, event) {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    };
    let request = InvokeRequest {
        model,
        chat,
        use_cache: args.cache.then_some(true),
    };
    let response = runtime.invoke(request, sink, cancel.clone()).await?;
    if json {
        serde_json::to_writer(&mut stdout, &response)?;
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
    if let Some(error) = &response.error {
        eprintln!("error: {error}\n(the answer above is incomplete)");
        return Ok(EXIT_INCOMPLETE);
    }
    if let Some(guard) = &response.guardrail {
        eprintln!("note: guardrail `{guard}` stopped the answer");
    }
    if cancel.is_cancelled() {
        eprintln!("(cancelled)");
        return Ok(EXIT_CANCELLED);
    }
    Ok(0)
}

/// Builds the chat request from flags, the messages file, the prompt and stdin.
fn build_request(args: &InvokeArgs) -> Result<ChatRequest> {
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
    if let Some(t) = args.temperature {
        if !(0.0..=2.0).contains(&t) {
            bail!("--temperature {t} is out of range; use a value from 0 to 2");
        }
    }
    if let Some(p) = args.top_p {
        if !(0.0..=1.0).contains(&p) || p == 0.0 {
            bail!("--top-p {p} is out of range; use a value in (0, 1]");
        }
    }
    if let Some(r) = args.repeat_penalty {
        if !(0.5..=3.0).contains(&r) {
            bail!("--repeat-penalty {r} is out of range; use 0.5 to 3 (1 is off)");
        }
    }
    if args.max_tokens == Some(0) {
        bail!("--max-tokens must be at least 1");
    }
    Ok(ChatRequest {
        model: String::new(),
        system: args.system.clone().or(conversation.system),
        messages: conversation.messages,
        params: Params {
            temperature: args.temperature,
            top_p: args.top_p,
            max_tokens: args.max_tokens,
            seed: args.seed,
            stop: args.stop.clone(),
            repetition_penalty: args.repeat_penalty,
        },
        tools: Vec::new(),
    })
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read stdin")?;
    Ok(text)
}
