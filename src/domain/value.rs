//! What a valid value of each column type is: the one place uploads are checked against.
//! A value arrives as text (a CSV cell, a map key) or as JSON (a JSON Lines member, a
//! nested value in a CSV cell); each check answers `Ok` or the `Rule` it breaks. A `Rule`
//! names the type and the rule, never the value, so it may be shown to anyone.
use std::fmt;

use serde_json::Value;

use super::column_type::ColumnType;

/// A column type as a rule names it: primitives with their parameters, containers by kind
/// only (a struct's full type may be long, and it is in the table's schema anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    Boolean,
    String,
    Date,
    Timestamp,
    Binary,
    Decimal(u8, u8),
    Char(u16),
    Varchar(u32),
    Array,
    Map,
    Struct,
}

impl Kind {
    pub fn of(ty: &ColumnType) -> Kind {
        match ty {
            ColumnType::TinyInt => Kind::TinyInt,
            ColumnType::SmallInt => Kind::SmallInt,
            ColumnType::Int => Kind::Int,
            ColumnType::BigInt => Kind::BigInt,
            ColumnType::Float => Kind::Float,
            ColumnType::Double => Kind::Double,
            ColumnType::Boolean => Kind::Boolean,
            ColumnType::String => Kind::String,
            ColumnType::Date => Kind::Date,
            ColumnType::Timestamp => Kind::Timestamp,
            ColumnType::Binary => Kind::Binary,
            ColumnType::Decimal { precision, scale } => Kind::Decimal(*precision, *scale),
            ColumnType::Char(n) => Kind::Char(*n),
            ColumnType::Varchar(n) => Kind::Varchar(*n),
            ColumnType::Array(_) => Kind::Array,
            ColumnType::Map(..) => Kind::Map,
            ColumnType::Struct(_) => Kind::Struct,
        }
    }

    fn article(self) -> &'static str {
        match self {
            Kind::Int | Kind::Array => "an",
            _ => "a",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::TinyInt => f.write_str("tinyint"),
            Kind::SmallInt => f.write_str("smallint"),
            Kind::Int => f.write_str("int"),
            Kind::BigInt => f.write_str("bigint"),
            Kind::Float => f.write_str("float"),
            Kind::Double => f.write_str("double"),
            Kind::Boolean => f.write_str("boolean"),
            Kind::String => f.write_str("string"),
            Kind::Date => f.write_str("date"),
            Kind::Timestamp => f.write_str("timestamp"),
            Kind::Binary => f.write_str("binary"),
            Kind::Decimal(p, s) => write!(f, "decimal({p},{s})"),
            Kind::Char(n) => write!(f, "char({n})"),
            Kind::Varchar(n) => write!(f, "varchar({n})"),
            Kind::Array => f.write_str("array"),
            Kind::Map => f.write_str("map"),
            Kind::Struct => f.write_str("struct"),
        }
    }
}

/// A rule a value (or a row) broke. `Display` is the wording shown in samples, e.g.
/// `not an int`; `label` a short, fixed name for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Not written as the type at all (`abc` for an int, `2026-13-45` for a date).
    NotA(Kind),
    /// An integer or float beyond the type's range.
    OutOfRange(Kind),
    /// More characters than `char(n)` / `varchar(n)` allow.
    TooLong(Kind),
    /// More integer digits than `decimal(p,s)` has (p - s).
    TooManyIntegerDigits(Kind),
    /// More fraction digits than `decimal(p,s)` has (s).
    TooManyFractionDigits(Kind),
    /// An empty cell / JSON null / missing member in a `nullable: false` column.
    Null,
    /// Text that is not UTF-8.
    NotUtf8,
    /// A struct value with a field the type does not have.
    UnknownStructField,
    /// A CSV row with another number of fields than the header.
    FieldCount,
    /// A JSON Lines line that is not JSON.
    NotJson,
    /// A JSON Lines record that is not an object.
    NotAnObject,
    /// A JSON Lines member that is not a column of the table.
    UnknownColumn,
    /// A line longer than the reader takes.
    LineTooLong,
}

