//! Colour themes for the TUI: built-in TOML themes, user files that patch them, and
//! adaptation of a theme to the terminal's colour depth (truecolor, 256, 16, NO_COLOR).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::Color;
use toml::de::{DeTable, DeValue};

/// A built-in theme: its name and its embedded TOML source.
const BUILTINS: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("sixteen", include_str!("../../themes/sixteen.toml")),
];

/// The names of the built-in themes, in display order.
const BUILTIN_NAMES: &[&str] = &["dark", "light", "high-contrast", "sixteen"];

/// Keys of a theme file that are not colours.
const META_KEYS: &[&str] = &["name", "base"];

/// Declares the theme struct and the per-key plumbing from one list of colour slots.
macro_rules! theme_colors {
    ($( $(#[$doc:meta])* $field:ident ),* $(,)?) => {
        /// A complete colour theme; every slot is a ratatui colour.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Theme {
            /// The theme's name (a built-in name or a user file's stem).
            pub name: String,
            $( $(#[$doc])* pub $field: Color, )*
        }

        impl Theme {
            /// Every colour key a theme file may set, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// A theme with every slot set to `Color::Reset`.
            fn blank(name: &str) -> Theme {
                Theme { name: name.to_string(), $( $field: Color::Reset, )* }
            }

            /// The slot for a colour key, if the key exists.
            fn slot_mut(&mut self, key: &str) -> Option<&mut Color> {
                match key {
                    $( stringify!($field) => Some(&mut self.$field), )*
                    _ => None,
                }
            }

            /// A copy of the theme with `f` applied to every colour.
            fn map_colors(&self, f: impl Fn(Color) -> Color) -> Theme {
                Theme { name: self.name.clone(), $( $field: f(self.$field), )* }
            }

            /// Every colour of the theme, in key order.
            pub fn colors(&self) -> Vec<Color> {
                vec![$( self.$field ),*]
            }
        }
    };
}

theme_colors! {
    /// Background of panes.
    bg,
    /// Default text.
    fg,
    /// De-emphasised text (hints, timestamps, URLs).
    muted,
    /// Highlights: list markers, the active item.
    accent,
    /// Pane borders.
    border,
    /// The focused pane's border.
    border_focused,
    /// Background of selected items and text.
    selection_bg,
    /// Title of user messages.
    user,
    /// Title of assistant messages.
    assistant,
    /// Title of system messages.
    system,
    /// Errors.
    error,
    /// Warnings.
    warning,
    /// Success notices.
    success,
    /// Status bar background.
    status_bg,
    /// Status bar text.
    status_fg,
    /// Background of code blocks and inline code.
    code_bg,
    /// Default text of code blocks and inline code.
    code_fg,
    /// Block quote gutter and text.
    quote,
    /// Link text.
    link,
    /// Markdown headings.
    heading,
    /// Syntax: keywords and storage modifiers.
    syntax_keyword,
    /// Syntax: string literals.
    syntax_string,
    /// Syntax: comments.
    syntax_comment,
    /// Syntax: numeric literals and constants.
    syntax_number,
    /// Syntax: function names.
    syntax_function,
    /// Syntax: type names.
    syntax_type,
    /// Syntax: punctuation.
    syntax_punctuation,
}

impl Default for Theme {
    /// The built-in `dark` theme.
    fn default() -> Theme {
        Theme::builtin("dark").unwrap_or_else(|| Theme::blank("dark"))
    }
}

/// Why a theme file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// The file or directory could not be read.
    #[error("{}: cannot read theme: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or is not a theme as a whole.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The theme file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// One key of the file has a bad name or value.
    #[error("{}:{line}: key `{key}`: {message}", path.display())]
    Key {
        /// The theme file.
        path: PathBuf,
        /// 1-based line of the key or value.
        line: usize,
        /// The offending key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl Theme {
    /// The built-in theme called `name`, if there is one.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, src) = BUILTINS.iter().find(|(n, _)| *n == name)?;
        parse_builtin(name, src).ok()
    }

    /// The names of the built-in themes.
    pub fn names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    /// Finds a theme by name, preferring user themes over built-ins.
    pub fn find(name: &str, user_themes: &[Theme]) -> Option<Theme> {
        user_themes
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .or_else(|| Theme::builtin(name))
    }

    /// Builds a theme from a user file's contents (`path` names it in errors).
    ///
    /// The file patches the built-in theme named like the file's stem, or with
    /// `base = "NAME"` the built-in `NAME` under the file's stem as a new name;
    /// `name = "..."` overrides the resulting name.
    pub fn from_user_toml(path: &Path, src: &str) -> Result<Theme, ThemeError> {
        let table = parse_table(path, src)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base_key = meta_string(path, src, &table, "base")?;
        let mut theme = user_base(path, &stem, base_key)?;
        theme.name = meta_string(path, src, &table, "name")?
            .map(|(name, _)| name)
            .unwrap_or(stem);
        apply_colors(&mut theme, path, src, &table)?;
        Ok(theme)
    }

    /// A copy of the theme reduced to what a terminal of `depth` can show.
    pub fn adapt(&self, depth: ColorDepth) -> Theme {
        match depth {
            ColorDepth::TrueColor => self.clone(),
            ColorDepth::Ansi256 => self.map_colors(to_ansi256),
            ColorDepth::Ansi16 => self.map_colors(to_ansi16),
            ColorDepth::NoColor => self.map_colors(|_| Color::Reset),
        }
    }
}

/// Loads every `*.toml` theme in `dir` (sorted by file name); a missing dir yields none.
///
/// Fails on the first unreadable or invalid file, naming the file, line and key.
pub fn load_user_themes(dir: &Path) -> Result<Vec<Theme>, ThemeError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let io_err = |source| ThemeError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .collect();
    files.sort();
    files.iter().map(|path| load_user_file(path)).collect()
}

/// Reads and parses one user theme file.
fn load_user_file(path: &Path) -> Result<Theme, ThemeError> {
    let src = std::fs::read_to_string(path).map_err(|source| ThemeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Theme::from_user_toml(path, &src)
}

/// Parses an embedded theme, which must set every colour key.
fn parse_builtin(name: &str, src: &str) -> Result<Theme, ThemeError> {
    let path = PathBuf::from(format!("<built-in>/{name}.toml"));
    let table = parse_table(&path, src)?;
    let mut theme = Theme::blank(name);
    apply_colors(&mut theme, &path, src, &table)?;
    let missing: Vec<&str> = Theme::KEYS
        .iter()
        .copied()
        .filter(|k| !table.iter().any(|(key, _)| key.get_ref() == k))
        .collect();
    if missing.is_empty() {
        Ok(theme)
    } else {
        Err(ThemeError::Syntax {
            path,
            line: 1,
            message: format!("missing keys: {}", missing.join(", ")),
        })
    }
}

/// Parses TOML into a spanned table, turning syntax errors into `ThemeError::Syntax`.
fn parse_table<'i>(path: &Path, src: &'i str) -> Result<DeTable<'i>, ThemeError> {
    DeTable::parse(src)
        .map(|t| t.into_inner())
        .map_err(|e| ThemeError::Syntax {
            path: path.to_path_buf(),
            line: line_of(src, e.span().map_or(0, |s| s.start)),
            message: e.message().to_string(),
        })
}

