//! The assembled keymap: the built-in `keymap.toml` patched by the user's file, conflict
//! checks, and the keys and descriptions for help, palette and hints. Not responsible for
//! reading key presses (`resolve`).

use std::path::Path;

use super::parse::{parse_entries, Entry};
use super::{Action, Context, KeySequence, KeymapError, Location};

/// The embedded default keymap.
const DEFAULT_KEYMAP: &str = include_str!("../keymap.toml");
/// How the embedded default keymap is named in error messages.
const DEFAULT_FILE: &str = "built-in keymap.toml";

/// A binding in the assembled keymap.
#[derive(Debug, Clone)]
pub(super) struct Binding {
    pub(super) action: Action,
    pub(super) keys: Vec<KeySequence>,
    description: String,
    at: Location,
    from_user: bool,
}

/// All key bindings, per context.
#[derive(Debug, Clone)]
pub struct Keymap {
    contexts: [Vec<Binding>; Context::ALL.len()],
}

impl Default for Keymap {
    fn default() -> Keymap {
        Keymap::default_map()
    }
}

impl Keymap {
    /// The built-in keymap. Panics only if the embedded `keymap.toml` is
    /// defective, which the unit tests rule out.
    pub fn default_map() -> Keymap {
        Keymap::try_default().expect("the built-in keymap.toml is invalid (a bug)")
    }

    fn try_default() -> Result<Keymap, KeymapError> {
        let mut map = Keymap {
            contexts: Default::default(),
        };
        for entry in parse_entries(DEFAULT_KEYMAP, DEFAULT_FILE)? {
            let description = entry
                .description
                .ok_or_else(|| KeymapError::MissingDescription {
                    action: entry.action,
                    context: entry.context,
                    at: entry.at.clone(),
                })?;
            map.contexts[entry.context.index()].push(Binding {
                action: entry.action,
                keys: entry.keys,
                description,
                at: entry.at,
                from_user: false,
            });
        }
        map.check_conflicts()?;
        Ok(map)
    }

