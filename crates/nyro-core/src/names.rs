//! The one rule for collection names and index paths, shared by the config file
//! (`[[collections]]`) and the catalog (collections created over HTTP or the embedded API),
//! so that a definition the file accepts is exactly one the API accepts.
//!
//! - A collection name matches `^[A-Za-z0-9_-]{1,64}$`.
//! - An index list names each field once; no field is empty or `_id` (the id is always looked
//!   up directly). A repeated field is refused, not silently merged: it is almost always a
//!   typo for another field, and the file and the API answer it the same way.

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

/// What is wrong with one field of an index list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexFieldError {
    /// The field name is empty.
    Empty,
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
                "an index field name must not be empty; allowed: any top-level field name but \
                 `_id`",
            ),
            IndexFieldError::Id => f.write_str(
                "`_id` is the document id and always looked up directly; remove it from indexes",
            ),
            IndexFieldError::Repeated { field, .. } => {
                write!(
                    f,
                    "field {field:?} is listed twice; list each indexed field once"
                )
            }
        }
    }
}

/// Checks an index list: the position of the first bad field and what is wrong with it.
pub fn check_index_fields(fields: &[String]) -> Result<(), (usize, IndexFieldError)> {
    for (j, field) in fields.iter().enumerate() {
        if field.is_empty() {
            return Err((j, IndexFieldError::Empty));
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
    fn index_fields() {
        assert_eq!(check_index_fields(&fields(&[])), Ok(()));
        assert_eq!(check_index_fields(&fields(&["b", "a"])), Ok(()));
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
