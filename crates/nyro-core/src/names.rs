//! The one rule for collection names and index paths, shared by the config file
//! (`[[collections]]`) and the catalog (collections created over HTTP or the embedded API),
//! so that a definition the file accepts is exactly one the API accepts.
//!
//! - A collection name matches `^[A-Za-z0-9_-]{1,64}$`.
//! - An index list names each path once (`"city"`, `"address.city"`: field names separated
//!   by single dots, none empty, as [`crate::query::Path::parse`] reads them); no path is
//!   `_id` (the id is always looked up directly). A repeated path is refused, not silently
//!   merged: it is almost always a typo for another path, and the file and the API answer
//!   it the same way.

use std::fmt;

use crate::document::ID_FIELD;

/// Longest collection name, in bytes.
pub const MAX_COLLECTION_NAME_LEN: usize = 64;

/// Whether `name` is a valid collection name: `^[A-Za-z0-9_-]{1,64}$`.
pub fn is_valid_collection_name(name: &str) -> bool {
    (1..=MAX_COLLECTION_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What is wrong with one path of an index list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexFieldError {
    /// The path is empty.
    Empty,
    /// The path has an empty field name (`"a..b"`, `".a"`, `"a."`).
    EmptySegment {
        /// The path.
        field: String,
    },
    /// The field is `_id`.
    Id,
    /// The field appears earlier in the list, at `first`.
    Repeated {
        /// The field.
        field: String,
        /// The position of its first appearance.
        first: usize,
    },
}

impl fmt::Display for IndexFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexFieldError::Empty => f.write_str(
                "an index path must not be empty; allowed: field names separated by single \
                 dots (\"city\", \"address.city\"), but not `_id`",
            ),
            IndexFieldError::EmptySegment { field } => write!(
                f,
                "index path {field:?} has an empty field name; write field names separated \
                 by single dots (\"address.city\")"
            ),
            IndexFieldError::Id => f.write_str(
                "`_id` is the document id and always looked up directly; remove it from indexes",
            ),
            IndexFieldError::Repeated { field, .. } => {
                write!(
                    f,
                    "path {field:?} is listed twice; list each indexed path once"
                )
            }
        }
    }
}

/// Checks an index list: the position of the first bad path and what is wrong with it
/// (the same rule as [`crate::query::Path::parse`], which a unit test checks).
pub fn check_index_fields(fields: &[String]) -> Result<(), (usize, IndexFieldError)> {
    for (j, field) in fields.iter().enumerate() {
        if field.is_empty() {
            return Err((j, IndexFieldError::Empty));
        }
        if field.split('.').any(str::is_empty) {
            return Err((
                j,
                IndexFieldError::EmptySegment {
                    field: field.clone(),
                },
            ));
        }
        if field == ID_FIELD {
            return Err((j, IndexFieldError::Id));
        }
        if let Some(first) = fields[..j].iter().position(|f| f == field) {
            return Err((
                j,
                IndexFieldError::Repeated {
                    field: field.clone(),
                    first,
                },
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn collection_names() {
        assert!(is_valid_collection_name("users"));
        assert!(is_valid_collection_name("A-z_09"));
        assert!(is_valid_collection_name(&"x".repeat(64)));
        assert!(!is_valid_collection_name(&"x".repeat(65)));
        assert!(!is_valid_collection_name(""));
        assert!(!is_valid_collection_name("a b"));
        assert!(!is_valid_collection_name("a.b"));
        assert!(!is_valid_collection_name("é"));
        assert!(!is_valid_collection_name("a/b"));
    }

    #[test]
    fn index_paths_are_the_paths_queries_parse() {
        for text in ["a", "a.b", "a..b", "", ".", "a.", ".a", "é.x", "a b.c"] {
            assert_eq!(
                check_index_fields(&fields(&[text])).is_ok(),
                crate::query::Path::parse(text).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn index_fields() {
        assert_eq!(check_index_fields(&fields(&[])), Ok(()));
        assert_eq!(check_index_fields(&fields(&["b", "a"])), Ok(()));
        assert_eq!(
            check_index_fields(&fields(&["address.city", "a.b.c", "_id.x"])),
            Ok(())
        );
        for bad in ["a..b", ".a", "a.", "."] {
            assert_eq!(
                check_index_fields(&fields(&["x", bad])),
                Err((
                    1,
                    IndexFieldError::EmptySegment {
                        field: bad.to_owned()
                    }
                )),
                "{bad}"
            );
        }
        assert_eq!(
            check_index_fields(&fields(&["a", ""])),
            Err((1, IndexFieldError::Empty))
        );
        assert_eq!(
            check_index_fields(&fields(&["_id"])),
            Err((0, IndexFieldError::Id))
        );
        assert_eq!(
            check_index_fields(&fields(&["a", "b", "a"])),
            Err((
                2,
                IndexFieldError::Repeated {
                    field: "a".to_owned(),
                    first: 0
                }
            ))
        );
    }
}
