//! What a buildpack's `bin/release` prints: a YAML document of which this reads just
//! enough. Two top-level maps count, each one `key: value` a line:
//! `default_process_types` (process type -> command, used when the app has no
//! Procfile) and `config_vars` (defaults for the app's environment, which the image
//! gets as `ENV`, such as `PATH` with a virtualenv first). Other top-level keys
//! (`addons`, ...) and everything under them are skipped. Values may be plain, 'single'
//! or "double" quoted; what this cannot read faithfully (block scalars, flow
//! collections, nested maps, anchors, tags) is an error naming its line rather than a
//! silent misreading. Pure.

use std::collections::BTreeMap;

use paas_core::{ConfigKey, ProcessType, Procfile};

/// The most of `bin/release`'s output read, in bytes.
pub const MAX_RELEASE_LEN: usize = 64 * 1024;

/// What `bin/release` declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    /// Process types and their commands, for an app without a Procfile.
    pub default_process_types: Procfile,
    /// Environment defaults for the image.
    pub config_vars: BTreeMap<ConfigKey, String>,
}

/// Why `bin/release`'s output cannot be read; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ReleaseError {
    /// Where.
    pub line: usize,
    /// What is wrong, for the buildpack's author.
    pub reason: String,
}

fn error(line: usize, reason: impl Into<String>) -> ReleaseError {
    ReleaseError { line, reason: reason.into() }
}

/// The top-level map being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    ProcessTypes,
    ConfigVars,
    /// A key this does not read: its lines are skipped.
    Other,
}

impl Release {
    /// Parses `bin/release`'s standard output.
    pub fn parse(text: &str) -> Result<Self, ReleaseError> {
        if text.len() > MAX_RELEASE_LEN {
            return Err(error(1, "the output is larger than 64 KiB"));
        }
        let mut release = Release::default();
        let mut section = Section::Other;
        // The indentation of the current section's entries, set by its first one.
        let mut indent = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let content = raw.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if content.starts_with('\t') {
                return Err(error(line, "YAML is indented with spaces, not tabs"));
            }
            let depth = raw.len() - content.len();
            // YAML lets a sequence under a key start at the key's own column.
            let sequence_entry = content == "-" || content.starts_with("- ");
            if depth == 0 && !sequence_entry {
                section = top_level(content, line)?;
                indent = None;
                continue;
            }
            if section == Section::Other {
                continue;
            }
            if sequence_entry {
                return Err(error(line, "expected `key: value`, found a list entry"));
            }
            match indent {
                None => indent = Some(depth),
                Some(expected) if depth > expected => {
                    return Err(error(
                        line,
                        "nested values are not supported; write one `key: value` a line",
                    ));
                }
                Some(expected) if depth < expected => {
                    return Err(error(line, "the indentation does not match the lines above"));
                }
                Some(_) => {}
            }
            let (key, value) = entry(content, line)?;
            if section == Section::ProcessTypes {
                let process_type = ProcessType::parse(key).map_err(|e| error(line, e.to_string()))?;
                if value.is_empty() {
                    return Err(error(line, format!("the command of `{process_type}` is empty")));
                }
                if release.default_process_types.0.insert(process_type.clone(), value).is_some() {
                    return Err(error(line, format!("`{process_type}` is declared twice")));
                }
            } else {
                let name = ConfigKey::parse(key).map_err(|e| error(line, e.to_string()))?;
                if release.config_vars.insert(name.clone(), value).is_some() {
                    return Err(error(line, format!("`{name}` is declared twice")));
                }
            }
        }
        Ok(release)
    }
}

/// Reads a line at column 0: a document marker or a top-level key.
fn top_level(content: &str, line: usize) -> Result<Section, ReleaseError> {
    let marker = content.trim_end();
    if marker == "---" || marker == "--- {}" || marker == "..." {
        return Ok(Section::Other);
    }
    let Some((key, rest)) = split_key(content) else {
        return Err(error(line, format!("expected `key:` at the top level, found {:?}", cut(content))));
    };
    let section = match key {
        "default_process_types" => Section::ProcessTypes,
        "config_vars" => Section::ConfigVars,
        _ => return Ok(Section::Other),
    };
    match strip_comment(rest).trim() {
        "" | "{}" | "~" | "null" => Ok(section),
        _ => Err(error(line, format!("`{key}` must be a map with one `key: value` a line below it"))),
    }
}