    /// The built-in keymap patched by the user file, if one is given. The
    /// file must exist; pass `None` when the user has none.
    pub fn load(user_file: Option<&Path>) -> Result<Keymap, KeymapError> {
        let map = Keymap::default_map();
        let Some(path) = user_file else {
            return Ok(map);
        };
        let text = std::fs::read_to_string(path).map_err(|source| KeymapError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        map.patch(&text, &path.display().to_string())
    }

    /// This keymap patched by the keymap text `text` (named `file` in
    /// errors): each binding replaces its action's keys in its context
    /// (`keys = []` unbinds) and takes its keys away from the other
    /// built-in bindings of that context.
    pub fn patch(mut self, text: &str, file: &str) -> Result<Keymap, KeymapError> {
        for entry in parse_entries(text, file)? {
            self.apply(entry);
        }
        self.check_conflicts()?;
        Ok(self)
    }

    fn apply(&mut self, entry: Entry) {
        let fallback = self.description_of(entry.action);
        let bindings = &mut self.contexts[entry.context.index()];
        for other in bindings
            .iter_mut()
            .filter(|b| !b.from_user && b.action != entry.action)
        {
            other
                .keys
                .retain(|k| !entry.keys.iter().any(|new| new.clashes_with(k)));
        }
        let new = Binding {
            action: entry.action,
            keys: entry.keys,
            description: String::new(),
            at: entry.at,
            from_user: true,
        };
        match bindings.iter_mut().find(|b| b.action == entry.action) {
            Some(existing) => {
                let description = entry
                    .description
                    .unwrap_or_else(|| existing.description.clone());
                *existing = Binding { description, ..new };
            }
            None => {
                let description = entry.description.unwrap_or(fallback);
                bindings.push(Binding { description, ..new });
            }
        }
    }

    /// The description of the first binding of `action` in any context.
    fn description_of(&self, action: Action) -> String {
        self.contexts
            .iter()
            .flatten()
            .find(|b| b.action == action)
            .map_or_else(|| action.name().to_string(), |b| b.description.clone())
    }

    /// Fails when two keys in one context are equal or one starts the other.
    fn check_conflicts(&self) -> Result<(), KeymapError> {
        for context in Context::ALL {
            let keys: Vec<(&Binding, &KeySequence)> = self
                .bindings(context)
                .iter()
                .flat_map(|b| b.keys.iter().map(move |k| (b, k)))
                .collect();
            for (i, &a) in keys.iter().enumerate() {
                if let Some(&b) = keys[..i].iter().find(|(_, k)| k.clashes_with(a.1)) {
                    return Err(conflict(context, a, b));
                }
            }
        }
        Ok(())
    }

    /// The bindings of `context`, in file order.
    pub(super) fn bindings(&self, context: Context) -> &[Binding] {
        &self.contexts[context.index()]
    }

    /// `(keys, description)` for every bound action of `context`, in file
    /// order, for the help overlay. Keys read like `k, Up` or `g g, Home`.
    pub fn help(&self, context: Context) -> Vec<(String, String)> {
        self.bindings(context)
            .iter()
            .filter(|b| !b.keys.is_empty())
            .map(|b| (display_keys(&b.keys), b.description.clone()))
            .collect()
    }

    /// `(action, keys, description)` for every action of `context`, unbound ones
    /// included (with no keys), in file order, for the command palette.
    pub fn actions(&self, context: Context) -> Vec<(Action, Vec<String>, String)> {
        self.bindings(context)
            .iter()
            .map(|b| {
                let keys = b.keys.iter().map(KeySequence::to_string).collect();
                (b.action, keys, b.description.clone())
            })
            .collect()
    }

    /// The keys bound to `action` in `context`, in display form (`Ctrl-C`),
    /// for hints in the status bar. Empty when unbound there.
    pub fn keys_for(&self, context: Context, action: Action) -> Vec<String> {
        self.bindings(context)
            .iter()
            .filter(|b| b.action == action)
            .flat_map(|b| b.keys.iter().map(KeySequence::to_string))
            .collect()
    }
}

/// The clash error, blamed on the user's binding, else the later line.
fn conflict(
    context: Context,
    a: (&Binding, &KeySequence),
    b: (&Binding, &KeySequence),
) -> KeymapError {
    let blame = |x: &(&Binding, &KeySequence)| (x.0.from_user, x.0.at.line);
    let (late, early) = if blame(&a) >= blame(&b) {
        (a, b)
    } else {
        (b, a)
    };
    KeymapError::Conflict {
        key: late.1.to_string(),
        action: late.0.action,
        other_key: early.1.to_string(),
        other_action: early.0.action,
        context,
        at: late.0.at.clone(),
    }
}

fn display_keys(keys: &[KeySequence]) -> String {
    keys.iter()
        .map(KeySequence::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::test_support::{ch, patched, press};
    use crate::tui::keymap::{KeyResolver, Resolution};
    use crossterm::event::{KeyCode, KeyModifiers};

    #[test]
    fn default_keymap_is_valid() {
        if let Err(e) = Keymap::try_default() {
            panic!("{e}");
        }
    }

    #[test]
    fn every_action_is_bound_somewhere() {
        let map = Keymap::default_map();
        for &action in Action::ALL {
            let bound = Context::ALL
                .iter()
                .any(|&c| !map.keys_for(c, action).is_empty());
            assert!(bound, "{action} has no default binding");
        }
    }

    #[test]
    fn no_duplicate_or_prefix_keys_within_a_context() {
        let map = Keymap::default_map();
        for context in Context::ALL {
            let keys: Vec<&KeySequence> =
                map.bindings(context).iter().flat_map(|b| &b.keys).collect();
            for (i, a) in keys.iter().enumerate() {
                for b in &keys[i + 1..] {
                    assert!(!a.clashes_with(b), "[{context}] `{a}` vs `{b}`");
                }
            }
        }
    }

    #[test]
    fn user_override_replaces_keys() {
        let map = patched("[[chat]]\nkeys = [\"ctrl-r\"]\naction = \"regenerate\"\n").unwrap();
        assert_eq!(map.keys_for(Context::Chat, Action::Regenerate), ["Ctrl-R"]);
        let mut r = KeyResolver::new(map);
        let chat = [Context::Chat, Context::Global];
        assert_eq!(r.resolve(&chat, ch('r')), Resolution::Unbound);
        let ctrl_r = press(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(
            r.resolve(&chat, ctrl_r),
            Resolution::Action(Action::Regenerate)
        );
        let help = r.keymap().help(Context::Chat);
        assert!(help.contains(&("Ctrl-R".to_string(), "Regenerate last answer".to_string())));
    }

    #[test]
    fn empty_keys_unbind() {
        let map = patched("[[global]]\nkeys = []\naction = \"quit\"\n").unwrap();
        assert!(map.keys_for(Context::Global, Action::Quit).is_empty());
        assert!(!map
            .help(Context::Global)
            .iter()
            .any(|(_, d)| d == "Quit (asks first)"));
        let mut r = KeyResolver::new(map);
        let ctrl_q = press(KeyCode::Char('q'), KeyModifiers::CONTROL);
        assert_eq!(r.resolve(&[Context::Global], ctrl_q), Resolution::Unbound);
    }

    #[test]
    fn user_key_is_taken_from_other_default_bindings() {
        let text =
            "[[chat]]\nkeys = [\"g\"]\naction = \"regenerate\"\ndescription = \"Go again\"\n";
        let map = patched(text).unwrap();
        assert_eq!(map.keys_for(Context::Chat, Action::Top), ["Home"]);
        assert_eq!(map.keys_for(Context::Sidebar, Action::Top), ["g g", "Home"]);
        let mut r = KeyResolver::new(map);
        assert_eq!(
            r.resolve(&[Context::Chat], ch('g')),
            Resolution::Action(Action::Regenerate)
        );
    }

    #[test]
    fn user_binding_in_new_context_inherits_description() {
        let text = "[[input]]\nkeys = [\"f5\"]\naction = \"regenerate\"\n";
        let map = patched(text).unwrap();
        assert_eq!(
            map.help(Context::Input).last(),
            Some(&("F5".to_string(), "Regenerate last answer".to_string()))
        );
    }

    #[test]
    fn load_reads_a_user_file() {
        let path = std::env::temp_dir().join(format!("strata-keymap-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[[confirm]]\nkeys = [\"enter\"]\naction = \"confirm_yes\"\n",
        )
        .unwrap();
        let map = Keymap::load(Some(&path));
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            map.unwrap().keys_for(Context::Confirm, Action::ConfirmYes),
            ["Enter"]
        );
        assert!(Keymap::load(None).is_ok());
        let missing = Keymap::load(Some(Path::new("/nonexistent/keymap.toml"))).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/keymap.toml"),
            "{missing}"
        );
    }

    #[test]
    fn help_lists_descriptions() {
        let map = Keymap::default_map();
        let help = map.help(Context::Chat);
        assert!(help.contains(&("g g, Home".to_string(), "Go to top".to_string())));
        assert!(help.contains(&("k, Up".to_string(), "Scroll up".to_string())));
        let global = map.help(Context::Global);
        assert!(global.contains(&(
            "Ctrl-C".to_string(),
            "Stop generating; when idle, ask to quit".to_string()
        )));
        for context in Context::ALL {
            assert!(map
                .help(context)
                .iter()
                .all(|(k, d)| !k.is_empty() && !d.is_empty()));
        }
        assert_eq!(map.keys_for(Context::Global, Action::Quit), ["Ctrl-Q"]);
    }
}
