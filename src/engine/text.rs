//! Generated tokens back to text while they stream: a token may end in the middle of a
//! UTF-8 character (byte-level BPE), so text is released only up to the last whole
//! character, and the tokens after it wait for the next one. Only the tokens not yet
//! released are decoded each time.

/// The tokens whose text is not released yet.
#[derive(Default)]
pub struct TokenText {
    pending: Vec<u32>,
}

impl TokenText {
    pub fn new() -> TokenText {
        TokenText::default()
    }

    /// Adds `token`; returns the text it completes (possibly empty).
    pub fn push(&mut self, tokenizer: &tokenizers::Tokenizer, token: u32) -> String {
        self.pending.push(token);
        let text = tokenizer.decode(&self.pending, false).unwrap_or_default();
        // A trailing replacement character is an unfinished character: wait for more
        // (at most a few tokens; past that it is what the model wrote).
        if text.ends_with('\u{FFFD}') && self.pending.len() < 4 {
            return String::new();
        }
        self.pending.clear();
        text
    }
}