/// Splits `key: rest` (or `key:` alone) at its first colon followed by a space or the
/// end.
fn split_key(content: &str) -> Option<(&str, &str)> {
    let colon = content
        .char_indices()
        .find(|&(i, c)| c == ':' && content[i + 1..].chars().next().is_none_or(|next| next == ' '))?;
    let key = content[..colon.0].trim_end();
    (!key.is_empty()).then(|| (key, &content[colon.0 + 1..]))
}

/// Reads an entry `key: value` of a section.
fn entry(content: &str, line: usize) -> Result<(&str, String), ReleaseError> {
    let Some((key, rest)) = split_key(content) else {
        return Err(error(line, format!("expected `key: value`, found {:?}", cut(content))));
    };
    if key.starts_with(['"', '\'']) {
        return Err(error(line, "quoted keys are not supported"));
    }
    let value = scalar(rest.trim_start(), line)?;
    Ok((key, value))
}

/// Reads a scalar value: plain, single-quoted or double-quoted.
fn scalar(text: &str, line: usize) -> Result<String, ReleaseError> {
    let (value, after) = match text.chars().next() {
        None => return Err(error(line, "a value is missing; nested maps are not supported")),
        Some('"') => double_quoted(&text[1..], line)?,
        Some('\'') => single_quoted(&text[1..], line)?,
        Some('|' | '>') => return Err(error(line, "block scalars (`|`, `>`) are not supported")),
        Some('[' | '{') => return Err(error(line, "flow collections (`[...]`, `{...}`) are not supported")),
        Some('&' | '*' | '!') => return Err(error(line, "anchors, aliases and tags are not supported")),
        Some(_) => return Ok(strip_comment(text).trim_end().to_owned()),
    };
    if !strip_comment(after).trim().is_empty() {
        return Err(error(line, format!("unexpected text after the quoted value: {:?}", cut(after))));
    }
    Ok(value)
}

/// Removes a ` #` comment (a `#` at the start or after whitespace).
fn strip_comment(text: &str) -> &str {
    let mut previous_is_space = true;
    for (i, c) in text.char_indices() {
        if c == '#' && previous_is_space {
            return &text[..i];
        }
        previous_is_space = c == ' ' || c == '\t';
    }
    text
}

/// The body of a `'...'` scalar (after the opening quote) and the text after it.
fn single_quoted(text: &str, line: usize) -> Result<(String, &str), ReleaseError> {
    let mut value = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|&(_, next)| next == '\'') {
                chars.next();
                value.push('\'');
            } else {
                return Ok((value, &text[i + 1..]));
            }
        } else {
            value.push(c);
        }
    }
    Err(error(line, "the single-quoted value does not end on its line"))
}

/// The body of a `"..."` scalar (after the opening quote) and the text after it.
fn double_quoted(text: &str, line: usize) -> Result<(String, &str), ReleaseError> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                Some('/') => value.push('/'),
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some(other) => return Err(error(line, format!("the escape `\\{other}` is not supported"))),
                None => break,
            },
            _ => value.push(c),
        }
    }
    Err(error(line, "the double-quoted value does not end on its line"))
}

