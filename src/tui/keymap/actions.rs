//! The keymap's vocabulary: every `Action` a binding can ask for and every `Context` a key
//! is read in, with the names keymap files use. Not responsible for keys or bindings.

use std::fmt;

use serde::{Deserialize, Serialize};

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
    /// Open the selected answer's (or evaluation item's) run in the Agents debugger.
    OpenRun = "open_run",
    /// Agents: hold the live run before its next step.
    PauseRun = "pause_run",
    /// Agents: let the held run take one step (a model call or a tool call), then hold.
    StepRun = "step_run",
    /// Agents: let the held run go on without holding.
    ContinueRun = "continue_run",
    /// Agents: change the held step before it runs (a tool result, the instructions).
    EditStep = "edit_step",
    /// Agents: fork the run from the selected step (another model, instructions, result).
    ForkRun = "fork_run",
    /// Agents: replay the run (recorded tool results, live model calls).
    ReplayRun = "replay_run",
    /// Agents: mark this run, or diff it with the marked one.
    DiffRuns = "diff_runs",
    /// Approval prompt: run the call as the model made it.
    ApproveCall = "approve_call",
    /// Approval prompt: run it, and this tool without asking for the rest of the session.
    ApproveCallAlways = "approve_call_always",
    /// Approval prompt: edit the call's arguments, then run it.
    EditCallArgs = "edit_call_args",
    /// Approval prompt: deny the call with a reason the model reads.
    DenyCall = "deny_call",
    /// Approval prompt: give the call's result by hand (the tool does not run).
    GiveCallResult = "give_call_result",
    /// A multi-choice list: mark or unmark the highlighted entry.
    ToggleChoice = "toggle_choice",
    /// Guardrails, Knowledge, Evaluations, Agents: make a new one (a template in
    /// `$EDITOR`, or a form).
    NewItem = "new_item",
    /// Guardrails: a new one from a form of the common policies.
    NewFromForm = "new_from_form",
    /// Guardrails, Agents: edit the selected one's draft or file in `$EDITOR`.
    EditItem = "edit_item",
    /// Guardrails: freeze the draft as the next version, with a note.
    VersionItem = "version_item",
    /// Guardrails, Knowledge, Evaluations: delete the selected one (asks first, naming
    /// what is lost).
    DeleteItem = "delete_item",
    /// Guardrails, Knowledge: attach the selected one to the chat's session.
    AttachItem = "attach_item",
    /// Knowledge: sync the selected base again from scratch with its embeddings model
    /// (every chunk embedded again).
    ReembedKnowledgeBase = "reembed_knowledge_base",
    /// Knowledge: the selected base's last sync report in full (skipped files, errors).
    ShowReport = "show_report",
    /// Evaluations: run the selected job again (an unfinished one resumes).
    ResumeEval = "resume_eval",
    /// Evaluations: mark this job, or compare it with the marked one (paired).
    CompareJobs = "compare_jobs",
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
    /// The Agents screen: agents, runs, steps and the debugger.
    Agents,
    /// The approval prompt of a tool call (modal).
    Approval,
    /// The Guardrails screen's lists (guardrails and their versions).
    Guardrails,
    /// The Knowledge screen's list of bases.
    Knowledge,
    /// A form of fields (modal).
    Form,
}

impl Context {
    /// Every context, in declaration order.
    pub const ALL: [Context; 14] = [
        Context::Global,
        Context::Chat,
        Context::Input,
        Context::Sidebar,
        Context::Picker,
        Context::Confirm,
        Context::Search,
        Context::Compare,
        Context::Evals,
        Context::Agents,
        Context::Approval,
        Context::Guardrails,
        Context::Knowledge,
        Context::Form,
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
            Context::Agents => "agents",
            Context::Approval => "approval",
            Context::Guardrails => "guardrails",
            Context::Knowledge => "knowledge",
            Context::Form => "form",
        }
    }

    /// The context with this table name, if any.
    pub fn from_name(name: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The context's position in `ALL`.
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use serde::de::IntoDeserializer;
    use serde::Deserialize;

    use super::*;

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
}
