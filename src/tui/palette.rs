//! The command palette: a layer that fuzzy-searches every action of the keymap (defaults
//! patched by the user's file) with its keys and description, the screens' own actions
//! (each with the screen it runs on), and every screen. Choosing an entry runs the action
//! through the same path its key takes, on its screen (or switches screen).
//! State, filtering and drawing live here; `App` routes keys to it and runs the choice.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::ListItem;
use ratatui::Frame;

use super::fuzzy::fuzzy_score;
use super::input::InputBox;
use super::keymap::{Action, Context, Keymap};
use super::msg::ScreenId;
use super::theme::Theme;
use super::view;

/// The pane contexts whose actions the palette offers once each, in the order an
/// action's home context is chosen (the modal-only contexts make no sense outside their
/// modal).
const CONTEXTS: [Context; 4] = [
    Context::Global,
    Context::Chat,
    Context::Input,
    Context::Sidebar,
];

/// The contexts of one screen's panes: their actions are listed per screen (`d` deletes
/// a guardrail on one screen and a job on another), and run on that screen.
const SCREEN_CONTEXTS: [(Context, ScreenId); 5] = [
    (Context::Guardrails, ScreenId::Guardrails),
    (Context::Knowledge, ScreenId::Knowledge),
    (Context::Compare, ScreenId::Compare),
    (Context::Evals, ScreenId::Evals),
    (Context::Agents, ScreenId::Agents),
];

/// One action as the palette lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaletteEntry {
    pub action: Action,
    /// A screen to go to instead of running `action` (`Action::NextScreen` then).
    pub screen: Option<ScreenId>,
    /// The screen the action runs on (shown first), for a screen's own action.
    pub on: Option<ScreenId>,
    /// Where the action is bound first; running it focuses that pane.
    pub context: Context,
    /// Its keys in every pane context, display form (`Ctrl-N, ?`); empty when unbound.
    pub keys: String,
    pub description: String,
    /// What the query is matched against (lowercase description and action name).
    haystack: String,
}

/// The palette's state: the entries, the query, the matches and the highlighted one.
#[derive(Debug, Clone)]
pub struct Palette {
    pub entries: Vec<PaletteEntry>,
    pub query: InputBox,
    /// Indices into `entries`, best match first.
    pub matches: Vec<usize>,
    pub selected: usize,
}

impl Palette {
    /// The palette over `keymap`'s actions, one entry per action, all shown.
    pub fn new(keymap: &Keymap) -> Palette {
        let mut found: Vec<(Action, Context, Vec<String>, String)> = Vec::new();
        for context in CONTEXTS {
            for (action, keys, description) in keymap.actions(context) {
                if action == Action::CommandPalette {
                    continue;
                }
                match found.iter_mut().find(|e| e.0 == action) {
                    Some(e) => {
                        for k in keys {
                            if !e.2.contains(&k) {
                                e.2.push(k);
                            }
                        }
                    }
                    None => found.push((action, context, keys, description)),
                }
            }
        }
        let mut entries: Vec<PaletteEntry> = found
            .into_iter()
            .map(|(action, context, keys, description)| PaletteEntry {
                action,
                screen: None,
                on: None,
                context,
                keys: keys.join(", "),
                haystack: format!("{description} {}", action.name().replace('_', " "))
                    .to_lowercase(),
                description,
            })
            .collect();
        for (context, screen) in SCREEN_CONTEXTS {
            for (action, keys, description) in keymap.actions(context) {
                entries.push(PaletteEntry {
                    action,
                    screen: None,
                    on: Some(screen),
                    context,
                    keys: keys.join(", "),
                    haystack: format!(
                        "{description} {} {}",
                        action.name().replace('_', " "),
                        screen.name()
                    )
                    .to_lowercase(),
                    description,
                });
            }
        }
        // One entry per screen, from the list of screens.
        for &screen in ScreenId::ALL {
            let description = format!("Go to the {} screen", screen.name());
            entries.push(PaletteEntry {
                action: Action::NextScreen,
                screen: Some(screen),
                on: None,
                context: Context::Global,
                keys: String::new(),
                haystack: format!("{description} {}", screen.description()).to_lowercase(),
                description,
            });
        }
        let matches = (0..entries.len()).collect();
        Palette {
            entries,
            query: InputBox::default(),
            matches,
            selected: 0,
        }
    }