/// Text cut to 60 characters, for messages.
fn cut(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn types(release: &Release) -> Vec<(String, String)> {
        release.default_process_types.0.iter().map(|(t, c)| (t.to_string(), c.clone())).collect()
    }

    #[test]
    fn reads_heroku_release_output() {
        let release = Release::parse(
            "---\naddons: []\ndefault_process_types:\n  web: gunicorn app:app --bind 0.0.0.0:$PORT\n  \
             worker: \"python3 -m worker # not a comment\"\n  clock: 'echo ''tick'''  # a comment\n\
             config_vars:\n  PATH: /app/.venv/bin:/usr/bin:/bin\n",
        )
        .unwrap();
        assert_eq!(
            types(&release),
            [
                ("clock".to_owned(), "echo 'tick'".to_owned()),
                ("web".to_owned(), "gunicorn app:app --bind 0.0.0.0:$PORT".to_owned()),
                ("worker".to_owned(), "python3 -m worker # not a comment".to_owned()),
            ]
        );
        let path = ConfigKey::parse("PATH").unwrap();
        assert_eq!(release.config_vars.get(&path).map(String::as_str), Some("/app/.venv/bin:/usr/bin:/bin"));
    }

    #[test]
    fn empty_documents_and_other_keys_declare_nothing() {
        for text in [
            "",
            "---\n",
            "--- {}\n",
            "---\ndefault_process_types: {}\n",
            "addons:\n  - name: x\n    plan: y\n",
            "addons:\n- x\n",
        ] {
            assert_eq!(Release::parse(text).unwrap(), Release::default(), "{text:?}");
        }
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "default_process_types:\n  web: a\n    nested: b\n",
                "line 3: nested values are not supported; write one `key: value` a line",
            ),
            (
                "default_process_types:\n  Web: a\n",
                "line 2: invalid process type \"Web\": must start with a lowercase letter",
            ),
            (
                "default_process_types:\n  web: |\n    a\n",
                "line 2: block scalars (`|`, `>`) are not supported",
            ),
            (
                "default_process_types: {web: a}\n",
                "line 1: `default_process_types` must be a map with one `key: value` a line below it",
            ),
            ("default_process_types:\n  web: a\n  web: b\n", "line 3: `web` is declared twice"),
            ("default_process_types:\n  web:\n", "line 2: a value is missing; nested maps are not supported"),
            (
                "default_process_types:\n  web: \"a\n",
                "line 2: the double-quoted value does not end on its line",
            ),
            (
                "default_process_types:\n  web: 'a' b\n",
                "line 2: unexpected text after the quoted value: \" b\"",
            ),
            ("default_process_types:\n  web: ''\n", "line 2: the command of `web` is empty"),
            ("config_vars:\n  1X: a\n", "line 2: invalid config key \"1X\": must start with a letter or '_'"),
            ("nonsense\n", "line 1: expected `key:` at the top level, found \"nonsense\""),
            ("config_vars:\n\tPATH: a\n", "line 2: YAML is indented with spaces, not tabs"),
            ("config_vars:\n- PATH\n", "line 2: expected `key: value`, found a list entry"),
        ];
        for (text, message) in cases {
            assert_eq!(Release::parse(text).unwrap_err().to_string(), message, "{text:?}");
        }
    }

    /// A command written as a YAML scalar: plain, single- or double-quoted.
    fn render(command: &str, style: u8) -> String {
        match style {
            0 => command.to_owned(),
            1 => format!("'{}'", command.replace('\'', "''")),
            _ => format!("\"{}\"", command.replace('\\', "\\\\").replace('"', "\\\"")),
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,300}|[-a-z_: '\"#|{}\n]{0,300}") {
            let _ = Release::parse(&text);
        }

        #[test]
        fn written_process_types_parse_back(
            entries in proptest::collection::btree_map(
                "[a-z][a-z0-9_-]{0,10}",
                ("[a-zA-Z0-9$./=_-][a-zA-Z0-9 $./:=_-]{0,30}[a-zA-Z0-9]", "[ -~]{1,30}"),
                0..6,
            ),
            styles in proptest::collection::vec(0u8..3, 6),
            indent in 1usize..5,
        ) {
            let mut text = String::from("---\naddons: []\ndefault_process_types:\n");
            let mut expected = Vec::new();
            for ((name, (plain, quoted)), style) in entries.iter().zip(&styles) {
                // Plain scalars cannot hold every character; quoted ones can.
                let command = if *style == 0 { plain } else { quoted };
                text.push_str(&format!("{}{name}: {}\n", " ".repeat(indent), render(command, *style)));
                expected.push((name.clone(), command.clone()));
            }
            let release = Release::parse(&text).unwrap();
            prop_assert_eq!(types(&release), expected);
        }
    }
}
