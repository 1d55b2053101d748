//! Reading `nyrodb.toml` through a [`Schema`]: syntax, then `[[collections]]` (with serde,
//! for its messages), then every section's keys from the key table, then every range check.
//! Each error names the file, the key and its line and column.

use std::path::Path;

use serde::Deserialize;
use toml::de::DeTable;

use super::error::ConfigError;
use super::locate::{self, Seg};
use super::registry::Schema;
use super::types::CollectionConfig;
use super::{Config, is_default_path};
use crate::names::{MAX_COLLECTION_NAME_LEN, check_index_fields, is_valid_collection_name};

/// Where an error is: the key's path and, when the document has it, its line and column.
struct At {
    key: String,
    line: Option<usize>,
    column: Option<usize>,
}

impl At {
    fn of(text: &str, doc: &DeTable<'_>, path: &[Seg]) -> At {
        let (line, column) = match locate::span_of(doc, path) {
            Some(span) => {
                let (l, c) = locate::line_col(text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        At {
            key: locate::format_path(path),
            line,
            column,
        }
    }

    fn parse_error(self, file: &str, message: String) -> ConfigError {
        ConfigError::Parse {
            file: file.to_owned(),
            key: self.key,
            line: self.line,
            column: self.column,
            message,
        }
    }
}

/// Only `[[collections]]`; every other top-level key is left to the key table.
#[derive(Deserialize)]
struct Collections {
    #[serde(default)]
    collections: Vec<CollectionConfig>,
}

fn key_path(section: &str, name: &str) -> Vec<Seg> {
    vec![Seg::Key(section.to_owned()), Seg::Key(name.to_owned())]
}

fn one_of(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let names: Vec<String> = names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect();
    names.join(", ")
}

impl<C: Default + AsRef<Config> + AsMut<Config>> Schema<C> {
    /// Parses and validates a TOML document; `source_name` (usually the file name) is named
    /// in every error.
    pub fn parse(&self, text: &str, source_name: &str) -> Result<C, ConfigError> {
        let doc = DeTable::parse(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| locate::line_col(text, span.start));
            ConfigError::Syntax {
                file: source_name.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let doc = doc.get_ref();
        let mut config = C::default();
        config.as_mut().collections = self.parse_collections(text, doc, source_name)?;
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: source_name.to_owned(),
            line: 1,
            column: 1,
            message: e.message().trim().to_owned(),
        })?;
        let sections = self.sections();
        for (section, value) in &table {
            if section == "collections" {
                continue;
            }
            let at = |path: &[Seg]| At::of(text, doc, path);
            let Some(&section) = sections.iter().find(|s| **s == section) else {
                let expected = one_of(sections.iter().copied().chain(["collections"]));
                return Err(at(&[Seg::Key(section.clone())]).parse_error(
                    source_name,
                    format!("unknown key `{section}`, expected one of {expected}"),
                ));
            };
            let Some(keys) = value.as_table() else {
                return Err(at(&[Seg::Key(section.to_owned())]).parse_error(
                    source_name,
                    format!(
                        "invalid type: {} `{value}`, expected a [{section}] table",
                        value.type_str()
                    ),
                ));
            };
            for (name, value) in keys {
                let path = key_path(section, name);
                let Some(key) = self.find(section, name) else {
                    let expected = one_of(self.section_keys(section).map(|k| k.name));
                    return Err(at(&path).parse_error(
                        source_name,
                        format!("unknown key `{name}`, expected one of {expected}"),
                    ));
                };
                let Some(raw) = key.ty.read(value) else {
                    return Err(at(&path).parse_error(
                        source_name,
                        format!(
                            "invalid type: {} `{value}`, expected {}; allowed: {}",
                            value.type_str(),
                            key.ty.name(),
                            key.allowed
                        ),
                    ));
                };
                (key.set)(&mut config, &raw).map_err(|what| {
                    at(&path).parse_error(source_name, format!("{what}; expected {}", key.allowed))
                })?;
            }
        }
        if let Err((path, message)) = self.check(&config) {
            let at = At::of(text, doc, &path);
            return Err(ConfigError::Invalid {
                source_name: source_name.to_owned(),
                key: at.key,
                line: at.line,
                column: at.column,
                message,
            });
        }
        Ok(config)
    }

    fn parse_collections(
        &self,
        text: &str,
        doc: &DeTable<'_>,
        source_name: &str,
    ) -> Result<Vec<CollectionConfig>, ConfigError> {
        let parsed: Collections = toml::from_str(text).map_err(|e| {
            let (path, line, column) = match e.span() {
                Some(span) => {
                    let path = locate::path_at(doc, span.start);
                    let (l, c) = locate::line_col(text, span.start);
                    (path, Some(l), Some(c))
                }
                None => (vec![Seg::Key("collections".to_owned())], None, None),
            };
            let message = e
                .message()
                .trim()
                .replace("unknown field", "unknown key")
                .replace("missing field", "missing key")
                .replace(
                    "expected struct CollectionConfig",
                    "expected a [[collections]] table with `name` and `indexes`",
                );
            ConfigError::Parse {
                file: source_name.to_owned(),
                key: locate::format_path(&path),
                line,
                column,
                message,
            }
        })?;
        Ok(parsed.collections)
    }

    /// Loads the file at `path`; when `missing_ok`, a missing file gives the defaults.
    pub fn load_path(&self, path: &Path, missing_ok: bool) -> Result<C, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => self.parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if missing_ok {
                    Ok(C::default())
                } else {
                    Err(ConfigError::NotFound {
                        path: path.to_path_buf(),
                    })
                }
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Loads an explicitly given file (which must exist), or else `./nyrodb.toml` if it
    /// exists, or else the defaults.
    pub fn load_default_or_file(&self, explicit: Option<&Path>) -> Result<C, ConfigError> {
        match explicit {
            Some(p) => self.load_path(p, false),
            None => self.load_path(Path::new(super::DEFAULT_CONFIG_PATH), true),
        }
    }

    /// Like [`Schema::load_default_or_file`], except that a `path` naming the default file
    /// itself (`./nyrodb.toml`, as a CLI with a default flag value passes it) may be missing.
    pub fn load(&self, path: Option<&Path>) -> Result<C, ConfigError> {
        match path {
            Some(p) => self.load_path(p, is_default_path(p)),
            None => self.load_default_or_file(None),
        }
    }

    /// Checks every range and every collection entry, as loading does, and then the rules
    /// that relate keys ([`Schema::with_rule`]), which loading does not run: call this once
    /// every source (file, environment, flags) is applied. `source_name` is named in the
    /// error.
    pub fn validate(&self, config: &C, source_name: &str) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            source_name: source_name.to_owned(),
            key,
            line: None,
            column: None,
            message,
        };
        self.check(config)
            .map_err(|(path, message)| invalid(locate::format_path(&path), message))?;
        for rule in self.rules() {
            rule(config).map_err(|e| invalid(e.key, e.message))?;
        }
        Ok(())
    }