impl Rule {
    /// Every `label`, for metrics with a bounded label set.
    pub const LABELS: [&'static str; 13] = [
        "not_a_type",
        "out_of_range",
        "too_long",
        "too_many_integer_digits",
        "too_many_fraction_digits",
        "null",
        "not_utf8",
        "unknown_struct_field",
        "field_count",
        "not_json",
        "not_an_object",
        "unknown_column",
        "line_too_long",
    ];

    /// The rule's fixed name (one of `LABELS`).
    pub fn label(self) -> &'static str {
        Self::LABELS[self.index()]
    }

    /// The rule's position in `LABELS`.
    pub fn index(self) -> usize {
        match self {
            Rule::NotA(_) => 0,
            Rule::OutOfRange(_) => 1,
            Rule::TooLong(_) => 2,
            Rule::TooManyIntegerDigits(_) => 3,
            Rule::TooManyFractionDigits(_) => 4,
            Rule::Null => 5,
            Rule::NotUtf8 => 6,
            Rule::UnknownStructField => 7,
            Rule::FieldCount => 8,
            Rule::NotJson => 9,
            Rule::NotAnObject => 10,
            Rule::UnknownColumn => 11,
            Rule::LineTooLong => 12,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::NotA(kind) => write!(f, "not {} {kind}", kind.article()),
            Rule::OutOfRange(kind) => write!(f, "out of range for {kind}"),
            Rule::TooLong(kind) => write!(f, "longer than {kind}"),
            Rule::TooManyIntegerDigits(kind) => write!(f, "more integer digits than {kind} holds"),
            Rule::TooManyFractionDigits(kind) => write!(f, "more fraction digits than {kind} holds"),
            Rule::Null => f.write_str("null in a not-nullable column"),
            Rule::NotUtf8 => f.write_str("not UTF-8 text"),
            Rule::UnknownStructField => f.write_str("a struct field the type does not have"),
            Rule::FieldCount => f.write_str("another number of fields than the header row"),
            Rule::NotJson => f.write_str("not valid JSON"),
            Rule::NotAnObject => f.write_str("not a JSON object"),
            Rule::UnknownColumn => f.write_str("a member that is not a column of the table"),
            Rule::LineTooLong => f.write_str("a line longer than the reader takes"),
        }
    }
}

/// The range of an integer type.
pub fn integer_range(kind: Kind) -> Option<(i64, i64)> {
    match kind {
        Kind::TinyInt => Some((i8::MIN.into(), i8::MAX.into())),
        Kind::SmallInt => Some((i16::MIN.into(), i16::MAX.into())),
        Kind::Int => Some((i32::MIN.into(), i32::MAX.into())),
        Kind::BigInt => Some((i64::MIN, i64::MAX)),
        _ => None,
    }
}

/// Checks a value written as text (a CSV cell that is not empty, a map key). Containers
/// are JSON text.
pub fn check_text(ty: &ColumnType, text: &str) -> Result<(), Rule> {
    let kind = Kind::of(ty);
    match ty {
        ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::Int | ColumnType::BigInt => integer(kind, text),
        ColumnType::Float | ColumnType::Double => float(kind, text),
        ColumnType::Boolean => boolean(text).map(drop).ok_or(Rule::NotA(kind)),
        ColumnType::String => Ok(()),
        ColumnType::Date => date(text).then_some(()).ok_or(Rule::NotA(kind)),
        ColumnType::Timestamp => timestamp(text).then_some(()).ok_or(Rule::NotA(kind)),
        ColumnType::Binary => base64(text).then_some(()).ok_or(Rule::NotA(kind)),
        ColumnType::Decimal { precision, scale } => decimal(*precision, *scale, text),
        ColumnType::Char(n) => length(kind, text, u32::from(*n)),
        ColumnType::Varchar(n) => length(kind, text, *n),
        ColumnType::Array(_) | ColumnType::Map(..) | ColumnType::Struct(_) => {
            let value: Value = serde_json::from_str(text).map_err(|_| Rule::NotA(kind))?;
            check_json(ty, &value)
        }
    }
}

