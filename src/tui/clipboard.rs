//! Copy to the system clipboard with OSC 52, which terminals honour over SSH (and tmux
//! with `set-clipboard on`).

use base64::Engine;

/// The escape sequence that puts `text` on the clipboard.
pub fn osc52(text: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{encoded}\x07")
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_utf8_text() {
        assert_eq!(super::osc52("hi 한"), "\x1b]52;c;aGkg7ZWc\x07");
    }
}