/// The theme a user file starts from: its `base`, or the built-in named like the file.
fn user_base(path: &Path, stem: &str, base: Option<(String, usize)>) -> Result<Theme, ThemeError> {
    let known = BUILTIN_NAMES.join(", ");
    match base {
        Some((base, line)) => Theme::builtin(&base).ok_or_else(|| ThemeError::Key {
            path: path.to_path_buf(),
            line,
            key: "base".to_string(),
            message: format!("unknown built-in theme `{base}` (known: {known})"),
        }),
        None => Theme::builtin(stem).ok_or_else(|| ThemeError::Syntax {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "no built-in theme named `{stem}` to patch; add `base = \"dark\"` \
                 (or another of: {known}) to define a new theme"
            ),
        }),
    }
}

/// Reads an optional string-valued meta key (`name`, `base`) and its line.
fn meta_string(
    path: &Path,
    src: &str,
    table: &DeTable<'_>,
    key: &str,
) -> Result<Option<(String, usize)>, ThemeError> {
    let Some((_, value)) = table.iter().find(|(k, _)| k.get_ref() == key) else {
        return Ok(None);
    };
    let line = line_of(src, value.span().start);
    match value.get_ref() {
        DeValue::String(s) => Ok(Some((s.to_string(), line))),
        other => Err(ThemeError::Key {
            path: path.to_path_buf(),
            line,
            key: key.to_string(),
            message: format!("expected a string, found {}", other.type_str()),
        }),
    }
}

