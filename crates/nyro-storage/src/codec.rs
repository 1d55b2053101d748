//! The payload codec: serde values to bytes and back, with bincode 2.0.1.
//!
//! This is the only module that names `bincode`, so it can be replaced by another encoder
//! without touching anything else: docs/FORMAT.md specifies the bytes (bincode's "standard"
//! configuration: little-endian, variable-length integers), not the library. bincode is
//! pinned to `=2.0.1` because 3.0.0 is an empty release that does not compile and the crate
//! is no longer maintained.
//!
//! Decoding is only ever given bytes whose frame checksum matched, and it still treats them
//! as untrusted: it is bounded by [`DECODE_LIMIT`], rejects trailing bytes, and never panics.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Most bytes one decode may claim (guards against absurd length prefixes).
pub const DECODE_LIMIT: usize = 1 << 30;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<DECODE_LIMIT>()
}

/// Encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value could not be encoded.
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding of the expected type.
    #[error("cannot decode {len} bytes: {reason}")]
    Decode {
        /// Bytes given.
        len: usize,
        /// What was wrong.
        reason: String,
    },
}

/// Appends the encoding of `value` to `out`.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(value, out, config())
        .map(drop)
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// The encoding of `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Decodes a whole `T` from `bytes`; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) =
        bincode::serde::decode_from_slice::<T, _>(bytes, config()).map_err(|e| {
            CodecError::Decode {
                len: bytes.len(),
                reason: e.to_string(),
            }
        })?;
    if used != bytes.len() {
        return Err(CodecError::Decode {
            len: bytes.len(),
            reason: format!("{} trailing bytes after the value", bytes.len() - used),
        });
    }
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        name: String,
        n: u64,
        items: Vec<i32>,
    }

    #[test]
    fn round_trip() {
        let v = Sample {
            name: "ö".into(),
            n: 300,
            items: vec![-1, 2],
        };
        let bytes = encode(&v).unwrap();
        assert_eq!(decode::<Sample>(&bytes).unwrap(), v);
    }

    #[test]
    fn trailing_and_truncated_bytes_are_errors() {
        let mut bytes = encode(&7u64).unwrap();
        bytes.push(0);
        assert!(decode::<u64>(&bytes).is_err());
        let bytes = encode(&"hello".to_string()).unwrap();
        assert!(decode::<String>(&bytes[..3]).is_err());
    }

    #[test]
    fn absurd_length_prefix_is_an_error_not_an_allocation() {
        // A varint length of u64::MAX followed by nothing.
        let bytes = [253u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(decode::<Vec<u8>>(&bytes).is_err());
        assert!(decode::<String>(&bytes).is_err());
    }
}
