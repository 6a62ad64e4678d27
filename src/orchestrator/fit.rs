//! Fitting a conversation into the model's context window: the newest turns that fit,
//! counted with the model's own tokenizer where the provider has one (local models) and
//! estimated for remote models (and then marked as an estimate).

use crate::runtime::catalog::ModelSpec;
use crate::runtime::types::{estimate_tokens, ChatRequest, Message, Role, PER_MESSAGE_TOKENS};
use crate::runtime::Runtime;

/// A request cut to fit, with what fitting did.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub request: ChatRequest,
    /// Messages left out from the start of the conversation.
    pub dropped: usize,
    /// The prompt's tokens as counted.
    pub prompt_tokens: u32,
    /// True when `prompt_tokens` is an estimate (no tokenizer for this model).
    pub estimated: bool,
}

/// How the prompt's tokens are counted for one model.
enum Counter {
    Local(std::sync::Arc<crate::runtime::providers::local::LoadedChat>),
    /// About four characters a token.
    Estimate,
}

impl Counter {
    fn message(&self, m: &Message) -> u32 {
        match self {
            Counter::Local(model) => {
                let tool_text: usize = m
                    .tool_calls
                    .iter()
                    .map(|c| c.name.len() + c.arguments.len())
                    .sum();
                model.count_tokens(&m.content) + (tool_text as u32).div_ceil(3) + PER_MESSAGE_TOKENS
            }
            Counter::Estimate => estimate_tokens(m),
        }
    }

    /// The whole prompt as the model will see it, where the template can be rendered.
    fn prompt(&self, request: &ChatRequest) -> Option<u32> {
        match self {
            Counter::Local(model) => Some(model.count_tokens(&model.prompt(request).ok()?)),
            Counter::Estimate => None,
        }
    }
}

/// The room the prompt may take: the window less the answer's room (its `max_tokens`,
/// at most half the window; a quarter when unset).
fn prompt_budget(context_window: u32, max_tokens: Option<u32>) -> u32 {
    let answer = max_tokens
        .unwrap_or(context_window / 4)
        .min(context_window / 2);
    context_window.saturating_sub(answer)
}

/// Keeps the newest messages of `request` that fit `spec`'s context window. The newest
/// message always stays, and a trimmed conversation starts with a user turn (templates
/// that check alternating roles refuse anything else).
pub async fn fit(runtime: &Runtime, spec: &ModelSpec, mut request: ChatRequest) -> Fitted {
    let counter = match spec.is_local() {
        true => match runtime.local().chat_model(&spec.id).await {
            Ok(model) => Counter::Local(model),
            Err(_) => Counter::Estimate,
        },
        false => Counter::Estimate,
    };
    let estimated = matches!(counter, Counter::Estimate);
    let system = request
        .system
        .as_deref()
        .map_or(0, |s| counter.message(&Message::system(s)));
    if spec.context_window == 0 {
        let prompt_tokens = request
            .messages
            .iter()
            .map(|m| counter.message(m))
            .sum::<u32>()
            + system;
        return Fitted {
            request,
            dropped: 0,
            prompt_tokens,
            estimated,
        };
    }
    let budget = prompt_budget(spec.context_window, request.params.max_tokens);
    // Only the newest messages are counted, up to the first that does not fit: a long
    // session costs no more per turn than a short one.
    let (mut keep, costs) = newest_that_fit(
        &request.messages,
        |m| counter.message(m),
        budget.saturating_sub(system),
    );
    let counted_from = request.messages.len() - costs.len();
    // The per-message sum is close to the rendered prompt; where the template can be
    // rendered, check the real count and drop more while it is over.
    let mut prompt_tokens;
    loop {
        let candidate = ChatRequest {
            messages: request.messages[keep..].to_vec(),
            ..request.clone()
        };
        prompt_tokens = counter
            .prompt(&candidate)
            .unwrap_or_else(|| costs[keep - counted_from..].iter().sum::<u32>() + system);
        if prompt_tokens <= budget || keep + 1 >= request.messages.len() {
            break;
        }
        keep = start_at_user(&request.messages, keep + 1);
    }
    let dropped = keep;
    request.messages.drain(..keep);
    Fitted {
        request,
        dropped,
        prompt_tokens,
        estimated,
    }
}

/// The first message to keep so the newest ones fit in `budget` tokens, and the costs of
/// the messages counted (the newest ones, oldest first; at least those kept).
fn newest_that_fit(
    messages: &[Message],
    cost: impl Fn(&Message) -> u32,
    budget: u32,
) -> (usize, Vec<u32>) {
    let mut used = 0u32;
    let mut keep = messages.len();
    let mut costs = Vec::new();
    for (i, m) in messages.iter().enumerate().rev() {
        let c = cost(m);
        used = used.saturating_add(c);
        if used > budget && i + 1 < messages.len() {
            break;
        }
        costs.push(c);
        keep = i;
    }
    costs.reverse();
    let keep = if keep == 0 {
        0
    } else {
        start_at_user(messages, keep)
    };
    (keep, costs)
}

/// Moves `keep` forward to a user message (never past the newest message).
fn start_at_user(messages: &[Message], mut keep: usize) -> usize {
    while keep + 1 < messages.len() && messages[keep].role != Role::User {
        keep += 1;
    }
    keep.min(messages.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alternating(n: usize, len: usize) -> Vec<Message> {
        (0..n)
            .map(|i| {
                let text = format!("{i} {}", "x".repeat(len));
                if i % 2 == 0 {
                    Message::user(text)
                } else {
                    Message::assistant(text)
                }
            })
            .collect()
    }

    #[test]
    fn the_newest_turns_that_fit_are_kept_starting_with_a_user_turn() {
        let messages = alternating(100, 400);
        let counted = std::cell::Cell::new(0);
        let cost = |m: &Message| {
            counted.set(counted.get() + 1);
            Counter::Estimate.message(m)
        };
        let (keep, costs) = newest_that_fit(&messages, cost, 1000);
        assert!(keep > 0 && keep < 99);
        assert_eq!(messages[keep].role, Role::User);
        let from = messages.len() - costs.len();
        assert!(costs[keep - from..].iter().sum::<u32>() <= 1000);
        assert!(
            counted.get() < 20,
            "only the newest messages are counted, not all 100 ({})",
            counted.get()
        );
        // Nothing fits: the newest message still goes.
        assert_eq!(newest_that_fit(&messages, cost, 0).0, 99);
        let (all, costs) = newest_that_fit(&messages, cost, u32::MAX);
        assert_eq!((all, costs.len()), (0, 100));
    }

    #[test]
    fn the_answer_keeps_its_room() {
        assert_eq!(prompt_budget(8192, Some(1024)), 7168);
        assert_eq!(prompt_budget(8192, None), 6144);
        assert_eq!(prompt_budget(1000, Some(900)), 500);
    }
}
