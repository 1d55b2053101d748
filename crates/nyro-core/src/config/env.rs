//! Environment overrides: `NYRODB_<SECTION>_<KEY>`.
//!
//! Only variables whose name starts with `NYRODB_` followed by a known section and `_` are
//! config variables (`NYRODB_SERVER_LISTEN`). Every other variable, including the CLI's own
//! `NYRODB_URL`, `NYRODB_TOKEN` and `NYRODB_LOG_FORMAT`, is ignored. A config variable that
//! names no key of its section is an error, so a typo is never silently ignored.

use super::keys::{Key, SECTIONS};

/// The prefix every config variable starts with.
pub(crate) const PREFIX: &str = "NYRODB_";

/// What an environment variable means for the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvTarget {
    /// Not a config variable: ignored.
    NotConfig,
    /// Overrides this key.
    Key(Key),
    /// `NYRODB_<SECTION>_<NAME>` where the section exists but has no key `NAME`.
    UnknownKey {
        /// The section.
        section: &'static str,
        /// The lower-cased key name the variable asked for.
        name: String,
    },
    /// `NYRODB_COLLECTIONS_...`: collections are set in the file only.
    Collections,
}

/// Classifies one variable name.
pub(crate) fn classify(var: &str) -> EnvTarget {
    let Some(rest) = var.strip_prefix(PREFIX) else {
        return EnvTarget::NotConfig;
    };
    for section in SECTIONS {
        let Some(after) = rest.strip_prefix(section.to_ascii_uppercase().as_str()) else {
            continue;
        };
        let Some(name) = after.strip_prefix('_') else {
            continue;
        };
        return match Key::find(section, name) {
            Some(key) => EnvTarget::Key(key),
            None => EnvTarget::UnknownKey {
                section,
                name: name.to_ascii_lowercase(),
            },
        };
    }
    if rest == "COLLECTIONS" || rest.starts_with("COLLECTIONS_") {
        return EnvTarget::Collections;
    }
    EnvTarget::NotConfig
}

/// The message for a variable that names an unknown key of a known section.
pub(crate) fn unknown_key_message(section: &str, name: &str) -> String {
    let vars: Vec<String> = Key::ALL
        .into_iter()
        .filter(|k| k.section() == section)
        .map(Key::env_var)
        .collect();
    format!(
        "`{section}.{name}` is not a config key; the keys of [{section}] are set with {}",
        vars.join(", ")
    )
}
