//! Key strings and chords: parsing `ctrl-c` / `g g` into normalised chords and sequences, and
//! displaying them back (`Ctrl-C`). Not responsible for keymap files or what a key does.

use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Why a key string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// The string holds no key.
    #[error("no key given")]
    Empty,
    /// The key name is not known.
    #[error("no key named `{0}`")]
    UnknownName(String),
    /// `shift-` was put on a character that has no case.
    #[error("shift does not apply to `{0}`; write the shifted character instead")]
    ShiftOnSymbol(char),
}

/// One key press: a key plus modifiers, normalised so that a binding string
/// and the events different terminals report for the same press compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    code: KeyCode,
    modifiers: KeyModifiers,
}

impl KeyChord {
    /// A chord from a key code and modifiers, normalised: shift+tab becomes
    /// backtab, and for characters shift is folded into the character
    /// (`g` + shift and `G` + shift both become `G`).
    pub fn new(code: KeyCode, modifiers: KeyModifiers) -> KeyChord {
        let shift = modifiers.contains(KeyModifiers::SHIFT);
        let (code, fold_shift) = match code {
            KeyCode::Tab if shift => (KeyCode::BackTab, true),
            KeyCode::BackTab => (KeyCode::BackTab, true),
            KeyCode::Char(c) if shift => (KeyCode::Char(single_upper(c)), true),
            KeyCode::Char(c) => (KeyCode::Char(c), true),
            other => (other, false),
        };
        let modifiers = if fold_shift {
            modifiers - KeyModifiers::SHIFT
        } else {
            modifiers
        };
        KeyChord { code, modifiers }
    }

    /// The key code (after normalisation).
    pub fn code(&self) -> KeyCode {
        self.code
    }

    /// The modifiers (after normalisation).
    pub fn modifiers(&self) -> KeyModifiers {
        self.modifiers
    }
}

impl From<KeyEvent> for KeyChord {
    fn from(event: KeyEvent) -> KeyChord {
        KeyChord::new(event.code, event.modifiers)
    }
}

/// The uppercase form of `c` when it is a single character, else `c`.
fn single_upper(c: char) -> char {
    single_char(c.to_uppercase(), c)
}

/// The lowercase form of `c` when it is a single character, else `c`.
fn single_lower(c: char) -> char {
    single_char(c.to_lowercase(), c)
}

/// The only character of a case mapping, or `c` when the mapping has several.
fn single_char(mut mapped: impl Iterator<Item = char>, c: char) -> char {
    match (mapped.next(), mapped.next()) {
        (Some(m), None) => m,
        _ => c,
    }
}

fn has_case(c: char) -> bool {
    single_upper(c) != c || single_lower(c) != c
}

/// Modifier prefixes accepted in key strings (matched case-insensitively).
const MODIFIER_PREFIXES: &[(&str, KeyModifiers)] = &[
    ("ctrl-", KeyModifiers::CONTROL),
    ("control-", KeyModifiers::CONTROL),
    ("alt-", KeyModifiers::ALT),
    ("meta-", KeyModifiers::ALT),
    ("shift-", KeyModifiers::SHIFT),
];

/// Named keys accepted in key strings (matched case-insensitively).
const NAMED_KEYS: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("return", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("escape", KeyCode::Esc),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("backspace", KeyCode::Backspace),
    ("space", KeyCode::Char(' ')),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pgup", KeyCode::PageUp),
    ("pageup", KeyCode::PageUp),
    ("pgdn", KeyCode::PageDown),
    ("pagedown", KeyCode::PageDown),
    ("insert", KeyCode::Insert),
    ("ins", KeyCode::Insert),
    ("delete", KeyCode::Delete),
    ("del", KeyCode::Delete),
];

/// Splits one leading modifier prefix off `s`, if `s` has a key after it.
fn strip_modifier(s: &str) -> Option<(KeyModifiers, &str)> {
    MODIFIER_PREFIXES.iter().find_map(|&(prefix, modifier)| {
        let head = s.get(..prefix.len())?;
        let rest = &s[prefix.len()..];
        (head.eq_ignore_ascii_case(prefix) && !rest.is_empty()).then_some((modifier, rest))
    })
}

/// The key code for a key name: a single character or a named key.
fn parse_key_name(name: &str) -> Result<KeyCode, KeyParseError> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Ok(KeyCode::Char(c));
    }
    if let Some(&(_, code)) = NAMED_KEYS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return Ok(code);
    }
    parse_function_key(name).ok_or_else(|| KeyParseError::UnknownName(name.to_string()))
}

/// `f1`..`f24`.
fn parse_function_key(name: &str) -> Option<KeyCode> {
    let digits = name.strip_prefix(['f', 'F'])?;
    if digits.starts_with('0') {
        return None;
    }
    let n: u8 = digits.parse().ok()?;
    (1..=24).contains(&n).then_some(KeyCode::F(n))
}

impl FromStr for KeyChord {
    type Err = KeyParseError;

    /// Parses `ctrl-c`, `alt-enter`, `shift-tab`, `f1`, `pgup`, `G`, `?`,
    /// `space`. With a modifier, a letter's case is ignored (`ctrl-C` is
    /// `ctrl-c`); write `ctrl-shift-c` for the shifted chord.
    fn from_str(s: &str) -> Result<KeyChord, KeyParseError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(KeyParseError::Empty);
        }
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = s;
        while let Some((modifier, tail)) = strip_modifier(rest) {
            modifiers |= modifier;
            rest = tail;
        }
        let code = match parse_key_name(rest)? {
            KeyCode::Char(c) if !modifiers.is_empty() => KeyCode::Char(single_lower(c)),
            code => code,
        };
        if let KeyCode::Char(c) = code {
            if modifiers.contains(KeyModifiers::SHIFT) && !has_case(c) {
                return Err(KeyParseError::ShiftOnSymbol(c));
            }
        }
        Ok(KeyChord::new(code, modifiers))
    }
}

