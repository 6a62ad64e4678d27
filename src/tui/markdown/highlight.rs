//! Code-fence highlighting: syntect grammars classify each token, and the theme's `syntax_*`
//! slots colour the classes. Not responsible for wrapping or drawing the code block's box.

use ratatui::style::{Modifier, Style};
use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxReference, SyntaxSet};

use super::wrap::Frag;
use crate::tui::theme::Theme;

/// Syntax highlighting by syntect grammar, coloured from the theme's `syntax_*` slots.
pub struct Highlighter {
    /// syntect's bundled grammars (newline-terminated variant).
    syntaxes: SyntaxSet,
    /// Scope prefixes and the class they select, most specific first.
    rules: Vec<(Scope, TokenClass)>,
    /// `comment` and `string`, which win over anything nested inside them.
    dominant: Vec<(Scope, TokenClass)>,
}

/// What a highlighted token is, mapped later to a theme colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenClass {
    Keyword,
    String,
    Comment,
    Number,
    Function,
    Type,
    Punctuation,
    Plain,
}

/// Scope prefixes in matching order (more specific prefixes before their parents).
/// `storage.type.function` (`fn`, `def`, `function`) reads as a keyword, not a type.
const SCOPE_RULES: &[(&str, TokenClass)] = &[
    ("constant.numeric", TokenClass::Number),
    ("constant.language", TokenClass::Number),
    ("constant.character", TokenClass::Number),
    ("entity.name.function", TokenClass::Function),
    ("support.function", TokenClass::Function),
    ("variable.function", TokenClass::Function),
    ("support.macro", TokenClass::Function),
    ("entity.name.macro", TokenClass::Function),
    ("storage.type.function", TokenClass::Keyword),
    ("entity.name.type", TokenClass::Type),
    ("entity.name.class", TokenClass::Type),
    ("entity.name.struct", TokenClass::Type),
    ("entity.name.enum", TokenClass::Type),
    ("entity.name.trait", TokenClass::Type),
    ("entity.other.inherited-class", TokenClass::Type),
    ("storage.type", TokenClass::Type),
    ("support.type", TokenClass::Type),
    ("support.class", TokenClass::Type),
    ("keyword", TokenClass::Keyword),
    ("storage", TokenClass::Keyword),
    ("punctuation", TokenClass::Punctuation),
];

/// Fence tags syntect does not know, mapped to a grammar it does.
const LANG_ALIASES: &[(&str, &str)] = &[
    ("shell", "bash"),
    ("console", "bash"),
    ("zsh", "bash"),
    ("ts", "js"),
    ("typescript", "js"),
    ("tsx", "js"),
    ("jsx", "js"),
    ("jsonc", "json"),
    ("c++", "cpp"),
    ("golang", "go"),
    ("py3", "py"),
];

impl Default for Highlighter {
    fn default() -> Self {
        Highlighter::new()
    }
}

impl Highlighter {
    /// Loads syntect's default grammars (tens of milliseconds: build one and share it).
    pub fn new() -> Highlighter {
        let scope = |(name, class): &(&str, TokenClass)| Scope::new(name).ok().map(|s| (s, *class));
        Highlighter {
            syntaxes: SyntaxSet::load_defaults_newlines(),
            rules: SCOPE_RULES.iter().filter_map(scope).collect(),
            dominant: [
                ("comment", TokenClass::Comment),
                ("string", TokenClass::String),
            ]
            .iter()
            .filter_map(scope)
            .collect(),
        }
    }

    /// The grammar for a fence tag, if syntect has one.
    fn syntax_for(&self, lang: &str) -> Option<&SyntaxReference> {
        if lang.is_empty() {
            return None;
        }
        let token = LANG_ALIASES
            .iter()
            .find(|(alias, _)| *alias == lang)
            .map_or(lang, |(_, real)| real);
        self.syntaxes.find_syntax_by_token(token)
    }

    /// Splits `code` into lines of fragments styled by token class from `theme`'s code
    /// colours (tabs and controls left as written).
    pub(super) fn styled_lines(&self, lang: &str, code: &str, theme: &Theme) -> Vec<Vec<Frag>> {
        self.highlight(lang, code)
            .into_iter()
            .map(|tokens| {
                tokens
                    .into_iter()
                    .map(|(text, class)| (text, token_style(class, theme)))
                    .collect()
            })
            .collect()
    }

