//! Environment and flag overrides through a [`Schema`]: `NYRODB_<SECTION>_<KEY>`, and
//! `set_override` for a command-line flag.
//!
//! Only variables whose name starts with `NYRODB_` followed by a section of the schema and
//! `_` are config variables (`NYRODB_SERVER_LISTEN`). Every other variable, including the
//! CLI's own `NYRODB_URL`, `NYRODB_TOKEN` and `NYRODB_LOG_FORMAT`, is ignored. A config
//! variable that names no key of its section is an error, so a typo is never silently
//! ignored.

use std::path::Path;

use super::Config;
use super::error::ConfigError;
use super::registry::{Key, Schema};

/// The prefix every config variable starts with.
pub(crate) const PREFIX: &str = "NYRODB_";

/// What an environment variable means for the config.
#[derive(Debug)]
pub(crate) enum EnvTarget<'a, C> {
    /// Not a config variable: ignored.
    NotConfig,
    /// Overrides this key.
    Key(&'a Key<C>),
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

impl<C> Schema<C> {
    /// Classifies one variable name.
    pub(crate) fn classify(&self, var: &str) -> EnvTarget<'_, C> {
        let Some(rest) = var.strip_prefix(PREFIX) else {
            return EnvTarget::NotConfig;
        };
        for section in self.sections() {
            let Some(after) = rest.strip_prefix(section.to_ascii_uppercase().as_str()) else {
                continue;
            };
            let Some(name) = after.strip_prefix('_') else {
                continue;
            };
            return match self
                .section_keys(section)
                .find(|k| k.name.eq_ignore_ascii_case(name))
            {
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

    /// Applies environment overrides from `(name, value)` pairs, such as `std::env::vars()`,
    /// in name order. Errors name the variable: an unknown key of a known section, a bad or
    /// out-of-range value, and `NYRODB_COLLECTIONS_*` (collections are set in the file
    /// only). On an error `config` may hold the overrides applied before it.
    pub fn apply_env(
        &self,
        config: &mut C,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| !matches!(self.classify(name), EnvTarget::NotConfig))
            .collect();
        vars.sort();
        for (var, value) in vars {
            let message = match self.classify(&var) {
                EnvTarget::NotConfig => continue,
                EnvTarget::Key(key) => match key.assign(config, &value) {
                    Ok(()) => continue,
                    Err(message) => format!("{message} (it sets `{}`)", key.path()),
                },
                EnvTarget::UnknownKey { section, name } => {
                    let vars: Vec<String> = self.section_keys(section).map(Key::env_var).collect();
                    format!(
                        "`{section}.{name}` is not a config key; the keys of [{section}] are set \
                         with {}",
                        vars.join(", ")
                    )
                }
                EnvTarget::Collections => "collections cannot be set from the environment; \
                                           declare them as [[collections]] in the config file \
                                           or create them over HTTP"
                    .to_owned(),
            };
            return Err(ConfigError::Env { var, message });
        }
        Ok(())
    }

    /// The process environment's variables, for [`Schema::apply_env`]. A variable whose name
    /// or value is not UTF-8 is skipped unless it is a config variable, which is an error.
    pub fn process_env(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => vars.push((name, value)),
                Err(_) if !matches!(self.classify(&name), EnvTarget::NotConfig) => {
                    return Err(ConfigError::Env {
                        var: name,
                        message: "the value is not valid UTF-8".to_owned(),
                    });
                }
                Err(_) => {}
            }
        }
        Ok(vars)
    }

    /// Sets one key from a string, as a command-line flag does: `key` is the full path
    /// (`storage.path`, `server.listen`, ...), `origin` names the flag in errors
    /// (`--listen`). The value is parsed and range-checked like an environment variable.
    pub fn set_override(
        &self,
        config: &mut C,
        origin: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError::Override {
            origin: origin.to_owned(),
            key: key.to_owned(),
            message,
        };
        let Some(k) = self.by_path(key) else {
            return Err(err(format!(
                "not a config key; expected one of {}",
                self.paths().join(", ")
            )));
        };
        k.assign(config, value).map_err(err)
    }
}

impl<C: Default + AsRef<Config> + AsMut<Config>> Schema<C> {
    /// [`Schema::load_default_or_file`], then [`Schema::apply_env`] with the process
    /// environment.
    pub fn load_with_env(&self, explicit_path: Option<&Path>) -> Result<C, ConfigError> {
        let mut config = self.load_default_or_file(explicit_path)?;
        let vars = self.process_env()?;
        self.apply_env(&mut config, vars)?;
        Ok(config)
    }
}
