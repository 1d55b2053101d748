//! Maps byte offsets in a TOML document to key paths (`batch.sync`, `collections[1].name`)
//! and key paths to line and column, so that every error names the key and where it is.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Formats a path as errors show it: `collections[1].indexes[0]`.
pub(crate) fn format_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The path of the innermost key or value whose span contains `offset`. Keys win over
/// values of the same extent; a smaller span wins over a larger one.
pub(crate) fn path_at(doc: &DeTable<'_>, offset: usize) -> Vec<Seg> {
    let mut best: Option<(usize, Vec<Seg>)> = None;
    let mut path = Vec::new();
    visit_table(doc, offset, &mut path, &mut best);
    best.map(|(_, p)| p).unwrap_or_default()
}

fn consider(
    span: &Range<usize>,
    offset: usize,
    path: &[Seg],
    best: &mut Option<(usize, Vec<Seg>)>,
) {
    // An empty span (an implicit table) contains nothing.
    if span.start <= offset && offset < span.end {
        let len = span.end - span.start;
        let better = match best {
            None => true,
            Some((best_len, best_path)) => {
                len < *best_len || (len == *best_len && path.len() > best_path.len())
            }
        };
        if better {
            *best = Some((len, path.to_vec()));
        }
    }
}

fn visit_table(
    table: &DeTable<'_>,
    offset: usize,
    path: &mut Vec<Seg>,
    best: &mut Option<(usize, Vec<Seg>)>,
) {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        consider(&key.span(), offset, path, best);
        visit_value(value, offset, path, best);
        path.pop();
    }
}

fn visit_value(
    value: &Spanned<DeValue<'_>>,
    offset: usize,
    path: &mut Vec<Seg>,
    best: &mut Option<(usize, Vec<Seg>)>,
) {
    consider(&value.span(), offset, path, best);
    match value.get_ref() {
        DeValue::Table(t) => visit_table(t, offset, path, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                visit_value(item, offset, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The span of the value at `path` (or of its key when the value has no span of its own,
/// as for a table opened by a `[header]`), if the document has it.
pub(crate) fn span_of(doc: &DeTable<'_>, path: &[Seg]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let Seg::Key(name) = first else {
        return None;
    };
    let (key, value) = doc
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == name.as_str())?;
    span_in_value(value, rest).or_else(|| rest.is_empty().then(|| key.span()))
}

fn span_in_value(value: &Spanned<DeValue<'_>>, path: &[Seg]) -> Option<Range<usize>> {
    let Some((first, rest)) = path.split_first() else {
        let span = value.span();
        return (span.end > span.start).then_some(span);
    };
    match (first, value.get_ref()) {
        (Seg::Index(i), DeValue::Array(items)) => span_in_value(items.get(*i)?, rest),
        (Seg::Key(name), DeValue::Table(t)) => {
            let (key, v) = t
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == name.as_str())?;
            span_in_value(v, rest).or_else(|| rest.is_empty().then(|| key.span()))
        }
        _ => None,
    }
}