/// Checks a JSON value that is not null. Integers must be JSON integers; floats any number
/// (or `"NaN"`, `"Infinity"`, `"-Infinity"`); decimals a number or a string; dates,
/// timestamps, strings and base64 binaries strings; containers arrays and objects, whose
/// elements, values and fields may be null.
pub fn check_json(ty: &ColumnType, value: &Value) -> Result<(), Rule> {
    let kind = Kind::of(ty);
    let not = Rule::NotA(kind);
    match (ty, value) {
        (ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::Int | ColumnType::BigInt, Value::Number(n)) => {
            let (lo, hi) = integer_range(kind).unwrap_or((i64::MIN, i64::MAX));
            match n.as_i64() {
                Some(v) if v >= lo && v <= hi => Ok(()),
                Some(_) => Err(Rule::OutOfRange(kind)),
                None if n.is_u64() => Err(Rule::OutOfRange(kind)),
                None => Err(not),
            }
        }
        (ColumnType::Float | ColumnType::Double, Value::Number(n)) => match n.as_f64() {
            // Rounding to the nearest float may still reach `f32::MAX`; beyond it is out of range.
            Some(v) if kind == Kind::Float && !(v as f32).is_finite() => Err(Rule::OutOfRange(kind)),
            Some(_) => Ok(()),
            None => Err(not),
        },
        (ColumnType::Float | ColumnType::Double, Value::String(s)) => {
            matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity").then_some(()).ok_or(not)
        }
        (ColumnType::Boolean, Value::Bool(_)) => Ok(()),
        (ColumnType::Decimal { precision, scale }, Value::Number(n)) => decimal(*precision, *scale, &n.to_string()),
        (
            ColumnType::String
            | ColumnType::Date
            | ColumnType::Timestamp
            | ColumnType::Binary
            | ColumnType::Decimal { .. }
            | ColumnType::Char(_)
            | ColumnType::Varchar(_),
            Value::String(s),
        ) => check_text(ty, s),
        (ColumnType::Array(element), Value::Array(items)) => {
            items.iter().filter(|v| !v.is_null()).try_for_each(|v| check_json(element, v))
        }
        (ColumnType::Map(key, val), Value::Object(entries)) => entries.iter().try_for_each(|(k, v)| {
            check_text(key, k)?;
            if v.is_null() { Ok(()) } else { check_json(val, v) }
        }),
        (ColumnType::Struct(fields), Value::Object(members)) => members.iter().try_for_each(|(name, v)| {
            let field = fields.iter().find(|f| f.name == *name).ok_or(Rule::UnknownStructField)?;
            if v.is_null() { Ok(()) } else { check_json(&field.ty, v) }
        }),
        _ => Err(not),
    }
}

/// Checks a JSON Lines member from its raw JSON text: primitives are checked on the text as
/// written (so a decimal keeps every digit); containers are parsed. `null` is `Ok(None)`.
pub fn check_raw_json(ty: &ColumnType, raw: &str) -> Result<bool, Rule> {
    let raw = raw.trim();
    let kind = Kind::of(ty);
    match raw.as_bytes().first() {
        Some(b'n') if raw == "null" => return Ok(false),
        Some(b'"') if ty.is_primitive() => {
            let s: std::borrow::Cow<'_, str> = serde_json::from_str(raw).map_err(|_| Rule::NotJson)?;
            return check_json(ty, &Value::String(s.into_owned())).map(|_| true);
        }
        Some(b'-' | b'0'..=b'9') => match ty {
            ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::Int | ColumnType::BigInt => {
                return integer(kind, raw).map(|_| true);
            }
            ColumnType::Decimal { precision, scale } => return decimal(*precision, *scale, raw).map(|_| true),
            ColumnType::Float | ColumnType::Double => return float(kind, raw).map(|_| true),
            _ => return Err(Rule::NotA(kind)),
        },
        _ => {}
    }
    let value: Value = serde_json::from_str(raw).map_err(|_| Rule::NotJson)?;
    check_json(ty, &value).map(|_| true)
}

