//! The Procfile: which commands an app runs, by process type.
//!
//! Heroku's format: one `type: command` a line; blank lines and lines starting with `#`
//! are ignored. Unlike Heroku, a line that is neither is an error that names its line
//! number, so a typo does not silently drop a process type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ProcessType;

/// The largest Procfile accepted, in bytes.
pub const MAX_PROCFILE_LEN: usize = 64 * 1024;

/// A parsed Procfile: process types and their commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Procfile(pub BTreeMap<ProcessType, String>);

/// Why a Procfile is not valid; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcfileError {
    /// The file is larger than [`MAX_PROCFILE_LEN`].
    #[error("Procfile is larger than 64 KiB")]
    TooLarge,
    /// The file is not UTF-8 text.
    #[error("Procfile line {line}: not UTF-8 text")]
    NotUtf8 {
        /// The first line with an invalid byte.
        line: usize,
    },
    /// A line is not `type: command`.
    #[error("Procfile line {line}: expected `type: command`, found {found:?}")]
    Malformed {
        /// Where.
        line: usize,
        /// The line, cut to 60 characters.
        found: String,
    },
    /// The process type is not a valid name.
    #[error("Procfile line {line}: {reason}")]
    BadType {
        /// Where.
        line: usize,
        /// The parse error of the type.
        reason: String,
    },
    /// The command after the colon is empty.
    #[error("Procfile line {line}: the command of `{process_type}` is empty")]
    EmptyCommand {
        /// Where.
        line: usize,
        /// The type with no command.
        process_type: String,
    },
    /// A type appears twice.
    #[error("Procfile line {line}: `{process_type}` is defined twice (first on line {first})")]
    Duplicate {
        /// Where the second definition is.
        line: usize,
        /// Where the first one is.
        first: usize,
        /// The repeated type.
        process_type: String,
    },
}

impl Procfile {
    /// Parses Procfile bytes as found in a pushed repository.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProcfileError> {
        if bytes.len() > MAX_PROCFILE_LEN {
            return Err(ProcfileError::TooLarge);
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text),
            Err(e) => {
                let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
                Err(ProcfileError::NotUtf8 { line })
            }
        }
    }

    /// Parses Procfile text.
    pub fn parse(text: &str) -> Result<Self, ProcfileError> {
        if text.len() > MAX_PROCFILE_LEN {
            return Err(ProcfileError::TooLarge);
        }
        let mut types = BTreeMap::new();
        let mut first_seen: BTreeMap<ProcessType, usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((name, command)) = trimmed.split_once(':') else {
                return Err(ProcfileError::Malformed { line, found: trimmed.chars().take(60).collect() });
            };
            let process_type = ProcessType::parse(name.trim())
                .map_err(|e| ProcfileError::BadType { line, reason: e.to_string() })?;
            let command = command.trim();
            if command.is_empty() {
                return Err(ProcfileError::EmptyCommand { line, process_type: process_type.to_string() });
            }
            if let Some(&first) = first_seen.get(&process_type) {
                return Err(ProcfileError::Duplicate { line, first, process_type: process_type.to_string() });
            }
            first_seen.insert(process_type.clone(), line);
            types.insert(process_type, command.to_owned());
        }
        Ok(Self(types))
    }

    /// The command of a process type.
    pub fn command(&self, process_type: &ProcessType) -> Option<&str> {
        self.0.get(process_type).map(String::as_str)
    }

    /// The process types, in order.
    pub fn types(&self) -> impl Iterator<Item = &ProcessType> {
        self.0.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_heroku_procfiles() {
        let p = Procfile::parse(
            "# comment\n\nweb: python3 app.py --port $PORT\nworker:python3 worker.py\r\nrelease: ./migrate: yes\n",
        )
        .unwrap();
        assert_eq!(p.command(&ProcessType::web()), Some("python3 app.py --port $PORT"));
        assert_eq!(p.command(&ProcessType::parse("worker").unwrap()), Some("python3 worker.py"));
        assert_eq!(p.command(&ProcessType::parse("release").unwrap()), Some("./migrate: yes"));
        assert_eq!(p.types().count(), 3);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("web: a\nnonsense\n", "Procfile line 2: expected `type: command`, found \"nonsense\""),
            (
                "\n\nWeb: a",
                "Procfile line 3: invalid process type \"Web\": must start with a lowercase letter",
            ),
            ("web:   \n", "Procfile line 1: the command of `web` is empty"),
            ("web: a\n#\nweb: b", "Procfile line 3: `web` is defined twice (first on line 1)"),
        ];
        for (text, message) in cases {
            assert_eq!(Procfile::parse(text).unwrap_err().to_string(), message);
        }
        assert_eq!(
            Procfile::from_bytes(b"web: a\nw\xffb: c").unwrap_err(),
            ProcfileError::NotUtf8 { line: 2 }
        );
        assert_eq!(
            Procfile::from_bytes(&vec![b'#'; MAX_PROCFILE_LEN + 1]).unwrap_err(),
            ProcfileError::TooLarge
        );
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Procfile::from_bytes(&bytes);
        }

        #[test]
        fn written_procfiles_parse_back(entries in proptest::collection::btree_map("[a-z][a-z0-9_-]{0,10}", "[a-zA-Z0-9 $./:-]{0,30}[a-zA-Z0-9]", 0..6)) {
            let text: String = entries.iter().map(|(t, c)| format!("{t}: {c}\n")).collect();
            let parsed = Procfile::parse(&text).unwrap();
            let back: BTreeMap<String, String> = parsed.0.iter().map(|(t, c)| (t.to_string(), c.clone())).collect();
            prop_assert_eq!(back, entries.into_iter().map(|(t, c)| (t, c.trim().to_owned())).collect::<BTreeMap<_, _>>());
        }
    }
}