/// Sets every colour key of `table` on `theme`, rejecting unknown keys and bad values.
fn apply_colors(
    theme: &mut Theme,
    path: &Path,
    src: &str,
    table: &DeTable<'_>,
) -> Result<(), ThemeError> {
    for (key, value) in table.iter() {
        let key_name = key.get_ref().as_ref();
        if META_KEYS.contains(&key_name) {
            continue;
        }
        let key_err = |span_start: usize, message: String| ThemeError::Key {
            path: path.to_path_buf(),
            line: line_of(src, span_start),
            key: key_name.to_string(),
            message,
        };
        let Some(slot) = theme.slot_mut(key_name) else {
            return Err(key_err(key.span().start, "unknown theme key".to_string()));
        };
        *slot = color_from_value(value.get_ref()).map_err(|m| key_err(value.span().start, m))?;
    }
    Ok(())
}

/// A colour from a TOML value: a colour string or an xterm index 0–255.
fn color_from_value(value: &DeValue<'_>) -> Result<Color, String> {
    match value {
        DeValue::String(s) => parse_color(s),
        DeValue::Integer(i) => u8::from_str_radix(i.as_str(), i.radix())
            .map(Color::Indexed)
            .map_err(|_| format!("colour index `{}` is not in 0..=255", i.as_str())),
        other => Err(format!(
            "expected a colour string, found {}",
            other.type_str()
        )),
    }
}

/// Parses `#rrggbb`, `#rgb`, an ANSI colour name (`red`, `bright-blue`), `reset`, or `0`–`255`.
pub fn parse_color(s: &str) -> Result<Color, String> {
    let norm = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
    if let Some(hex) = norm.strip_prefix('#') {
        return parse_hex(hex).ok_or_else(|| format!("invalid hex colour `{s}`"));
    }
    if let Ok(index) = norm.parse::<u8>() {
        return Ok(Color::Indexed(index));
    }
    named_color(&norm).ok_or_else(|| {
        format!(
            "invalid colour `{s}`: use \"#rrggbb\", an ANSI name such as \"red\" or \
             \"bright-blue\", \"reset\", or an index 0-255"
        )
    })
}

/// Parses the digits of `#rrggbb` or `#rgb`.
fn parse_hex(hex: &str) -> Option<Color> {
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize, len: usize| {
        let digits = hex.get(i * len..(i + 1) * len)?;
        let v = u8::from_str_radix(digits, 16).ok()?;
        Some(if len == 1 { v * 17 } else { v })
    };
    let len = match hex.len() {
        6 => 2,
        3 => 1,
        _ => return None,
    };
    Some(Color::Rgb(
        channel(0, len)?,
        channel(1, len)?,
        channel(2, len)?,
    ))
}

/// The 16 ANSI colours by name (plus `reset` and a few aliases).
fn named_color(name: &str) -> Option<Color> {
    let color = match name {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "white" | "gray" | "grey" => Color::Gray,
        "bright-black" | "dark-gray" | "dark-grey" => Color::DarkGray,
        "bright-red" | "light-red" => Color::LightRed,
        "bright-green" | "light-green" => Color::LightGreen,
        "bright-yellow" | "light-yellow" => Color::LightYellow,
        "bright-blue" | "light-blue" => Color::LightBlue,
        "bright-magenta" | "light-magenta" => Color::LightMagenta,
        "bright-cyan" | "light-cyan" => Color::LightCyan,
        "bright-white" => Color::White,
        _ => return None,
    };
    Some(color)
}

