//! The key registry: every scalar key of `nyrodb.toml` described once, as a [`Key`] (section,
//! name, default, TOML type, doc, what is allowed, how to set it from a string, how to check
//! it, how to show it). A [`Schema`] is a list of keys; it drives the file parser, the environment
//! overrides `NYRODB_<SECTION>_<KEY>`, flag overrides, validation, the defaults
//! ([`Schema::apply_defaults`]) and the commented
//! `nyrodb.toml` it renders ([`Schema::render`]).
//!
//! The table is generic over the type `C` that holds the values, so that the HTTP server
//! (nyro-server) can extend the database's keys ([`super::database_keys`]) with its own
//! `[server]` keys and read the whole file through one schema.

use std::fmt::Write as _;

/// The TOML type a key takes in the file. The environment and flags give strings, which the
/// key's setter parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A TOML string.
    String,
    /// A TOML integer.
    Integer,
    /// A TOML float or integer.
    Float,
    /// `true` or `false`.
    Bool,
    /// A TOML array of strings, none holding a comma. The environment and flags give it as
    /// one comma-separated string (`a,b`; empty: no element), which is also what the setter
    /// receives from the file.
    StringList,
}

impl Ty {
    /// The value as the string the key's setter parses, if it has this type.
    pub(crate) fn read(self, value: &toml::Value) -> Option<String> {
        match (self, value) {
            (Ty::String, toml::Value::String(s)) => Some(s.clone()),
            (Ty::Integer | Ty::Float, toml::Value::Integer(i)) => Some(i.to_string()),
            (Ty::Float, toml::Value::Float(f)) => Some(f.to_string()),
            (Ty::Bool, toml::Value::Boolean(b)) => Some(b.to_string()),
            (Ty::StringList, toml::Value::Array(items)) => {
                let items: Option<Vec<&str>> = items
                    .iter()
                    .map(|item| item.as_str().filter(|s| !s.contains(',')))
                    .collect();
                Some(items?.join(","))
            }
            _ => None,
        }
    }

    /// The type, as messages name it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Ty::String => "a string",
            Ty::Integer => "an integer",
            Ty::Float => "a number",
            Ty::Bool => "a boolean",
            Ty::StringList => "an array of strings without commas",
        }
    }
}

/// One key of `nyrodb.toml`, described once. `C` is the type holding the settings.
pub struct Key<C> {
    /// The section, e.g. `storage`.
    pub section: &'static str,
    /// The key's name inside its section, e.g. `segment_size_mb`.
    pub name: &'static str,
    /// The default, as the environment would give it (`"256"`, `"./data"`); what an empty
    /// file means, and what the rendered `nyrodb.toml` shows.
    pub default: &'static str,
    /// The TOML type it takes in the file.
    pub ty: Ty,
    /// What it does: the comment printed above it in the rendered `nyrodb.toml` (lines
    /// separated by `\n`).
    pub doc: &'static str,
    /// What values it accepts, in words ("a whole number of MiB from 1 to 4096").
    pub allowed: String,
    /// Whether its value must never appear in messages (the auth token).
    pub secret: bool,
    /// Sets it from a string (the file's value, an environment variable or a flag). The
    /// error says what is wrong with the string; the caller adds what is allowed.
    pub set: fn(&mut C, &str) -> Result<(), String>,
    /// Whether the current value is in range.
    pub check: fn(&C) -> bool,
    /// The current value as a TOML literal (`256`, `"./data"`).
    pub show: fn(&C) -> String,
}

impl<C> Key<C> {
    /// `section.name`, as errors name it.
    pub fn path(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }

    /// `NYRODB_SECTION_NAME`, the environment variable that overrides it.
    pub fn env_var(&self) -> String {
        format!(
            "NYRODB_{}_{}",
            self.section.to_ascii_uppercase(),
            self.name.to_ascii_uppercase()
        )
    }

    /// Sets the key from `raw` and range-checks it; the error says what is allowed.
    pub fn assign(&self, config: &mut C, raw: &str) -> Result<(), String> {
        (self.set)(config, raw).map_err(|what| format!("{what}; expected {}", self.allowed))?;
        self.check_value(config)
    }

    /// Range-checks the key's current value; the error says what is allowed.
    pub fn check_value(&self, config: &C) -> Result<(), String> {
        if (self.check)(config) {
            return Ok(());
        }
        let value = if self.secret {
            "the value".to_owned()
        } else {
            (self.show)(config)
        };
        Err(format!("{value} is not allowed; expected {}", self.allowed))
    }
}

impl<C> std::fmt::Debug for Key<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.path())
    }
}

/// A check that relates several keys (`cluster.secret` is required once `cluster.node_id`
/// is set): the key it blames and what is wrong, or `Ok`.
///
/// Rules run in [`Schema::validate`] only, once every source (file, environment, flags) is
/// applied, never while one source is read: the file alone may rightly lack what the
/// environment gives (a secret), and one flag may need the next.
pub type Rule<C> = fn(&C) -> Result<(), RuleError>;

