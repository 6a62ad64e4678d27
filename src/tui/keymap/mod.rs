//! Key bindings as data: the default keymap (`keymap.toml`) patched by a user file,
//! key-string parsing, chord resolution for key presses, and the generated help.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The embedded default keymap.
const DEFAULT_KEYMAP: &str = include_str!("../keymap.toml");
/// How the embedded default keymap is named in error messages.
const DEFAULT_FILE: &str = "built-in keymap.toml";

macro_rules! actions {
    ($($(#[doc = $doc:literal])+ $variant:ident = $name:literal,)+) => {
        /// Something a key binding asks the application to do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Action {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];

            /// The snake_case name used in keymap files.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)+
                }
            }
        }
    };
}

actions! {
    /// Quit the application (asks first).
    Quit = "quit",
    /// Cancel the running generation; when idle, ask to quit.
    CancelOrQuit = "cancel_or_quit",
    /// Cancel or close the current prompt, modal or selection.
    Cancel = "cancel",
    /// Move focus to the next pane.
    FocusNext = "focus_next",
    /// Move focus to the previous pane.
    FocusPrev = "focus_prev",
    /// Focus the session list.
    FocusSidebar = "focus_sidebar",
    /// Focus the conversation pane.
    FocusChat = "focus_chat",
    /// Focus the input box.
    FocusInput = "focus_input",
    /// Show the help overlay.
    Help = "help",
    /// Send the input box contents.
    Send = "send",
    /// Insert a newline in the input box.
    Newline = "newline",
    /// Recall the previous input from history.
    HistoryPrev = "history_prev",
    /// Recall the next input from history.
    HistoryNext = "history_next",
    /// Compose the input in `$EDITOR`.
    ComposeInEditor = "compose_in_editor",
    /// Regenerate the last answer.
    Regenerate = "regenerate",
    /// Edit the selected user message and resend it.
    EditMessage = "edit_message",
    /// Scroll up one line.
    ScrollUp = "scroll_up",
    /// Scroll down one line.
    ScrollDown = "scroll_down",
    /// Scroll or move up one page.
    PageUp = "page_up",
    /// Scroll or move down one page.
    PageDown = "page_down",
    /// Go to the top.
    Top = "top",
    /// Go to the bottom.
    Bottom = "bottom",
    /// Open the search prompt.
    Search = "search",
    /// Accept the search prompt (go to the match, close the prompt).
    SearchSubmit = "search_submit",
    /// Go to the next search match.
    SearchNext = "search_next",
    /// Go to the previous search match.
    SearchPrev = "search_prev",
    /// Copy the last answer to the clipboard.
    CopyLastAnswer = "copy_last_answer",
    /// Copy the selected message to the clipboard.
    CopyMessage = "copy_message",
    /// Copy a code block to the clipboard, cycling on repeat.
    CopyCodeBlock = "copy_code_block",
    /// Select the previous message.
    SelectPrevMessage = "select_prev_message",
    /// Select the next message.
    SelectNextMessage = "select_next_message",
    /// Toggle mouse capture.
    ToggleMouse = "toggle_mouse",
    /// Open the model picker.
    PickModel = "pick_model",
    /// Start a new session.
    NewSession = "new_session",
    /// Rename the selected session.
    RenameSession = "rename_session",
    /// Delete the selected session (asks first).
    DeleteSession = "delete_session",
    /// Search the session list.
    SearchSessions = "search_sessions",
    /// Export the selected session as Markdown.
    ExportMarkdown = "export_markdown",
    /// Export the selected session as JSON.
    ExportJson = "export_json",
    /// Edit the session's system prompt.
    EditSystemPrompt = "edit_system_prompt",
    /// Edit the generation parameters.
    EditParams = "edit_params",
    /// Answer yes in a confirmation dialog.
    ConfirmYes = "confirm_yes",
    /// Answer no in a confirmation dialog.
    ConfirmNo = "confirm_no",
    /// Move up in a picker.
    PickerUp = "picker_up",
    /// Move down in a picker.
    PickerDown = "picker_down",
    /// Choose the highlighted picker item.
    PickerSelect = "picker_select",
    /// Move up in a list.
    ListUp = "list_up",
    /// Move down in a list.
    ListDown = "list_down",
    /// Open the selected session.
    OpenSession = "open_session",
    /// Open the command palette (every action, fuzzy-searched).
    CommandPalette = "command_palette",
    /// Switch to the next screen.
    NextScreen = "next_screen",
    /// Attach, switch or detach the session's guardrail (NAME, NAME@VERSION, none).
    AttachGuardrail = "attach_guardrail",
    /// Show or hide the live guardrail panel beside the chat.
    ToggleGuardrailPanel = "toggle_guardrail_panel",
    /// Approve the answer a guardrail held for review.
    ApproveAnswer = "approve_answer",
    /// Reject the answer a guardrail held for review.
    RejectAnswer = "reject_answer",
    /// Switch what the guardrail sandbox assesses (input or output).
    ToggleSandboxSource = "toggle_sandbox_source",
    /// Attach knowledge bases to the session (names separated by commas; empty detaches).
    AttachKnowledge = "attach_knowledge",
    /// Open a source the selected (or last) answer cites, in context.
    OpenCitation = "open_citation",
    /// Sync the selected knowledge base.
    SyncKnowledgeBase = "sync_knowledge_base",
    /// Re-ask the selected (or last) question of the chat in the compare view.
    CompareMessage = "compare_message",
    /// Compare view: select the next column.
    NextColumn = "next_column",
    /// Compare view: select the previous column.
    PrevColumn = "prev_column",
    /// Compare view: mark the selected column's answer the winner.
    VoteWinner = "vote_winner",
    /// Compare view: mark the answers a tie.
    VoteTie = "vote_tie",
    /// Compare view: take the selected column's answer into the chat.
    KeepColumn = "keep_column",
    /// Compare view: add a model (column).
    AddColumn = "add_column",
    /// Compare view: remove the selected model (column).
    RemoveColumn = "remove_column",
    /// Compare view: ask with the chat's conversation, or the question alone.
    ToggleConversation = "toggle_conversation",
    /// Evaluation screen: run a job file.
    RunEval = "run_eval",
    /// Evaluation screen: show the next chart.
    NextChart = "next_chart",
}

