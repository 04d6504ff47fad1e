//! Result sets as CSV (RFC 4180 quoting), JSON (an array of objects) or an aligned text table.

use super::db::{Cell, Rows};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Table,
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

pub fn render(rows: &Rows, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Csv => {
            let header: Vec<String> = rows.columns.iter().map(|c| csv_field(c)).collect();
            let _ = writeln!(out, "{}", header.join(","));
            for row in &rows.rows {
                let fields: Vec<String> = row.iter().map(|c| csv_field(&c.text())).collect();
                let _ = writeln!(out, "{}", fields.join(","));
            }
        }
        Format::Json => {
            let array: Vec<serde_json::Value> = rows
                .rows
                .iter()
                .map(|row| {
                    let object: serde_json::Map<String, serde_json::Value> = rows
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(name, cell)| {
                            let value = match cell {
                                Cell::Null => serde_json::Value::Null,
                                Cell::Int(v) => serde_json::Value::from(*v),
                                Cell::Text(t) => serde_json::Value::from(t.as_str()),
                            };
                            (name.clone(), value)
                        })
                        .collect();
                    serde_json::Value::Object(object)
                })
                .collect();
            out = serde_json::to_string_pretty(&array).unwrap_or_default();
            out.push('\n');
        }
        Format::Table => {
            let mut widths: Vec<usize> = rows.columns.iter().map(String::len).collect();
            let texts: Vec<Vec<String>> = rows
                .rows
                .iter()
                .map(|row| row.iter().map(Cell::text).collect())
                .collect();
            for row in &texts {
                for (width, text) in widths.iter_mut().zip(row) {
                    *width = (*width).max(text.len());
                }
            }
            let line = |cells: &[String], out: &mut String| {
                let padded: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(text, width)| format!("{text:<width$}"))
                    .collect();
                let _ = writeln!(out, "{}", padded.join("  ").trim_end());
            };
            line(&rows.columns, &mut out);
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            line(&rule, &mut out);
            for row in &texts {
                line(row, &mut out);
            }
            let _ = writeln!(out, "({} rows)", rows.rows.len());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_fields_with_commas_and_quotes() {
        let rows = Rows {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![Cell::Int(1), Cell::Text("x,\"y\"".into())]],
        };
        assert_eq!(render(&rows, Format::Csv), "a,b\n1,\"x,\"\"y\"\"\"\n");
        let json: serde_json::Value = serde_json::from_str(&render(&rows, Format::Json)).unwrap();
        assert_eq!(json[0]["a"], 1);
        assert!(render(&rows, Format::Table).contains("(1 rows)"));
    }
}
