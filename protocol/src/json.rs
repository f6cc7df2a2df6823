//! JSON output that matches JavaScript's `JSON.stringify` byte for byte.
//!
//! The reference Socket.IO parser serialises payloads with `JSON.stringify`, and the
//! official client compares nothing byte-wise, but the frames we produce are also read
//! by people (logs, tests, the spec's examples). `serde_json` already escapes strings the
//! way `JSON.stringify` does; only numbers differ: `serde_json` writes the float `1.0` as
//! `1.0` and `1e21` as `1e21`, where JavaScript writes `1` and `1e+21`. This module owns a
//! [`serde_json::ser::Formatter`] that writes floats with the ECMAScript
//! `Number::toString` rules, and one helper that serialises into a reusable buffer.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, Serializer};

/// Appends the JSON text of `value` to `out`, formatted as `JSON.stringify` would.
///
/// Serialising into a `Vec<u8>` cannot fail for `serde_json::Value` or for plain data
/// structs; should a custom `Serialize` implementation fail anyway, whatever it had
/// written is removed and `null` is written in its place, so `out` always holds valid
/// JSON.
pub(crate) fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    let mut serializer = Serializer::with_formatter(&mut *out, JsFormatter);
    if value.serialize(&mut serializer).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// Serde's compact formatter, with JavaScript's way of printing floats.
#[derive(Debug, Clone, Copy, Default)]
struct JsFormatter;

impl Formatter for JsFormatter {
    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        if !value.is_finite() {
            // `JSON.stringify(NaN)` is `null`; serde_json never calls us with one, but be safe.
            return CompactFormatter.write_null(writer);
        }
        writer.write_all(js_number(value).as_bytes())
    }
}

/// Formats a finite float as ECMAScript's `Number::toString(10)` does.
///
/// Rust's `{:e}` gives the shortest digits that round-trip (the same digits JavaScript
/// chooses); the layout rules below are the spec's (ECMA-262, Number::toString): plain
/// digits for exponents in `[-7, 21)`, scientific notation with an explicit sign
/// otherwise, and `-0` printed as `0`.
fn js_number(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let sci = format!("{:e}", value.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    // `n` is the position of the decimal point relative to the start of `digits`.
    let k = digits.len() as i64;
    let n = exponent + 1;
    let mut out = String::with_capacity(digits.len() + 8);
    if value < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        out.push_str(&(n - 1).abs().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn to_js(value: &serde_json::Value) -> String {
        let mut out = Vec::new();
        write_json(&mut out, value);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn floats_are_printed_like_javascript() {
        // Expected strings are what node's `String(x)` prints.
        let cases = [
            (1.0, "1"),
            (-1.0, "-1"),
            (-0.0, "0"),
            (0.5, "0.5"),
            (1.5, "1.5"),
            (123.456, "123.456"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (-2.5e-10, "-2.5e-10"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (value, expected) in cases {
            assert_eq!(js_number(value), expected, "formatting {value:e}");
        }
    }

    #[test]
    fn values_serialise_like_json_stringify() {
        assert_eq!(
            to_js(&json!(["a", 1, 2.0, 2.5, null, true])),
            r#"["a",1,2,2.5,null,true]"#
        );
        assert_eq!(
            to_js(&json!({"k": "x\"\\\n\u{1f}/é"})),
            r#"{"k":"x\"\\\n\u001f/é"}"#
        );
    }

    #[test]
    fn write_json_appends_to_the_buffer() {
        let mut out = b"42".to_vec();
        write_json(&mut out, &json!(["hi"]));
        assert_eq!(out, br#"42["hi"]"#);
    }
}