impl Action {
    /// The action with this snake_case name, if any.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a key press is interpreted: a pane, a modal or everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    /// Active everywhere except inside modals.
    Global,
    /// The conversation pane.
    Chat,
    /// The input box.
    Input,
    /// The session list.
    Sidebar,
    /// Model picker and other fuzzy lists.
    Picker,
    /// Yes/no dialogs.
    Confirm,
    /// The search prompt.
    Search,
    /// The compare view's answer columns.
    Compare,
    /// The evaluation screen's jobs, summary and items.
    Evals,
}

impl Context {
    /// Every context, in declaration order.
    pub const ALL: [Context; 9] = [
        Context::Global,
        Context::Chat,
        Context::Input,
        Context::Sidebar,
        Context::Picker,
        Context::Confirm,
        Context::Search,
        Context::Compare,
        Context::Evals,
    ];

    /// The name used for the context's table in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Chat => "chat",
            Context::Input => "input",
            Context::Sidebar => "sidebar",
            Context::Picker => "picker",
            Context::Confirm => "confirm",
            Context::Search => "search",
            Context::Compare => "compare",
            Context::Evals => "evals",
        }
    }

    /// The context with this table name, if any.
    pub fn from_name(name: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// The lowercase form of `c` when it is a single character, else `c`.
fn single_lower(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
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
    fn clashes_with(&self, other: &KeySequence) -> bool {
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

/// A position in a keymap file, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as shown to the user.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
}

impl Location {
    fn at(file: &str, text: &str, offset: usize) -> Location {
        let before = text.get(..offset).unwrap_or(text);
        Location {
            file: file.to_string(),
            line: Some(before.matches('\n').count() + 1),
        }
    }
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
struct Entry {
    context: Context,
    action: Action,
    keys: Vec<KeySequence>,
    description: Option<String>,
    at: Location,
}

/// A binding in the assembled keymap.
#[derive(Debug, Clone)]
struct Binding {
    action: Action,
    keys: Vec<KeySequence>,
    description: String,
    at: Location,
    from_user: bool,
}

/// Parses a keymap file into validated entries.
fn parse_entries(text: &str, file: &str) -> Result<Vec<Entry>, KeymapError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| KeymapError::Syntax {
        at: match e.span() {
            Some(span) => Location::at(file, text, span.start),
            None => Location {
                file: file.to_string(),
                line: None,
            },
        },
        message: e.message().to_string(),
    })?;
    let mut entries = Vec::new();
    for (name, bindings) in raw {
        let context = parse_context(&name, text, file)?;
        let start = entries.len();
        for binding in bindings {
            let entry = parse_binding(context, binding, text, file)?;
            reject_duplicate_action(&entries[start..], &entry)?;
            entries.push(entry);
        }
    }
    Ok(entries)
}

fn parse_context(name: &Spanned<String>, text: &str, file: &str) -> Result<Context, KeymapError> {
    Context::from_name(name.get_ref()).ok_or_else(|| KeymapError::UnknownContext {
        context: name.get_ref().clone(),
        at: Location::at(file, text, name.span().start),
        expected: Context::ALL.map(Context::name).join(", "),
    })
}

fn parse_binding(
    context: Context,
    raw: RawBinding,
    text: &str,
    file: &str,
) -> Result<Entry, KeymapError> {
    let at = Location::at(file, text, raw.action.span().start);
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
                    at: Location::at(file, text, key.span().start),
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
            let keys: Vec<(&Binding, &KeySequence)> = self.contexts[context.index()]
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

    /// `(keys, description)` for every bound action of `context`, in file
    /// order, for the help overlay. Keys read like `k, Up` or `g g, Home`.
    pub fn help(&self, context: Context) -> Vec<(String, String)> {
        self.contexts[context.index()]
            .iter()
            .filter(|b| !b.keys.is_empty())
            .map(|b| (display_keys(&b.keys), b.description.clone()))
            .collect()
    }

    /// `(action, keys, description)` for every action of `context`, unbound ones
    /// included (with no keys), in file order, for the command palette.
    pub fn actions(&self, context: Context) -> Vec<(Action, Vec<String>, String)> {
        self.contexts[context.index()]
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
        self.contexts[context.index()]
            .iter()
            .filter(|b| b.action == action)
            .flat_map(|b| b.keys.iter().map(KeySequence::to_string))
            .collect()
    }

    /// What `pressed` means in the first of `contexts` that knows it.
    fn lookup(&self, contexts: &[Context], pressed: &[KeyChord]) -> Lookup {
        for &context in contexts {
            let mut prefix = false;
            for binding in &self.contexts[context.index()] {
                for key in &binding.keys {
                    if key.0 == pressed {
                        return Lookup::Exact(binding.action);
                    }
                    prefix |= key.0.starts_with(pressed);
                }
            }
            if prefix {
                return Lookup::Prefix;
            }
        }
        Lookup::None
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
    use serde::de::IntoDeserializer;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new_with_kind(code, modifiers, KeyEventKind::Press)
    }

    fn ch(c: char) -> KeyEvent {
        press(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn chord(s: &str) -> KeyChord {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn resolver() -> KeyResolver {
        KeyResolver::new(Keymap::default_map())
    }

    fn patched(text: &str) -> Result<Keymap, KeymapError> {
        Keymap::default_map().patch(text, "user.toml")
    }

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
    fn action_names_match_serde() {
        for &action in Action::ALL {
            let de: Result<Action, serde::de::value::Error> =
                Action::deserialize(action.name().into_deserializer());
            assert_eq!(de, Ok(action));
            assert_eq!(Action::from_name(action.name()), Some(action));
        }
        for context in Context::ALL {
            let de: Result<Context, serde::de::value::Error> =
                Context::deserialize(context.name().into_deserializer());
            assert_eq!(de, Ok(context));
        }
    }

    #[test]
    fn no_duplicate_or_prefix_keys_within_a_context() {
        let map = Keymap::default_map();
        for context in Context::ALL {
            let keys: Vec<&KeySequence> = map.contexts[context.index()]
                .iter()
                .flat_map(|b| &b.keys)
                .collect();
            for (i, a) in keys.iter().enumerate() {
                for b in &keys[i + 1..] {
                    assert!(!a.clashes_with(b), "[{context}] `{a}` vs `{b}`");
                }
            }
        }
    }

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
