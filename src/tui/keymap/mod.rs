//! Key bindings as data: the default keymap (`keymap.toml`) patched by a user file,
//! key-string parsing, chord resolution for key presses, and the generated help.
//!
//! `actions` names what keys can do and where, `keys` parses and shows key strings,
//! `parse` reads keymap files, `load` assembles the keymap and `resolve` reads key presses.

mod actions;
mod keys;
mod load;
mod parse;
mod resolve;

use std::fmt;
use std::path::PathBuf;

pub use actions::{Action, Context};
pub use keys::{KeyChord, KeyParseError, KeySequence};
pub use load::Keymap;
pub use resolve::{KeyResolver, Resolution};

/// A position in a keymap file, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as shown to the user.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// Why a keymap could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    /// The user file could not be read.
    #[error("cannot read keymap {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the keymap's shape.
    #[error("invalid keymap ({at}): {message}")]
    Syntax {
        /// Where.
        at: Location,
        /// The parser's message.
        message: String,
    },
    /// A table names no known context.
    #[error("unknown context [{context}] ({at}); expected one of: {expected}")]
    UnknownContext {
        /// The table name.
        context: String,
        /// Where.
        at: Location,
        /// The known context names.
        expected: String,
    },
    /// A binding names no known action.
    #[error("unknown action `{action}` in [{context}] ({at})")]
    UnknownAction {
        /// The action string.
        action: String,
        /// The context table.
        context: Context,
        /// Where.
        at: Location,
    },
    /// A key string does not parse.
    #[error("unknown key `{key}` in [{context}] ({at}): {reason}")]
    BadKey {
        /// The key string.
        key: String,
        /// The context table.
        context: Context,
        /// Where.
        at: Location,
        /// Why.
        reason: KeyParseError,
    },
    /// An action has two bindings in one context of one file.
    #[error(
        "action `{action}` is bound twice in [{context}] ({at}); list all its keys in one binding"
    )]
    DuplicateAction {
        /// The action.
        action: Action,
        /// The context table.
        context: Context,
        /// Where the second binding is.
        at: Location,
    },
    /// Two keys in one context are equal or one starts the other.
    #[error("key `{key}` for `{action}` clashes with `{other_key}` for `{other_action}` in [{context}] ({at})")]
    Conflict {
        /// The later key.
        key: String,
        /// Its action.
        action: Action,
        /// The earlier key.
        other_key: String,
        /// Its action.
        other_action: Action,
        /// The context table.
        context: Context,
        /// Where the later binding is.
        at: Location,
    },
    /// A built-in binding lacks a description.
    #[error("binding for `{action}` in [{context}] needs a description ({at})")]
    MissingDescription {
        /// The action.
        action: Action,
        /// The context table.
        context: Context,
        /// Where.
        at: Location,
    },
}

/// Helpers shared by the module's tests.
#[cfg(test)]
mod test_support {
    use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

    use super::{KeyChord, KeyResolver, Keymap, KeymapError};

    pub(super) fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new_with_kind(code, modifiers, KeyEventKind::Press)
    }

    pub(super) fn ch(c: char) -> KeyEvent {
        press(KeyCode::Char(c), KeyModifiers::NONE)
    }

    pub(super) fn chord(s: &str) -> KeyChord {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    pub(super) fn resolver() -> KeyResolver {
        KeyResolver::new(Keymap::default_map())
    }

    pub(super) fn patched(text: &str) -> Result<Keymap, KeymapError> {
        Keymap::default_map().patch(text, "user.toml")
    }
}
