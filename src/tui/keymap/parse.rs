//! Keymap files: TOML tables of bindings parsed into validated entries (known context,
//! known action, parseable keys), with file:line errors. Not responsible for merging them.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Action, Context, KeySequence, KeymapError, Location};

/// One binding as written in a keymap file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    keys: Vec<Spanned<String>>,
    action: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
}

/// A keymap file: context table name → bindings.
type RawFile = BTreeMap<Spanned<String>, Vec<RawBinding>>;

/// One validated binding from a file.
pub(super) struct Entry {
    pub(super) context: Context,
    pub(super) action: Action,
    pub(super) keys: Vec<KeySequence>,
    pub(super) description: Option<String>,
    pub(super) at: Location,
}

/// A keymap file's text and the name it has in error messages.
#[derive(Clone, Copy)]
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    /// The location of byte `offset` of the text.
    fn at(self, offset: usize) -> Location {
        let before = self.text.get(..offset).unwrap_or(self.text);
        Location {
            file: self.file.to_string(),
            line: Some(before.matches('\n').count() + 1),
        }
    }

    /// The whole file, when no line is known.
    fn whole(self) -> Location {
        Location {
            file: self.file.to_string(),
            line: None,
        }
    }
}

/// Parses a keymap file into validated entries.
pub(super) fn parse_entries(text: &str, file: &str) -> Result<Vec<Entry>, KeymapError> {
    let src = Source { text, file };
    let raw: RawFile = toml::from_str(text).map_err(|e| KeymapError::Syntax {
        at: match e.span() {
            Some(span) => src.at(span.start),
            None => src.whole(),
        },
        message: e.message().to_string(),
    })?;
    let mut entries = Vec::new();
    for (name, bindings) in raw {
        let context = parse_context(&name, src)?;
        let start = entries.len();
        for binding in bindings {
            let entry = parse_binding(context, binding, src)?;
            reject_duplicate_action(&entries[start..], &entry)?;
            entries.push(entry);
        }
    }
    Ok(entries)
}

fn parse_context(name: &Spanned<String>, src: Source<'_>) -> Result<Context, KeymapError> {
    Context::from_name(name.get_ref()).ok_or_else(|| KeymapError::UnknownContext {
        context: name.get_ref().clone(),
        at: src.at(name.span().start),
        expected: Context::ALL.map(Context::name).join(", "),
    })
}

fn parse_binding(context: Context, raw: RawBinding, src: Source<'_>) -> Result<Entry, KeymapError> {
    let at = src.at(raw.action.span().start);
    let action =
        Action::from_name(raw.action.get_ref()).ok_or_else(|| KeymapError::UnknownAction {
            action: raw.action.get_ref().clone(),
            context,
            at: at.clone(),
        })?;
    let keys = raw
        .keys
        .iter()
        .map(|key| {
            key.get_ref()
                .parse::<KeySequence>()
                .map_err(|reason| KeymapError::BadKey {
                    key: key.get_ref().clone(),
                    context,
                    at: src.at(key.span().start),
                    reason,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Entry {
        context,
        action,
        keys,
        description: raw.description,
        at,
    })
}

fn reject_duplicate_action(same_context: &[Entry], entry: &Entry) -> Result<(), KeymapError> {
    if same_context.iter().any(|e| e.action == entry.action) {
        return Err(KeymapError::DuplicateAction {
            action: entry.action,
            context: entry.context,
            at: entry.at.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::tui::keymap::test_support::patched;

    #[test]
    fn bad_key_error_names_file_and_line() {
        let text = "[[chat]]\naction = \"regenerate\"\nkeys = [\"ctrl-shfit-x\"]\n";
        let err = patched(text).unwrap_err().to_string();
        assert!(
            err.starts_with("unknown key `ctrl-shfit-x` in [chat] (user.toml:3)"),
            "{err}"
        );
    }

    #[test]
    fn other_user_errors_name_the_place() {
        let cases = [
            ("[[chat]]\nkeys = [\"x\"]\naction = \"launch\"\n", "unknown action `launch` in [chat] (user.toml:3)"),
            ("\n[[chatt]]\nkeys = [\"x\"]\naction = \"quit\"\n", "unknown context [chatt] (user.toml:2)"),
            ("[[chat]]\nkeys = [\"x\"]\naction = \"quit\"\nkey = 1\n", "invalid keymap (user.toml:4)"),
            ("[[chat]]\nkeys = [\"x\"]\naction = \"quit\"\n[[chat]]\nkeys = [\"z\"]\naction = \"quit\"\n", "action `quit` is bound twice in [chat] (user.toml:6)"),
            ("[[chat]]\nkeys = [\"x\"]\naction = \"quit\"\n[[chat]]\nkeys = [\"x\"]\naction = \"help\"\n", "key `x` for `help` clashes with `x` for `quit` in [chat] (user.toml:6)"),
            ("[chat]\nkeys = [\"x\"]\n", "invalid keymap (user.toml:1)"),
        ];
        for (text, want) in cases {
            let err = patched(text).unwrap_err().to_string();
            assert!(err.starts_with(want), "got {err:?}, want {want:?}");
        }
    }
}