    /// Splits `code` into lines of classified tokens (tabs and controls left as written).
    fn highlight(&self, lang: &str, code: &str) -> Vec<Vec<(String, TokenClass)>> {
        let lines = code_lines(code);
        let Some(syntax) = self.syntax_for(lang) else {
            return lines.iter().map(|l| plain_tokens(l)).collect();
        };
        let mut state = ParseState::new(syntax);
        let mut stack = ScopeStack::new();
        let mut healthy = true;
        let mut out = Vec::with_capacity(lines.len());
        for line in lines {
            let tokens = if healthy {
                self.highlight_line(&mut state, &mut stack, line)
            } else {
                None
            };
            healthy = tokens.is_some();
            out.push(tokens.unwrap_or_else(|| plain_tokens(line)));
        }
        out
    }

    /// Classifies one line; `None` if syntect fails (the caller falls back to plain text).
    fn highlight_line(
        &self,
        state: &mut ParseState,
        stack: &mut ScopeStack,
        line: &str,
    ) -> Option<Vec<(String, TokenClass)>> {
        let ops = state
            .parse_line(&format!("{line}\n"), &self.syntaxes)
            .ok()?;
        let mut tokens = Vec::new();
        let mut pos = 0;
        for (index, op) in ops {
            let index = index.min(line.len());
            if let Some(text) = line.get(pos..index).filter(|t| !t.is_empty()) {
                tokens.push((text.to_string(), self.classify(stack)));
                pos = index;
            }
            stack.apply(&op).ok()?;
        }
        if let Some(text) = line.get(pos..).filter(|t| !t.is_empty()) {
            tokens.push((text.to_string(), self.classify(stack)));
        }
        Some(tokens)
    }

    /// The class of the innermost scope that matches a rule (comments and strings win).
    fn classify(&self, stack: &ScopeStack) -> TokenClass {
        let scopes = stack.as_slice();
        let matching = |rules: &[(Scope, TokenClass)], scope: &Scope| {
            rules
                .iter()
                .find(|(prefix, _)| prefix.is_prefix_of(*scope))
                .map(|(_, class)| *class)
        };
        scopes
            .iter()
            .find_map(|s| matching(&self.dominant, s))
            .or_else(|| scopes.iter().rev().find_map(|s| matching(&self.rules, s)))
            .unwrap_or(TokenClass::Plain)
    }
}

/// The source lines of a code block (a trailing newline does not start a line).
fn code_lines(code: &str) -> Vec<&str> {
    let body = code.strip_suffix('\n').unwrap_or(code);
    if body.is_empty() && code.is_empty() {
        return Vec::new();
    }
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// One unclassified token holding the whole line.
fn plain_tokens(line: &str) -> Vec<(String, TokenClass)> {
    vec![(line.to_string(), TokenClass::Plain)]
}

/// The theme colour style of a token class inside a code block.
fn token_style(class: TokenClass, theme: &Theme) -> Style {
    let fg = match class {
        TokenClass::Keyword => theme.syntax_keyword,
        TokenClass::String => theme.syntax_string,
        TokenClass::Comment => theme.syntax_comment,
        TokenClass::Number => theme.syntax_number,
        TokenClass::Function => theme.syntax_function,
        TokenClass::Type => theme.syntax_type,
        TokenClass::Punctuation => theme.syntax_punctuation,
        TokenClass::Plain => theme.code_fg,
    };
    let style = Style::new().fg(fg).bg(theme.code_bg);
    if class == TokenClass::Comment {
        style.add_modifier(Modifier::ITALIC)
    } else {
        style
    }
}

#[cfg(test)]
mod tests {
    use ratatui::text::Span;

    use crate::tui::markdown::render;
    use crate::tui::markdown::test_support::{assert_fits, hl, text_of};
    use crate::tui::theme::Theme;

    #[test]
    fn code_fence_yields_block_with_coloured_spans() {
        let theme = Theme::default();
        let md = "Intro.\n\n```rust\nfn main() {\n    let x = \"hi\"; // note\n}\n```\n";
        let out = render(md, 40, &theme, hl());
        assert_eq!(out.code_blocks.len(), 1);
        let block = &out.code_blocks[0];
        assert_eq!(block.lang, "rust");
        assert!(block.code.contains("let x = \"hi\";"));
        assert!(text_of(&out.lines[block.first_line]).contains("rust"));
        let code_lines = &out.lines[block.first_line + 1..block.first_line + 4];
        assert!(text_of(&code_lines[0]).contains("fn main()"));
        let spans: Vec<&Span<'_>> = code_lines.iter().flat_map(|l| l.spans.iter()).collect();
        let has = |color| spans.iter().any(|s| s.style.fg == Some(color));
        assert!(has(theme.syntax_string), "string colour");
        assert!(has(theme.syntax_comment), "comment colour");
        assert!(
            has(theme.syntax_keyword) || has(theme.syntax_type),
            "keyword colour"
        );
        assert!(spans
            .iter()
            .all(|s| s.style.bg == Some(theme.code_bg) || s.content.trim().is_empty()));
        assert_fits(&out.lines, 40);
    }
}
