//! What the commands print: JSON answers (pretty on a terminal, as received when piped),
//! human-readable sizes and durations, progress bars that only a terminal sees, and the
//! error kinds `main` maps to exit codes.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A usage mistake clap cannot see by itself (exit code 2, like clap's own).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// True if the error comes from writing to a pipe whose reader went away.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Prints a JSON text on stdout: indented when stdout is a terminal, else exactly as given
/// (one line, ready for `jq`), then a newline.
pub fn print_json(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    if io::stdout().is_terminal() {
        writeln!(stdout, "{}", pretty(text))?;
    } else {
        writeln!(stdout, "{}", text.trim_end())?;
    }
    stdout.flush()
}

/// Indents a JSON text without re-parsing it into a map, so the field order (with `_id`
/// first) stays as the server sent it. Text that is not JSON comes back unchanged.
pub fn pretty(text: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 2);
    let mut indent = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, indent: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', indent * 2));
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                let close = if b == b'{' { b'}' } else { b']' };
                let mut j = i;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if bytes.get(j) == Some(&close) {
                    out.push(close);
                    i = j + 1;
                } else {
                    indent += 1;
                    newline(&mut out, indent);
                }
            }
            b'}' | b']' => {
                indent = indent.saturating_sub(1);
                newline(&mut out, indent);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, indent);
            }
            b':' => out.extend_from_slice(b": "),
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => out.push(b),
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// A byte count for people: `1.5 MiB (1572864 bytes)`, or `512 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
}

/// A duration for people: `2d 3h 4m 5s`, `4m 5s`, `5.2s`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (days, hours, minutes, seconds) =
        (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    if days > 0 {
        format!("{days}d {hours}h {minutes}m {seconds}s")
    } else if hours > 0 {
        format!("{hours}h {minutes}m {seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

/// A progress bar on stderr when stderr is a terminal, else one that draws nothing.
/// `template` is an indicatif template; `total` the length (None: a spinner).
pub fn progress(total: Option<u64>, template: &str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_keeps_order_strings_and_empty_containers() {
        let text = r#"{"_id":1,"b":"x,{:}\"y","a":[1,{}],"e":[],"n":null}"#;
        let expected = "{\n  \"_id\": 1,\n  \"b\": \"x,{:}\\\"y\",\n  \"a\": [\n    1,\n    {}\n  ],\n  \"e\": [],\n  \"n\": null\n}";
        assert_eq!(pretty(text), expected);
        assert_eq!(pretty("not json"), "not json");
    }

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB (1536 bytes)");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB (3145728 bytes)");
        assert_eq!(human_duration(Duration::from_secs(3_725)), "1h 2m 5s");
        assert_eq!(human_duration(Duration::from_millis(5_200)), "5.2s");
    }
}