    /// The first problem found: the key's path and what is wrong.
    fn check(&self, config: &C) -> Result<(), (Vec<Seg>, String)> {
        for key in self.keys() {
            key.check_value(config)
                .map_err(|message| (key_path(key.section, key.name), message))?;
        }
        check_collections(&config.as_ref().collections)
    }
}

/// The collection entries by the rule the catalog applies too ([`crate::names`]).
fn check_collections(collections: &[CollectionConfig]) -> Result<(), (Vec<Seg>, String)> {
    for (i, c) in collections.iter().enumerate() {
        let at = |rest: &[Seg]| {
            let mut path = vec![Seg::Key("collections".to_owned()), Seg::Index(i)];
            path.extend_from_slice(rest);
            path
        };
        let name_path = || at(&[Seg::Key("name".to_owned())]);
        if !is_valid_collection_name(&c.name) {
            return Err((
                name_path(),
                format!(
                    "{:?} is not a valid collection name; allowed: 1 to \
                     {MAX_COLLECTION_NAME_LEN} characters from A-Z, a-z, 0-9, `_` and `-`",
                    c.name
                ),
            ));
        }
        if let Some(first) = collections[..i].iter().position(|o| o.name == c.name) {
            return Err((
                name_path(),
                format!(
                    "collection {:?} is declared twice (also collections[{first}]); declare \
                     each collection once",
                    c.name
                ),
            ));
        }
        check_index_fields(&c.indexes).map_err(|(j, problem)| {
            (
                at(&[Seg::Key("indexes".to_owned()), Seg::Index(j)]),
                problem.to_string(),
            )
        })?;
    }
    Ok(())
}