    /// Recomputes the matches after the query changed (best first, ties in keymap order).
    pub fn refilter(&mut self) {
        let query = self.query.text().to_lowercase();
        let mut scored: Vec<(i64, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| fuzzy_score(&query, &e.haystack).map(|s| (s, i)))
            .collect();
        scored.sort_by_key(|(s, i)| (std::cmp::Reverse(*s), *i));
        self.matches = scored.into_iter().map(|(_, i)| i).collect();
        self.selected = 0;
    }

    /// Moves the highlight by `delta` entries, staying in the list.
    pub fn move_by(&mut self, delta: isize) {
        let last = self.matches.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    /// The highlighted entry, if any matches.
    pub fn chosen(&self) -> Option<&PaletteEntry> {
        self.matches
            .get(self.selected)
            .and_then(|&i| self.entries.get(i))
    }
}

/// Draws the palette in `r` with the list the model picker uses.
pub fn draw(t: &Theme, palette: &Palette, frame: &mut Frame, r: Rect) {
    let items: Vec<ListItem> = palette
        .matches
        .iter()
        .filter_map(|&i| palette.entries.get(i))
        .map(|e| {
            let mut spans = vec![
                Span::styled(format!("{:<18} ", e.keys), Style::default().fg(t.accent)),
                Span::raw(e.description.clone()),
            ];
            if e.context != Context::Global {
                spans.push(Span::styled(
                    format!("  ({})", e.context.name()),
                    Style::default().fg(t.muted),
                ));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let title = format!("Command: {}▏", palette.query.text());
    view::fuzzy_list(t, frame, r, &title, items, palette.selected);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_pane_action_once_with_all_its_keys() {
        let p = Palette::new(&Keymap::default_map());
        let help = p.entries.iter().find(|e| e.action == Action::Help).unwrap();
        assert_eq!(help.keys, "F1, ?");
        assert_eq!(help.context, Context::Global);
        let rename = p
            .entries
            .iter()
            .find(|e| e.action == Action::RenameSession)
            .unwrap();
        assert_eq!(rename.context, Context::Sidebar);
        assert!(!p.entries.iter().any(|e| e.action == Action::PickerSelect));
        assert!(!p.entries.iter().any(|e| e.action == Action::CommandPalette));
        let by_action: Vec<&PaletteEntry> =
            p.entries.iter().filter(|e| e.screen.is_none()).collect();
        let mut actions: Vec<(Action, Context)> =
            by_action.iter().map(|e| (e.action, e.context)).collect();
        actions.sort();
        actions.dedup();
        assert_eq!(actions.len(), by_action.len());
        // Every action a screen binds is listed, to run on that screen.
        let map = Keymap::default_map();
        for (context, screen) in SCREEN_CONTEXTS {
            for (action, keys, _) in map.actions(context) {
                let e = p
                    .entries
                    .iter()
                    .find(|e| e.action == action && e.context == context)
                    .unwrap_or_else(|| panic!("{action} of {context} is not in the palette"));
                assert_eq!((e.on, e.keys.clone()), (Some(screen), keys.join(", ")));
            }
        }
        let delete = p
            .entries
            .iter()
            .filter(|e| e.action == Action::DeleteItem)
            .count();
        assert!(delete >= 3, "delete on guardrails, knowledge, evaluations");
        // Every screen is listed, generated from the list of screens.
        for &s in ScreenId::ALL {
            assert!(p.entries.iter().any(|e| e.screen == Some(s)));
        }
    }

    #[test]
    fn a_user_patch_shows() {
        let map = Keymap::default_map()
            .patch(
                "[[global]]\nkeys = [\"ctrl-g\"]\naction = \"new_session\"\ndescription = \"Fresh chat\"\n",
                "user.toml",
            )
            .unwrap();
        let p = Palette::new(&map);
        let e = p
            .entries
            .iter()
            .find(|e| e.action == Action::NewSession)
            .unwrap();
        assert_eq!(
            (e.keys.as_str(), e.description.as_str()),
            ("Ctrl-G", "Fresh chat")
        );
    }

    #[test]
    fn query_ranks_the_named_action_first() {
        let mut p = Palette::new(&Keymap::default_map());
        p.query.insert_str("new session");
        p.refilter();
        assert_eq!(p.chosen().map(|e| e.action), Some(Action::NewSession));
        p.move_by(-5);
        assert_eq!(p.selected, 0);
        p.query.insert_str("zzzzqqq");
        p.refilter();
        assert!(p.chosen().is_none());
        p.move_by(3);
        assert_eq!(p.selected, 0);
    }
}