/// The 1-based line containing byte `offset` of `src`.
fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// How many colours the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorDepth {
    /// 24-bit RGB.
    TrueColor,
    /// The xterm 256-colour palette.
    Ansi256,
    /// The 16 ANSI colours.
    Ansi16,
    /// No colour at all (NO_COLOR, dumb terminals); attributes like bold still work.
    NoColor,
}

impl ColorDepth {
    /// Detects the depth from environment variables, read through `env`.
    ///
    /// Non-empty `NO_COLOR` or `TERM=dumb` → `NoColor`; `COLORTERM=truecolor|24bit`
    /// → `TrueColor`; `TERM=*256color` → `Ansi256`; anything else → `Ansi16`.
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> ColorDepth {
        if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorDepth::NoColor;
        }
        let term = env("TERM").unwrap_or_default().to_ascii_lowercase();
        if term == "dumb" {
            return ColorDepth::NoColor;
        }
        let colorterm = env("COLORTERM").unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" || term.ends_with("-direct") {
            ColorDepth::TrueColor
        } else if term.ends_with("256color") {
            ColorDepth::Ansi256
        } else {
            ColorDepth::Ansi16
        }
    }

    /// Detects the depth from this process's environment.
    pub fn from_env() -> ColorDepth {
        ColorDepth::detect(|k| std::env::var(k).ok())
    }

    /// Parses a `--color` value: `truecolor` (or `24bit`), `256`, `16`, `none` (or `no`).
    pub fn parse(s: &str) -> Option<ColorDepth> {
        match s.trim().to_ascii_lowercase().as_str() {
            "truecolor" | "24bit" | "true" => Some(ColorDepth::TrueColor),
            "256" => Some(ColorDepth::Ansi256),
            "16" => Some(ColorDepth::Ansi16),
            "none" | "no" | "off" => Some(ColorDepth::NoColor),
            _ => None,
        }
    }
}

impl FromStr for ColorDepth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ColorDepth::parse(s)
            .ok_or_else(|| format!("invalid colour depth `{s}` (truecolor, 256, 16, none)"))
    }
}

impl fmt::Display for ColorDepth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColorDepth::TrueColor => "truecolor",
            ColorDepth::Ansi256 => "256",
            ColorDepth::Ansi16 => "16",
            ColorDepth::NoColor => "none",
        })
    }
}

/// The xterm RGB values of the 16 ANSI colours, in index order.
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

/// The channel levels of the xterm 6×6×6 colour cube.
const CUBE_LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// Maps an RGB colour to the nearest xterm-256 index (cube or grey ramp).
fn to_ansi256(color: Color) -> Color {
    let Color::Rgb(r, g, b) = color else {
        return color;
    };
    let level = |v: u8| {
        (0..CUBE_LEVELS.len())
            .min_by_key(|&i| CUBE_LEVELS[i].abs_diff(v))
            .unwrap_or(0)
    };
    let (ri, gi, bi) = (level(r), level(g), level(b));
    let cube_rgb = (CUBE_LEVELS[ri], CUBE_LEVELS[gi], CUBE_LEVELS[bi]);
    let cube_index = 16 + 36 * ri + 6 * gi + bi;
    let avg = (u16::from(r) + u16::from(g) + u16::from(b)) / 3;
    let grey_step = usize::from(avg.saturating_sub(3) / 10).min(23);
    let grey_value = (8 + 10 * grey_step) as u8;
    let grey_rgb = (grey_value, grey_value, grey_value);
    let index = if distance((r, g, b), grey_rgb) < distance((r, g, b), cube_rgb) {
        232 + grey_step
    } else {
        cube_index
    };
    Color::Indexed(u8::try_from(index).unwrap_or(u8::MAX))
}

/// Maps an RGB or 256-palette colour to the nearest of the 16 ANSI colours.
fn to_ansi16(color: Color) -> Color {
    let rgb = match color {
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i) if i < 16 => return ANSI16[usize::from(i)].0,
        Color::Indexed(i) => indexed_rgb(i),
        other => return other,
    };
    ANSI16
        .iter()
        .min_by_key(|(_, c)| distance(rgb, *c))
        .map_or(color, |(named, _)| *named)
}

