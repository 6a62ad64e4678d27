//! Key presses to actions: looks a press (and any started sequence such as the `g` of
//! `g g`) up in the contexts in order. Not responsible for building the keymap.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use super::{Action, Context, KeyChord, Keymap};

impl Keymap {
    /// What `pressed` means in the first of `contexts` that knows it.
    fn lookup(&self, contexts: &[Context], pressed: &[KeyChord]) -> Lookup {
        for &context in contexts {
            let mut prefix = false;
            for binding in self.bindings(context) {
                for key in &binding.keys {
                    if key.chords() == pressed {
                        return Lookup::Exact(binding.action);
                    }
                    prefix |= key.chords().starts_with(pressed);
                }
            }
            if prefix {
                return Lookup::Prefix;
            }
        }
        Lookup::None
    }
}

/// What a pressed sequence means in some contexts.
enum Lookup {
    Exact(Action),
    Prefix,
    None,
}

/// What a key event means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The key (or the sequence it completes) is bound to this action.
    Action(Action),
    /// The key starts a sequence (`g` of `g g`); wait for the next key.
    Pending,
    /// Nothing is bound: an input box may insert the character.
    Unbound,
    /// Not a key press (a release or a lone modifier): do nothing at all.
    Ignored,
}

/// Turns key events into actions, remembering a started key sequence.
#[derive(Debug, Clone)]
pub struct KeyResolver {
    keymap: Keymap,
    pending: Vec<KeyChord>,
}

impl KeyResolver {
    /// A resolver over `keymap` with no sequence started.
    pub fn new(keymap: Keymap) -> KeyResolver {
        KeyResolver {
            keymap,
            pending: Vec::new(),
        }
    }

    /// The keymap, for help and hints.
    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    /// The keys of a started sequence, for display (`g`); empty when none.
    pub fn pending(&self) -> &[KeyChord] {
        &self.pending
    }

    /// Forgets a started sequence (e.g. when focus or a modal changes).
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// Resolves `key` against `contexts`, searched in order (e.g.
    /// `[Chat, Global]`, or `[Confirm]` alone while a dialog is open). Only
    /// presses and repeats count. A started sequence that the key does not
    /// continue is dropped and the key is resolved on its own.
    pub fn resolve(&mut self, contexts: &[Context], key: KeyEvent) -> Resolution {
        if key.kind == KeyEventKind::Release || matches!(key.code, KeyCode::Modifier(_)) {
            return Resolution::Ignored;
        }
        let chord = KeyChord::from(key);
        if !self.pending.is_empty() {
            let mut pressed = std::mem::take(&mut self.pending);
            pressed.push(chord);
            if let Some(resolution) = self.step(contexts, pressed) {
                return resolution;
            }
        }
        self.step(contexts, vec![chord])
            .unwrap_or(Resolution::Unbound)
    }