fn integer(kind: Kind, text: &str) -> Result<(), Rule> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rule::NotA(kind));
    }
    let (lo, hi) = integer_range(kind).unwrap_or((i64::MIN, i64::MAX));
    match text.parse::<i64>() {
        Ok(v) if v >= lo && v <= hi => Ok(()),
        _ => Err(Rule::OutOfRange(kind)),
    }
}

fn float(kind: Kind, text: &str) -> Result<(), Rule> {
    if matches!(text, "NaN" | "Infinity" | "-Infinity" | "+Infinity") {
        return Ok(());
    }
    // Plain decimal notation with an optional exponent; Rust's parser alone would also take `inf`.
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits_ok(e)
    });
    if (whole.is_empty() && fraction.is_empty()) || !digits_ok(whole) || !digits_ok(fraction) || !exponent_ok {
        return Err(Rule::NotA(kind));
    }
    if mantissa.ends_with('.') && whole.is_empty() {
        return Err(Rule::NotA(kind));
    }
    // Rust rounds to the nearest representable value, and to infinity only beyond the range.
    let finite = if kind == Kind::Float {
        text.parse::<f32>().map(f32::is_finite)
    } else {
        text.parse::<f64>().map(f64::is_finite)
    };
    match finite {
        Ok(true) => Ok(()),
        Ok(false) => Err(Rule::OutOfRange(kind)),
        Err(_) => Err(Rule::NotA(kind)),
    }
}

/// `true` / `false` in any casing.
pub fn boolean(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn decimal(precision: u8, scale: u8, text: &str) -> Result<(), Rule> {
    let kind = Kind::Decimal(precision, scale);
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = match body.split_once('.') {
        Some((w, f)) if !f.is_empty() => (w, f),
        Some(_) => return Err(Rule::NotA(kind)),
        None => (body, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rule::NotA(kind));
    }
    let significant = whole.trim_start_matches('0').len();
    if significant > usize::from(precision - scale) {
        return Err(Rule::TooManyIntegerDigits(kind));
    }
    if fraction.trim_end_matches('0').len() > usize::from(scale) {
        return Err(Rule::TooManyFractionDigits(kind));
    }
    Ok(())
}

fn length(kind: Kind, text: &str, max: u32) -> Result<(), Rule> {
    // Bytes bound characters from above: most values need no count.
    if text.len() <= max as usize || text.chars().count() <= max as usize { Ok(()) } else { Err(Rule::TooLong(kind)) }
}

fn two(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(c - b'0')),
        _ => None,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        _ => 31,
    }
}

/// `YYYY-MM-DD`, a real calendar day.
pub fn date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(hi), Some(lo), Some(month), Some(day)) = (two(&b[0..2]), two(&b[2..4]), two(&b[5..7]), two(&b[8..10]))
    else {
        return false;
    };
    let year = hi * 100 + lo;
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

/// RFC 3339 (`2026-11-23T17:00:00Z`, `...T17:00:00.5+01:00`) or `YYYY-MM-DD HH:MM:SS[.f]`.
pub fn timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 19 || !date(&text[..10]) {
        return false;
    }
    let separator = b[10];
    if !matches!(separator, b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return false;
    }
    let (Some(hour), Some(minute), Some(second)) = (two(&b[11..13]), two(&b[14..16]), two(&b[17..19])) else {
        return false;
    };
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return false;
        }
        rest = &fraction[digits..];
    }
    let zoned = match rest {
        [] => false,
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            match (two(&[*h1, *h2]), two(&[*m1, *m2])) {
                (Some(h), Some(m)) if h <= 23 && m <= 59 => {}
                _ => return false,
            }
            true
        }
        _ => return false,
    };
    // Without a zone only Hive's `YYYY-MM-DD HH:MM:SS[.f]`; RFC 3339 allows a leap second.
    if !zoned && separator != b' ' {
        return false;
    }
    hour <= 23 && minute <= 59 && (second <= 59 || (zoned && second == 60))
}