/// The RGB value of an xterm-256 index at or above 16.
fn indexed_rgb(i: u8) -> (u8, u8, u8) {
    if i >= 232 {
        let v = 8 + 10 * (i - 232);
        return (v, v, v);
    }
    let i = usize::from(i.saturating_sub(16));
    (
        CUBE_LEVELS[(i / 36) % 6],
        CUBE_LEVELS[(i / 6) % 6],
        CUBE_LEVELS[i % 6],
    )
}

/// Perceptually weighted squared distance between two colours ("redmean").
fn distance(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let rmean = (u32::from(a.0) + u32::from(b.0)) / 2;
    let dr = u32::from(a.0.abs_diff(b.0));
    let dg = u32::from(a.1.abs_diff(b.1));
    let db = u32::from(a.2.abs_diff(b.2));
    (((512 + rmean) * dr * dr) >> 8) + 4 * dg * dg + (((767 - rmean) * db * db) >> 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn every_builtin_parses_and_sets_every_key() {
        for name in Theme::names() {
            let (_, src) = BUILTINS.iter().find(|(n, _)| n == name).expect("listed");
            let theme = parse_builtin(name, src).expect("built-in theme parses");
            assert_eq!(&theme.name, name);
            assert_eq!(theme.colors().len(), Theme::KEYS.len());
        }
        assert!(Theme::builtin("nope").is_none());
        assert_eq!(Theme::default().name, "dark");
    }

    #[test]
    fn sixteen_uses_only_ansi_names() {
        let theme = Theme::builtin("sixteen").expect("built-in");
        for color in theme.colors() {
            assert!(ANSI16.iter().any(|(c, _)| *c == color), "{color:?}");
        }
    }

    #[test]
    fn parses_colour_syntaxes() {
        assert_eq!(parse_color("#ff8000"), Ok(Color::Rgb(255, 128, 0)));
        assert_eq!(parse_color("#f80"), Ok(Color::Rgb(255, 136, 0)));
        assert_eq!(parse_color("bright-blue"), Ok(Color::LightBlue));
        assert_eq!(parse_color("Bright_Red"), Ok(Color::LightRed));
        assert_eq!(parse_color("reset"), Ok(Color::Reset));
        assert_eq!(parse_color("208"), Ok(Color::Indexed(208)));
        assert!(parse_color("#ff80").is_err());
        assert!(parse_color("#gg0000").is_err());
        assert!(parse_color("chartreuse").is_err());
        assert!(parse_color("#ééé").is_err());
    }

    #[test]
    fn no_color_detection() {
        assert_eq!(
            ColorDepth::detect(env_of(&[("NO_COLOR", "1"), ("COLORTERM", "truecolor")])),
            ColorDepth::NoColor
        );
        assert_eq!(
            ColorDepth::detect(env_of(&[("NO_COLOR", ""), ("TERM", "xterm")])),
            ColorDepth::Ansi16
        );
        assert_eq!(
            ColorDepth::detect(env_of(&[("TERM", "dumb")])),
            ColorDepth::NoColor
        );
    }

    #[test]
    fn depth_detection_and_flag() {
        let detect = |pairs: &[(&str, &str)]| ColorDepth::detect(env_of(pairs));
        assert_eq!(detect(&[("COLORTERM", "24bit")]), ColorDepth::TrueColor);
        assert_eq!(detect(&[("TERM", "xterm-256color")]), ColorDepth::Ansi256);
        assert_eq!(detect(&[("TERM", "screen")]), ColorDepth::Ansi16);
        assert_eq!(detect(&[]), ColorDepth::Ansi16);
        assert_eq!(ColorDepth::parse("truecolor"), Some(ColorDepth::TrueColor));
        assert_eq!(ColorDepth::parse("256"), Some(ColorDepth::Ansi256));
        assert_eq!(ColorDepth::parse("16"), Some(ColorDepth::Ansi16));
        assert_eq!(ColorDepth::parse("none"), Some(ColorDepth::NoColor));
        assert_eq!(ColorDepth::parse("12"), None);
        assert_eq!("256".parse::<ColorDepth>(), Ok(ColorDepth::Ansi256));
    }

    #[test]
    fn adapts_to_256_and_16() {
        let theme = Theme {
            error: Color::Rgb(255, 0, 0),
            fg: Color::Rgb(128, 128, 128),
            ..Theme::default()
        };
        let t256 = theme.adapt(ColorDepth::Ansi256);
        assert_eq!(t256.error, Color::Indexed(196));
        assert!(matches!(t256.fg, Color::Indexed(i) if i >= 232));
        assert!(t256.colors().iter().all(|c| !matches!(c, Color::Rgb(..))));
        let t16 = theme.adapt(ColorDepth::Ansi16);
        assert_eq!(t16.error, Color::LightRed);
        assert!(t16
            .colors()
            .iter()
            .all(|c| ANSI16.iter().any(|(n, _)| n == c) || *c == Color::Reset));
        assert_eq!(to_ansi16(Color::Indexed(196)), Color::LightRed);
        assert_eq!(theme.adapt(ColorDepth::TrueColor), theme);
    }

    #[test]
    fn no_color_theme_is_all_reset() {
        let theme = Theme::default().adapt(ColorDepth::NoColor);
        assert!(theme.colors().iter().all(|c| *c == Color::Reset));
    }

    #[test]
    fn user_patch_keeps_unset_keys() {
        let path = Path::new("/cfg/themes/dark.toml");
        let theme =
            Theme::from_user_toml(path, "accent = \"#010203\"\nerror = 9\n").expect("valid patch");
        let dark = Theme::default();
        assert_eq!(theme.name, "dark");
        assert_eq!(theme.accent, Color::Rgb(1, 2, 3));
        assert_eq!(theme.error, Color::Indexed(9));
        assert_eq!(theme.fg, dark.fg);
    }

    #[test]
    fn user_theme_with_base_gets_new_name() {
        let path = Path::new("solar.toml");
        let theme =
            Theme::from_user_toml(path, "base = \"light\"\nfg = \"black\"\n").expect("valid theme");
        assert_eq!(theme.name, "solar");
        assert_eq!(theme.fg, Color::Black);
        assert_eq!(theme.bg, Theme::builtin("light").expect("built-in").bg);
        assert!(Theme::find("solar", &[theme]).is_some());
    }

    #[test]
    fn bad_colour_names_file_line_and_key() {
        let path = Path::new("/cfg/themes/dark.toml");
        let err = Theme::from_user_toml(path, "fg = \"#ffffff\"\naccent = \"purplish\"\n")
            .expect_err("bad colour");
        let msg = err.to_string();
        assert!(msg.contains("dark.toml"), "{msg}");
        assert!(msg.contains(":2:"), "{msg}");
        assert!(msg.contains("accent"), "{msg}");
        assert!(matches!(err, ThemeError::Key { line: 2, .. }));
    }

    #[test]
    fn other_user_errors_are_reported() {
        let p = Path::new("x.toml");
        let cases = [
            ("base = \"dark\"\nnot_a_key = \"red\"\n", "not_a_key"),
            ("base = \"nope\"\n", "base"),
            ("fg = \"red\"\n", "no built-in theme"),
            ("base = \"dark\"\nfg = [1]\n", "array"),
            ("base = \"dark\"\nfg = 300\n", "0..=255"),
            ("base = \"dark\"\nfg = \n", "x.toml:2"),
        ];
        for (src, needle) in cases {
            let msg = Theme::from_user_toml(p, src).expect_err(src).to_string();
            assert!(msg.contains(needle), "{src:?}: {msg}");
        }
    }

    #[test]
    fn loads_user_dir() {
        let dir = std::env::temp_dir().join(format!("strata-theme-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("light.toml"), "accent = \"red\"\n").expect("write");
        std::fs::write(dir.join("notes.txt"), "ignored").expect("write");
        let themes = load_user_themes(&dir).expect("loads");
        assert_eq!(themes.len(), 1);
        assert_eq!(themes[0].accent, Color::Red);
        std::fs::write(dir.join("mine.toml"), "base = \"dark\"\nbg = \"#12\"\n").expect("write");
        let err = load_user_themes(&dir).expect_err("bad file").to_string();
        assert!(err.contains("mine.toml:2: key `bg`"), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(load_user_themes(&dir)
            .expect("missing dir is fine")
            .is_empty());
    }
}
