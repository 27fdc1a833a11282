//! What the command line prints: errors on stderr (a problem's title, status, detail and
//! every field error), aligned text tables and change lists on stdout. Nothing here decides
//! an exit code.
use std::io::{IsTerminal, Write};

use serde_json::Value;

use super::client::CliError;

/// Whether stderr is a terminal (progress bars rather than lines).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Prints a failure to stderr.
pub fn print_error(err: &CliError) {
    let mut out = std::io::stderr().lock();
    let _ = match err {
        CliError::Problem(p) => {
            let mut text = format!("error: {} ({})", p.title, p.status);
            if !p.problem_type.is_empty() {
                text.push_str(&format!(" [{}]", p.problem_type));
            }
            text.push('\n');
            if let Some(detail) = &p.detail {
                text.push_str(&format!("  {detail}\n"));
            }
            for e in &p.errors {
                text.push_str(&format!("  {}: {}\n", if e.field.is_empty() { "/" } else { &e.field }, e.message));
            }
            if let Some(changes) = p.body.get("changes").and_then(Value::as_array) {
                for change in changes {
                    text.push_str(&format!("  {}\n", change_line(change)));
                }
            }
            if p.status == 401 {
                text.push_str("  (set DAAP_TOKEN or pass --token)\n");
            }
            out.write_all(text.as_bytes())
        }
        CliError::Usage(msg) => writeln!(out, "error: {msg}\n  (see `daap --help`)"),
        other => writeln!(out, "error: {other}"),
    };
}

/// Whether stdout is a terminal that takes colours (not when piped, nor with `NO_COLOR`).
pub fn stdout_colours() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// One change as `class  message`, the class coloured (major red, minor yellow) when
/// `colour`; the same text as `change_line` otherwise.
pub fn styled_change_line(change: &Value, colour: bool) -> String {
    if !colour {
        return change_line(change);
    }
    let class = text(&change["class"]);
    let code = match class.as_str() {
        "major" => "31",
        "minor" => "33",
        _ => "2",
    };
    format!("\x1b[{code}m{class:<6}\x1b[0m {}", text(&change["message"]))
}

/// One change as `class  message`.
pub fn change_line(change: &Value) -> String {
    format!("{:<6} {}", text(&change["class"]), text(&change["message"]))
}

/// A JSON value as plain text (`-` for null or missing).
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows under a header, columns padded to their widest cell; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Shortens `s` to `max` characters, marking the cut with `…`; line breaks become spaces.
pub fn clip(s: &str, max: usize) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() <= max {
        flat
    } else {
        flat.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// Bytes as `12.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Prints a JSON value, pretty, on stdout.
pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_pads_every_column_but_the_last() {
        let t = table(&["NAME", "V"], &[vec!["a".into(), "v1.0".into()], vec!["long_name".into(), "v2.1".into()]]);
        assert_eq!(t, "NAME       V\na          v1.0\nlong_name  v2.1\n");
    }

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(1 << 30), "1.0 GiB");
    }

    #[test]
    fn clip_marks_the_cut_and_flattens_lines() {
        assert_eq!(clip("abc\ndef", 20), "abc def");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