/// What a [`Rule`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The key blamed, as `section.name`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// The keys of one configuration type, in the order the rendered file lists them, and the
/// rules that relate them.
pub struct Schema<C> {
    keys: Vec<Key<C>>,
    rules: Vec<Rule<C>>,
}

impl<C> Schema<C> {
    /// A schema of `keys`. Keys of one section need not be adjacent; sections are rendered
    /// in the order they first appear.
    pub fn new(keys: Vec<Key<C>>) -> Self {
        Schema {
            keys,
            rules: Vec::new(),
        }
    }

    /// Adds a rule that [`Schema::validate`] checks after every key's own check.
    pub fn with_rule(mut self, rule: Rule<C>) -> Self {
        self.rules.push(rule);
        self
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule<C>] {
        &self.rules
    }

    /// Sets every key to its default. The defaults are constants that the unit tests parse
    /// and range-check, so none can fail here.
    pub fn apply_defaults(&self, config: &mut C) {
        for key in &self.keys {
            let result = key.assign(config, key.default);
            debug_assert!(result.is_ok(), "the default of {}: {result:?}", key.path());
        }
    }

    /// Every key.
    pub fn keys(&self) -> &[Key<C>] {
        &self.keys
    }

    /// The sections that hold scalar keys, in order of first appearance.
    pub fn sections(&self) -> Vec<&'static str> {
        let mut sections = Vec::new();
        for key in &self.keys {
            if !sections.contains(&key.section) {
                sections.push(key.section);
            }
        }
        sections
    }

    /// The keys of `section`, in order.
    pub fn section_keys<'a>(
        &'a self,
        section: &'a str,
    ) -> impl Iterator<Item = &'a Key<C>> + use<'a, C> {
        self.keys.iter().filter(move |k| k.section == section)
    }

    /// The key `name` of `section`, exactly as written in the file.
    pub fn find(&self, section: &str, name: &str) -> Option<&Key<C>> {
        self.keys
            .iter()
            .find(|k| k.section == section && k.name == name)
    }

    /// The key named `section.name`.
    pub fn by_path(&self, path: &str) -> Option<&Key<C>> {
        self.keys.iter().find(|k| k.path() == path)
    }

    /// Every key's `section.name`, for messages.
    pub fn paths(&self) -> Vec<String> {
        self.keys.iter().map(Key::path).collect()
    }

    /// The commented TOML of every scalar key, with its value in `config`: the body of the
    /// shipped `nyrodb.toml` when `config` holds the defaults.
    pub fn render(&self, config: &C) -> String {
        let mut out = String::new();
        for section in self.sections() {
            if !out.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "[{section}]");
            for key in self.section_keys(section) {
                for line in key.doc.lines() {
                    let _ = writeln!(out, "# {line}");
                }
                let _ = writeln!(out, "{} = {}", key.name, (key.show)(config));
            }
        }
        out
    }
}

impl<C: Default> Schema<C> {
    /// Checks the table's defaults (for tests): each parses, passes its range check and shows
    /// in `C::default()` as written (so the rendered file shows the table's default).
    pub fn check_defaults(&self) -> Result<(), String> {
        let config = C::default();
        for key in &self.keys {
            key.check_value(&config)
                .map_err(|e| format!("{}: the default {e}", key.path()))?;
            let shown = (key.show)(&config);
            let written = match key.ty {
                Ty::StringList => toml_string_list(split_list(key.default)),
                _ => toml_string(key.default),
            };
            if shown != key.default && shown != written {
                return Err(format!(
                    "{}: the default {:?} shows as {shown}",
                    key.path(),
                    key.default
                ));
            }
        }
        Ok(())
    }
}

/// Parses a number from an environment variable, a flag or the file; the error names the
/// value (the caller adds what is allowed).
pub fn parse_number<T: std::str::FromStr>(raw: &str) -> Result<T, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not valid"))
}

/// A string as a TOML basic string literal.
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Strings as a TOML array literal: `["a", "b"]`, or `[]`.
pub fn toml_string_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| toml_string(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

/// The elements of a [`Ty::StringList`] value as its setter receives it: the pieces between
/// commas, trimmed; none for an empty or blank string. An empty piece (`a,,b`) is kept, for
/// the setter to refuse.
pub fn split_list(raw: &str) -> Vec<&str> {
    if raw.trim().is_empty() {
        return Vec::new();
    }
    raw.split(',').map(str::trim).collect()
}

/// Whether a secret (a bearer token, a shared secret) survives an HTTP header: printable
/// ASCII, no surrounding spaces (HTTP trims them, so such a value could never match).
pub fn is_header_safe(value: &str) -> bool {
    value.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}