/// Standard base64 (padding optional, no whitespace).
pub fn base64(text: &str) -> bool {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    text.len() % 4 != 1 && LENIENT.decode(text).is_ok()
}

/// A CSV cell (not empty) as the JSON value of its type, for previews: numbers and booleans
/// as JSON, decimals and other text as strings, containers parsed; a cell that breaks its
/// type is shown as the text it is.
pub fn text_to_json(ty: &ColumnType, text: &str) -> Value {
    let parsed = match ty {
        ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::Int | ColumnType::BigInt => {
            text.parse::<i64>().ok().map(Value::from)
        }
        ColumnType::Float | ColumnType::Double => {
            text.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)
        }
        ColumnType::Boolean => boolean(text).map(Value::Bool),
        ColumnType::Array(_) | ColumnType::Map(..) | ColumnType::Struct(_) => serde_json::from_str(text).ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ty(s: &str) -> ColumnType {
        ColumnType::parse(s).expect("a type")
    }

    fn rule(t: &str, text: &str) -> Option<String> {
        check_text(&ty(t), text).err().map(|r| r.to_string())
    }

    #[test]
    fn rules_are_worded_by_type_and_never_by_value() {
        assert_eq!(rule("bigint", "abc").as_deref(), Some("not a bigint"));
        assert_eq!(rule("int", "1.5").as_deref(), Some("not an int"));
        assert_eq!(rule("tinyint", "128").as_deref(), Some("out of range for tinyint"));
        assert_eq!(rule("date", "2026-13-45").as_deref(), Some("not a date"));
        assert_eq!(rule("varchar(20)", &"x".repeat(300)).as_deref(), Some("longer than varchar(20)"));
        assert_eq!(rule("decimal(5,2)", "1234.5").as_deref(), Some("more integer digits than decimal(5,2) holds"));
        assert_eq!(rule("decimal(5,2)", "1.234").as_deref(), Some("more fraction digits than decimal(5,2) holds"));
        assert_eq!(rule("array<int>", "[1,\"x\"]").as_deref(), Some("not an int"));
        assert_eq!(rule("array<int>", "nope").as_deref(), Some("not an array"));
        assert_eq!(Rule::Null.to_string(), "null in a not-nullable column");
    }

    #[test]
    fn each_type_takes_its_own_spellings() {
        let good = [
            ("int", "-2147483648"),
            ("bigint", "+9223372036854775807"),
            ("double", "1e300"),
            ("double", "-0.5"),
            ("float", "NaN"),
            ("boolean", "TRUE"),
            ("decimal(10,2)", "-12345678.90"),
            ("decimal(10,2)", "0001.5"),
            ("decimal(3,3)", "0.123"),
            ("date", "2024-02-29"),
            ("timestamp", "2026-11-23T17:00:00Z"),
            ("timestamp", "2026-11-23t17:00:00.123456789+01:00"),
            ("timestamp", "2026-11-23 17:00:00"),
            ("timestamp", "2026-11-23 17:00:00.5"),
            ("timestamp", "2016-12-31T23:59:60Z"),
            ("binary", "aGVsbG8="),
            ("binary", "aGVsbG8"),
            ("char(3)", "été"),
            ("map<int,string>", "{\"1\":\"a\",\"2\":null}"),
            ("struct<a:int,b:array<date>>", "{\"a\":1,\"b\":[\"2026-01-01\",null]}"),
        ];
        for (t, v) in good {
            assert_eq!(check_text(&ty(t), v), Ok(()), "{t} {v}");
        }
        let bad = [
            ("int", " 1"),
            ("int", ""),
            ("int", "-"),
            ("float", "3.5e38"),
            ("float", "inf"),
            ("double", "1e400"),
            ("double", "."),
            ("boolean", "yes"),
            ("decimal(10,2)", "1e5"),
            ("decimal(10,2)", "1."),
            ("date", "2023-02-29"),
            ("date", "2026-1-01"),
            ("timestamp", "2026-11-23T17:00:00"),
            ("timestamp", "2026-11-23 24:00:00"),
            ("timestamp", "2026-11-23 23:59:60"),
            ("timestamp", "2026-11-23T17:00:00+24:00"),
            ("binary", "not base64!"),
            ("char(2)", "été"),
            ("map<int,string>", "{\"x\":\"a\"}"),
            ("struct<a:int>", "{\"z\":1}"),
        ];
        for (t, v) in bad {
            assert!(check_text(&ty(t), v).is_err(), "{t} {v:?} passed");
        }
    }

    #[test]
    fn raw_json_members_keep_every_digit_of_a_decimal() {
        let d = ty("decimal(38,2)");
        assert_eq!(check_raw_json(&d, "123456789012345678901234567890123456.78"), Ok(true));
        assert!(check_raw_json(&d, "1.234").is_err());
        assert_eq!(check_raw_json(&ty("int"), "null"), Ok(false));
        assert_eq!(check_raw_json(&ty("int"), "\"1\""), Err(Rule::NotA(Kind::Int)));
        assert_eq!(check_raw_json(&ty("string"), "\"a\\u00e9\""), Ok(true));
        assert_eq!(check_raw_json(&ty("string"), "1"), Err(Rule::NotA(Kind::String)));
        assert_eq!(check_raw_json(&ty("array<int>"), "[1, null, 3]"), Ok(true));
    }

    /// A primitive type and a value text just outside its valid domain.
    fn outside() -> impl Strategy<Value = (ColumnType, String)> {
        prop_oneof![
            (1i64..1000).prop_map(|d| (ColumnType::TinyInt, (i64::from(i8::MAX) + d).to_string())),
            (1i64..1000).prop_map(|d| (ColumnType::SmallInt, (i64::from(i16::MIN) - d).to_string())),
            (1i64..1000).prop_map(|d| (ColumnType::Int, (i64::from(i32::MAX) + d).to_string())),
            (1u64..1000).prop_map(|d| (ColumnType::BigInt, (i64::MAX as u64 + d).to_string())),
            (1u16..=255).prop_map(|n| (ColumnType::Char(n), "x".repeat(usize::from(n) + 1))),
            (1u32..=300).prop_map(|n| (ColumnType::Varchar(n), "é".repeat(n as usize + 1))),
            (1u8..=38).prop_flat_map(|p| (Just(p), 0..=p)).prop_map(|(p, s)| {
                let whole = "9".repeat(usize::from(p - s) + 1);
                (ColumnType::Decimal { precision: p, scale: s }, whole)
            }),
            (1u8..=38).prop_flat_map(|p| (Just(p), 0..=p)).prop_map(|(p, s)| {
                (ColumnType::Decimal { precision: p, scale: s }, format!("0.{}", "1".repeat(usize::from(s) + 1)))
            }),
            (1u32..=12, 1u32..=28).prop_map(|(m, d)| (ColumnType::Date, format!("2026-{m:02}-{:02}", d + 31))),
            (13u32..=99).prop_map(|m| (ColumnType::Date, format!("2026-{m:02}-01"))),
            (24u32..=99).prop_map(|h| (ColumnType::Timestamp, format!("2026-01-01 {h:02}:00:00"))),
            (60u32..=99).prop_map(|m| (ColumnType::Timestamp, format!("2026-01-01T00:{m:02}:00Z"))),
            "[a-z]{1,8}".prop_filter("not a boolean", |s| boolean(s).is_none()).prop_map(|s| (ColumnType::Boolean, s)),
            (1.0f64..1e6)
                .prop_map(|f| (ColumnType::Float, format!("{:e}", f64::from(f32::MAX) * (1.0 + f / 1e6) + 1e32))),
        ]
    }

    /// A primitive type and a value text rendered from its valid domain.
    fn inside() -> impl Strategy<Value = (ColumnType, String)> {
        prop_oneof![
            any::<i8>().prop_map(|v| (ColumnType::TinyInt, v.to_string())),
            any::<i16>().prop_map(|v| (ColumnType::SmallInt, v.to_string())),
            any::<i32>().prop_map(|v| (ColumnType::Int, v.to_string())),
            any::<i64>().prop_map(|v| (ColumnType::BigInt, v.to_string())),
            any::<f32>().prop_filter("finite", |f| f.is_finite()).prop_map(|v| (ColumnType::Float, v.to_string())),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|v| (ColumnType::Double, format!("{v:e}"))),
            any::<bool>().prop_map(|v| (ColumnType::Boolean, v.to_string())),
            ".*".prop_map(|s| (ColumnType::String, s)),
            (1u16..=255)
                .prop_flat_map(|n| (Just(n), prop::collection::vec(any::<char>(), 0..=usize::from(n))))
                .prop_map(|(n, cs)| (ColumnType::Char(n), cs.into_iter().collect())),
            (1u32..=300)
                .prop_flat_map(|n| (Just(n), prop::collection::vec(any::<char>(), 0..=n as usize)))
                .prop_map(|(n, cs)| (ColumnType::Varchar(n), cs.into_iter().collect())),
            (1u8..=38)
                .prop_flat_map(|p| (Just(p), 0..=p))
                .prop_flat_map(|(p, s)| (
                    Just(p),
                    Just(s),
                    prop::collection::vec(0u8..10, usize::from(p - s)),
                    prop::collection::vec(0u8..10, usize::from(s)),
                    any::<bool>()
                ))
                .prop_map(|(p, s, whole, fraction, negative)| {
                    let digits = |d: Vec<u8>| d.into_iter().map(|d| char::from(b'0' + d)).collect::<String>();
                    let whole = if whole.is_empty() { "0".to_owned() } else { digits(whole) };
                    let mut text = if negative { format!("-{whole}") } else { whole };
                    if s > 0 {
                        text = format!("{text}.{}", digits(fraction));
                    }
                    (ColumnType::Decimal { precision: p, scale: s }, text)
                }),
            (0u32..=9999, 1u32..=12, 1u32..=31)
                .prop_map(|(y, m, d)| (ColumnType::Date, format!("{y:04}-{m:02}-{:02}", d.min(days_in_month(y, m))))),
            (
                0u32..=9999,
                1u32..=12,
                1u32..=28,
                0u32..24,
                0u32..60,
                0u32..60,
                prop::option::of(0u32..1_000_000),
                any::<bool>()
            )
                .prop_map(|(y, mo, d, h, mi, s, frac, zoned)| {
                    let frac = frac.map(|f| format!(".{f:06}")).unwrap_or_default();
                    let text = if zoned {
                        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
                    } else {
                        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{frac}")
                    };
                    (ColumnType::Timestamp, text)
                }),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| {
                use base64::Engine;
                (ColumnType::Binary, base64::engine::general_purpose::STANDARD.encode(bytes))
            }),
        ]
    }

    proptest! {
        #[test]
        fn values_rendered_from_a_types_domain_always_pass((ty, text) in inside()) {
            prop_assert_eq!(check_text(&ty, &text), Ok(()), "{} {:?}", ty, text);
            let in_array = ColumnType::Array(Box::new(ty.clone()));
            let json = serde_json::to_string(&vec![text.clone()]).expect("json");
            if matches!(ty, ColumnType::String | ColumnType::Date | ColumnType::Timestamp | ColumnType::Binary
                | ColumnType::Char(_) | ColumnType::Varchar(_) | ColumnType::Decimal { .. }) {
                prop_assert_eq!(check_text(&in_array, &json), Ok(()));
            }
        }

        #[test]
        fn values_just_outside_a_types_domain_always_fail((ty, text) in outside()) {
            prop_assert!(check_text(&ty, &text).is_err(), "{} {:?} passed", ty, text);
        }
    }
}