    fn step(&mut self, contexts: &[Context], pressed: Vec<KeyChord>) -> Option<Resolution> {
        match self.keymap.lookup(contexts, &pressed) {
            Lookup::Exact(action) => Some(Resolution::Action(action)),
            Lookup::Prefix => {
                self.pending = pressed;
                Some(Resolution::Pending)
            }
            Lookup::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::test_support::{ch, chord, press, resolver};
    use crossterm::event::KeyModifiers;

    #[test]
    fn shift_letter_variants_match() {
        let mut r = resolver();
        let chat = [Context::Chat, Context::Global];
        let bottom = Resolution::Action(Action::Bottom);
        // crossterm's usual report, kitty-style lowercase + shift, caps lock.
        assert_eq!(
            r.resolve(&chat, press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            bottom
        );
        assert_eq!(
            r.resolve(&chat, press(KeyCode::Char('g'), KeyModifiers::SHIFT)),
            bottom
        );
        assert_eq!(r.resolve(&chat, ch('G')), bottom);
        let shift_tab = press(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(
            r.resolve(&chat, shift_tab),
            Resolution::Action(Action::FocusPrev)
        );
        let shift_question = press(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(
            r.resolve(&chat, shift_question),
            Resolution::Action(Action::Help)
        );
    }

    #[test]
    fn gg_chord_resolves_to_top_after_pending() {
        let mut r = resolver();
        let chat = [Context::Chat, Context::Global];
        assert_eq!(r.resolve(&chat, ch('g')), Resolution::Pending);
        assert_eq!(r.pending(), &[chord("g")]);
        assert_eq!(r.resolve(&chat, ch('g')), Resolution::Action(Action::Top));
        assert!(r.pending().is_empty());
    }

    #[test]
    fn broken_chord_resolves_the_key_normally() {
        let mut r = resolver();
        let chat = [Context::Chat, Context::Global];
        assert_eq!(r.resolve(&chat, ch('g')), Resolution::Pending);
        assert_eq!(
            r.resolve(&chat, ch('j')),
            Resolution::Action(Action::ScrollDown)
        );
        assert_eq!(r.resolve(&chat, ch('g')), Resolution::Pending);
        assert_eq!(r.resolve(&chat, ch('z')), Resolution::Unbound);
        assert_eq!(r.resolve(&chat, ch('y')), Resolution::Pending);
        assert_eq!(
            r.resolve(&chat, ch('y')),
            Resolution::Action(Action::CopyLastAnswer)
        );
    }

    #[test]
    fn contexts_are_searched_in_order() {
        let mut r = resolver();
        let esc = press(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(
            r.resolve(&[Context::Confirm], esc),
            Resolution::Action(Action::ConfirmNo)
        );
        assert_eq!(
            r.resolve(&[Context::Chat, Context::Global], esc),
            Resolution::Action(Action::Cancel)
        );
        let ctrl_p = press(KeyCode::Char('p'), KeyModifiers::CONTROL);
        assert_eq!(
            r.resolve(&[Context::Picker, Context::Global], ctrl_p),
            Resolution::Action(Action::PickerUp)
        );
        assert_eq!(
            r.resolve(&[Context::Input, Context::Global], ctrl_p),
            Resolution::Action(Action::PickModel)
        );
        assert_eq!(
            r.resolve(&[Context::Input, Context::Global], ch('q')),
            Resolution::Unbound
        );
        assert_eq!(r.resolve(&[Context::Confirm], ch('q')), Resolution::Unbound);
    }

    #[test]
    fn terminal_encodings_resolve() {
        let mut r = resolver();
        let input = [Context::Input, Context::Global];
        let ctrl_j = press(KeyCode::Char('j'), KeyModifiers::CONTROL);
        let alt_enter = press(KeyCode::Enter, KeyModifiers::ALT);
        let enter = press(KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(
            r.resolve(&input, ctrl_j),
            Resolution::Action(Action::Newline)
        );
        assert_eq!(
            r.resolve(&input, alt_enter),
            Resolution::Action(Action::Newline)
        );
        assert_eq!(r.resolve(&input, enter), Resolution::Action(Action::Send));
        let alt_1 = press(KeyCode::Char('1'), KeyModifiers::ALT);
        assert_eq!(
            r.resolve(&input, alt_1),
            Resolution::Action(Action::FocusSidebar)
        );
    }

    #[test]
    fn release_events_are_ignored() {
        let mut r = resolver();
        let chat = [Context::Chat, Context::Global];
        let release = KeyEvent::new_with_kind(
            KeyCode::Char('g'),
            KeyModifiers::NONE,
            KeyEventKind::Release,
        );
        let repeat =
            KeyEvent::new_with_kind(KeyCode::Char('j'), KeyModifiers::NONE, KeyEventKind::Repeat);
        assert_eq!(r.resolve(&chat, ch('g')), Resolution::Pending);
        assert_eq!(r.resolve(&chat, release), Resolution::Ignored);
        let shift = press(
            KeyCode::Modifier(crossterm::event::ModifierKeyCode::LeftShift),
            KeyModifiers::SHIFT,
        );
        assert_eq!(r.resolve(&chat, shift), Resolution::Ignored);
        assert_eq!(r.resolve(&chat, ch('g')), Resolution::Action(Action::Top));
        assert_eq!(
            r.resolve(&chat, repeat),
            Resolution::Action(Action::ScrollDown)
        );
    }
}