impl fmt::Display for KeyChord {
    /// Human form for help and hints: `Ctrl-C`, `Alt-Enter`, `Shift-Tab`,
    /// `G`, `?`, `Space`, `PgUp`. It parses back to the same chord.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shift = false;
        let key = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) if !self.modifiers.is_empty() && has_case(c) => {
                shift = single_upper(c) == c;
                single_upper(c).to_string()
            }
            KeyCode::Char(c) => c.to_string(),
            KeyCode::BackTab => {
                shift = true;
                "Tab".to_string()
            }
            KeyCode::F(n) => format!("F{n}"),
            code => named_key_display(code).to_string(),
        };
        for (flag, label) in [
            (KeyModifiers::CONTROL, "Ctrl-"),
            (KeyModifiers::ALT, "Alt-"),
            (KeyModifiers::SUPER, "Super-"),
            (KeyModifiers::HYPER, "Hyper-"),
            (KeyModifiers::META, "Meta-"),
        ] {
            if self.modifiers.contains(flag) {
                f.write_str(label)?;
            }
        }
        if shift || self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        f.write_str(&key)
    }
}

fn named_key_display(code: KeyCode) -> &'static str {
    match code {
        KeyCode::Enter => "Enter",
        KeyCode::Esc => "Esc",
        KeyCode::Tab => "Tab",
        KeyCode::Backspace => "Backspace",
        KeyCode::Up => "Up",
        KeyCode::Down => "Down",
        KeyCode::Left => "Left",
        KeyCode::Right => "Right",
        KeyCode::Home => "Home",
        KeyCode::End => "End",
        KeyCode::PageUp => "PgUp",
        KeyCode::PageDown => "PgDn",
        KeyCode::Insert => "Insert",
        KeyCode::Delete => "Delete",
        _ => "?key",
    }
}

/// One or more chords pressed one after the other, written space-separated
/// (`g g`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeySequence(Vec<KeyChord>);

impl KeySequence {
    /// The chords in press order (never empty).
    pub fn chords(&self) -> &[KeyChord] {
        &self.0
    }

    /// Whether one sequence equals or starts the other, which would make
    /// one of them unreachable in the same context.
    pub(super) fn clashes_with(&self, other: &KeySequence) -> bool {
        let n = self.0.len().min(other.0.len());
        self.0[..n] == other.0[..n]
    }
}

impl FromStr for KeySequence {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<KeySequence, KeyParseError> {
        let chords = s
            .split_whitespace()
            .map(KeyChord::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        if chords.is_empty() {
            return Err(KeyParseError::Empty);
        }
        Ok(KeySequence(chords))
    }
}

impl fmt::Display for KeySequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, chord) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{chord}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::test_support::chord;

    #[test]
    fn parses_key_strings() {
        let cases = [
            ("ctrl-c", KeyCode::Char('c'), KeyModifiers::CONTROL),
            ("Ctrl-C", KeyCode::Char('c'), KeyModifiers::CONTROL),
            ("ctrl-shift-c", KeyCode::Char('C'), KeyModifiers::CONTROL),
            ("alt-enter", KeyCode::Enter, KeyModifiers::ALT),
            ("shift-tab", KeyCode::BackTab, KeyModifiers::NONE),
            ("backtab", KeyCode::BackTab, KeyModifiers::NONE),
            ("f1", KeyCode::F(1), KeyModifiers::NONE),
            ("F12", KeyCode::F(12), KeyModifiers::NONE),
            ("pgup", KeyCode::PageUp, KeyModifiers::NONE),
            ("esc", KeyCode::Esc, KeyModifiers::NONE),
            ("G", KeyCode::Char('G'), KeyModifiers::NONE),
            ("shift-g", KeyCode::Char('G'), KeyModifiers::NONE),
            ("?", KeyCode::Char('?'), KeyModifiers::NONE),
            ("space", KeyCode::Char(' '), KeyModifiers::NONE),
            ("-", KeyCode::Char('-'), KeyModifiers::NONE),
            ("ctrl--", KeyCode::Char('-'), KeyModifiers::CONTROL),
        ];
        for (s, code, modifiers) in cases {
            assert_eq!(chord(s), KeyChord { code, modifiers }, "{s}");
        }
    }

    #[test]
    fn rejects_bad_key_strings() {
        for s in ["", "ctrl-shfit-x", "f0", "f25", "ctrl-", "shift-?", "hyper"] {
            assert!(s.parse::<KeySequence>().is_err(), "{s:?} parsed");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "ctrl-c",
            "ctrl-shift-c",
            "alt-G",
            "shift-tab",
            "G",
            "g",
            "?",
            "space",
            "pgdn",
            "f5",
            "ctrl-space",
        ] {
            let c = chord(s);
            assert_eq!(chord(&c.to_string()), c, "{s} -> {c}");
        }
        assert_eq!(chord("ctrl-c").to_string(), "Ctrl-C");
        assert_eq!(chord("shift-tab").to_string(), "Shift-Tab");
        assert_eq!(chord("alt-shift-g").to_string(), "Alt-Shift-G");
        assert_eq!(chord("G").to_string(), "G");
    }
}
