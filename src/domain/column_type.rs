//! Hive/Athena/Glue column types.
//!
//! `ColumnType::parse` is a recursive-descent parser: any casing, whitespace
//! between tokens, every bound of SPEC section 1 enforced, errors located by
//! character offset. `Display` renders the one canonical form, and parsing it
//! gives back the same type. `is_widening` decides which type changes are minor.
//! SPEC 8.1's size limits (fields per struct, type nodes per column) are enforced while
//! parsing, so no later step ever sees a type large enough to make it slow.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use super::names::ColumnName;

/// A column type; nested types never exceed `MAX_DEPTH` container levels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
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
    Decimal { precision: u8, scale: u8 },
    Char(u16),
    Varchar(u32),
    Array(Box<ColumnType>),
    Map(Box<ColumnType>, Box<ColumnType>),
    Struct(Vec<StructField>),
}

/// One field of a struct type; `name` follows the column-name rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StructField {
    pub name: String,
    pub ty: ColumnType,
}

/// The deepest nesting of containers (array, map, struct) a type may have.
pub const MAX_DEPTH: usize = 10;
/// The most fields one struct may have (SPEC 8.1).
pub const MAX_STRUCT_FIELDS: usize = 1000;
/// The most type nodes (every type keyword, nested ones included) one column may have (SPEC 8.1).
pub const MAX_TYPE_NODES: usize = 10_000;

impl ColumnType {
    /// Parses a type written in any casing, with whitespace between tokens.
    pub fn parse(input: &str) -> Result<ColumnType, TypeParseError> {
        let mut parser = Parser { chars: input.chars().collect(), pos: 0, nodes: 0 };
        let ty = parser.parse_type(0)?;
        parser.expect_end()?;
        Ok(ty)
    }

    /// True for every type but `array`, `map` and `struct`.
    pub fn is_primitive(&self) -> bool {
        !matches!(self, Self::Array(_) | Self::Map(..) | Self::Struct(_))
    }

    /// Container levels: `int` is 0, `array<int>` is 1, `array<map<string,int>>` is 2.
    pub fn depth(&self) -> usize {
        match self {
            Self::Array(element) => 1 + element.depth(),
            Self::Map(key, value) => 1 + key.depth().max(value.depth()),
            Self::Struct(fields) => 1 + fields.iter().map(|f| f.ty.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TinyInt => f.write_str("tinyint"),
            Self::SmallInt => f.write_str("smallint"),
            Self::Int => f.write_str("int"),
            Self::BigInt => f.write_str("bigint"),
            Self::Float => f.write_str("float"),
            Self::Double => f.write_str("double"),
            Self::Boolean => f.write_str("boolean"),
            Self::String => f.write_str("string"),
            Self::Date => f.write_str("date"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::Binary => f.write_str("binary"),
            Self::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Self::Char(length) => write!(f, "char({length})"),
            Self::Varchar(length) => write!(f, "varchar({length})"),
            Self::Array(element) => write!(f, "array<{element}>"),
            Self::Map(key, value) => write!(f, "map<{key},{value}>"),
            Self::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{}", field.name, field.ty)?;
                }
                f.write_str(">")
            }
        }
    }
}

impl FromStr for ColumnType {
    type Err = TypeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Where (0-based character offset) and why a type failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeParseError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for TypeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for TypeParseError {}

const TYPE_NAMES: &str = "tinyint, smallint, int, bigint, float, double, boolean, string, date, \
                          timestamp, binary, decimal, char, varchar, array, map or struct";

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Type nodes parsed so far.
    nodes: usize,
}

impl Parser {
    fn parse_type(&mut self, enclosing_containers: usize) -> Result<ColumnType, TypeParseError> {
        let (start, word) = self.word();
        if word.is_empty() {
            return Err(self.fail(format!("expected a type, found {}", self.found())));
        }
        self.nodes += 1;
        if self.nodes > MAX_TYPE_NODES {
            return Err(TypeParseError {
                position: start,
                message: format!("a column type may have at most {MAX_TYPE_NODES} type nodes"),
            });
        }
        let keyword = word.to_ascii_lowercase();
        let is_container = matches!(keyword.as_str(), "array" | "map" | "struct");
        if is_container && enclosing_containers >= MAX_DEPTH {
            return Err(TypeParseError {
                position: start,
                message: format!("types may nest at most {MAX_DEPTH} levels deep"),
            });
        }
        let inner = enclosing_containers + 1;
        Ok(match keyword.as_str() {
            "tinyint" => ColumnType::TinyInt,
            "smallint" => ColumnType::SmallInt,
            "int" | "integer" => ColumnType::Int,
            "bigint" => ColumnType::BigInt,
            "float" => ColumnType::Float,
            "double" => ColumnType::Double,
            "boolean" => ColumnType::Boolean,
            "string" => ColumnType::String,
            "date" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            "binary" => ColumnType::Binary,
            "decimal" => self.decimal()?,
            // The bounds checked by `length` make both casts lossless.
            "char" => ColumnType::Char(self.length("char", 255)? as u16),
            "varchar" => ColumnType::Varchar(self.length("varchar", 65_535)?),
            "array" => {
                self.expect('<', "after array")?;
                let element = self.parse_type(inner)?;
                self.expect('>', "after array element type")?;
                ColumnType::Array(Box::new(element))
            }
            "map" => {
                self.expect('<', "after map")?;
                self.skip_whitespace();
                let key_start = self.pos;
                let key = self.parse_type(inner)?;
                if !key.is_primitive() {
                    return Err(TypeParseError {
                        position: key_start,
                        message: format!("map key must be a primitive type, found {key}"),
                    });
                }
                self.expect(',', "after map key type")?;
                let value = self.parse_type(inner)?;
                self.expect('>', "after map value type")?;
                ColumnType::Map(Box::new(key), Box::new(value))
            }
            "struct" => self.struct_fields(inner)?,
            _ => {
                return Err(TypeParseError {
                    position: start,
                    message: format!("unknown type `{word}`, expected {TYPE_NAMES}"),
                });
            }
        })
    }

    /// After `decimal`: nothing (10,0), `(p)` or `(p,s)`.
    fn decimal(&mut self) -> Result<ColumnType, TypeParseError> {
        if self.peek() != Some('(') {
            return Ok(ColumnType::Decimal { precision: 10, scale: 0 });
        }
        self.pos += 1;
        let precision = self.number("decimal precision", 1..=38)?;
        let scale = match self.peek() {
            Some(',') => {
                self.pos += 1;
                let scale = self.number("decimal scale", 0..=precision)?;
                self.expect(')', "after decimal scale")?;
                scale
            }
            Some(')') => {
                self.pos += 1;
                0
            }
            _ => {
                let found = self.found();
                return Err(self.fail(format!("expected ',' or ')' after decimal precision, found {found}")));
            }
        };
        // Both are at most 38, checked by `number`.
        Ok(ColumnType::Decimal { precision: precision as u8, scale: scale as u8 })
    }

    /// After `char` or `varchar`: `(n)` with 1 <= n <= max.
    fn length(&mut self, kind: &str, max: u32) -> Result<u32, TypeParseError> {
        self.expect('(', &format!("after {kind} (it needs a length, e.g. {kind}(10))"))?;
        let length = self.number(&format!("{kind} length"), 1..=max)?;
        self.expect(')', &format!("after {kind} length"))?;
        Ok(length)
    }

    /// After `struct`: `<name:type, ...>` with at least one field, names unique.
    fn struct_fields(&mut self, field_level: usize) -> Result<ColumnType, TypeParseError> {
        self.expect('<', "after struct")?;
        let mut fields = Vec::new();
        let mut seen = HashSet::new();
        loop {
            let (start, word) = self.word();
            if word.is_empty() {
                let found = self.found();
                return Err(self.fail(format!("expected a struct field name, found {found}")));
            }
            if fields.len() == MAX_STRUCT_FIELDS {
                return Err(TypeParseError {
                    position: start,
                    message: format!("a struct may have at most {MAX_STRUCT_FIELDS} fields"),
                });
            }
            let name = ColumnName::parse(&word.to_ascii_lowercase())
                .map_err(|error| TypeParseError {
                    position: start,
                    message: format!("invalid struct field name: {error}"),
                })?
                .to_string();
            if !seen.insert(name.clone()) {
                return Err(TypeParseError {
                    position: start,
                    message: format!("duplicate struct field name `{name}`"),
                });
            }
            self.expect(':', &format!("after struct field name `{name}`"))?;
            let ty = self.parse_type(field_level)?;
            fields.push(StructField { name, ty });
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('>') => {
                    self.pos += 1;
                    return Ok(ColumnType::Struct(fields));
                }
                _ => {
                    let found = self.found();
                    return Err(self.fail(format!("expected ',' or '>' after struct field type, found {found}")));
                }
            }
        }
    }

    /// Digits within `range`; a huge number is reported, never overflowed.
    fn number(&mut self, what: &str, range: RangeInclusive<u32>) -> Result<u32, TypeParseError> {
        self.skip_whitespace();
        let start = self.pos;
        while self.chars.get(self.pos).is_some_and(char::is_ascii_digit) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.fail(format!("expected {what}, a number, found {}", self.found())));
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        digits.parse::<u32>().ok().filter(|n| range.contains(n)).ok_or_else(|| TypeParseError {
            position: start,
            message: format!("{what} must be between {} and {}, found {digits}", range.start(), range.end()),
        })
    }

    /// A run of ASCII letters, digits and `_` as written, with its start; empty if none.
    fn word(&mut self) -> (usize, String) {
        self.skip_whitespace();
        let start = self.pos;
        while self.chars.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
            self.pos += 1;
        }
        (start, self.chars[start..self.pos].iter().collect())
    }

    fn expect(&mut self, wanted: char, context: &str) -> Result<(), TypeParseError> {
        if self.peek() == Some(wanted) {
            self.pos += 1;
            Ok(())
        } else {
            let found = self.found();
            Err(self.fail(format!("expected '{wanted}' {context}, found {found}")))
        }
    }

    fn expect_end(&mut self) -> Result<(), TypeParseError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => {
                let found = self.found();
                Err(self.fail(format!("expected end of input after the type, found {found}")))
            }
        }
    }

    fn skip_whitespace(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_whitespace();
        self.chars.get(self.pos).copied()
    }

    fn found(&self) -> String {
        match self.chars.get(self.pos) {
            Some(c) => format!("'{c}'"),
            None => "end of input".to_owned(),
        }
    }

    fn fail(&self, message: String) -> TypeParseError {
        TypeParseError { position: self.pos, message }
    }
}

/// True when `new` differs from `old` and every value of `old` still fits:
/// tinyint < smallint < int < bigint, float < double, decimal precision up at
/// the same scale, char/varchar to a varchar at least as long or to string,
/// and the same inside arrays, map values and struct fields (struct fields
/// may also be added or reordered). A map key change never widens.
pub fn is_widening(old: &ColumnType, new: &ColumnType) -> bool {
    use ColumnType as T;
    if old == new {
        return false;
    }
    match (old, new) {
        (T::Float, T::Double) => true,
        (T::Decimal { precision, scale }, T::Decimal { precision: new_precision, scale: new_scale }) => {
            scale == new_scale && new_precision > precision
        }
        (T::Char(length), T::Varchar(new_length)) => *new_length >= u32::from(*length),
        (T::Varchar(length), T::Varchar(new_length)) => new_length > length,
        (T::Char(_) | T::Varchar(_), T::String) => true,
        (T::Array(element), T::Array(new_element)) => is_same_or_wider(element, new_element),
        (T::Map(key, value), T::Map(new_key, new_value)) => key == new_key && is_same_or_wider(value, new_value),
        (T::Struct(fields), T::Struct(new_fields)) => {
            // Indexed by name: a search per field would make wide structs quadratic.
            let by_name: HashMap<&str, &ColumnType> = new_fields.iter().map(|f| (f.name.as_str(), &f.ty)).collect();
            fields
                .iter()
                .all(|field| by_name.get(field.name.as_str()).is_some_and(|ty| is_same_or_wider(&field.ty, ty)))
        }
        _ => matches!(
            (integer_rank(old), integer_rank(new)),
            (Some(rank), Some(new_rank)) if new_rank > rank
        ),
    }
}

fn is_same_or_wider(old: &ColumnType, new: &ColumnType) -> bool {
    old == new || is_widening(old, new)
}

fn integer_rank(ty: &ColumnType) -> Option<u8> {
    match ty {
        ColumnType::TinyInt => Some(0),
        ColumnType::SmallInt => Some(1),
        ColumnType::Int => Some(2),
        ColumnType::BigInt => Some(3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(input: &str) -> ColumnType {
        ColumnType::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    fn nested_arrays(levels: usize) -> String {
        format!("{}int{}", "array<".repeat(levels), ">".repeat(levels))
    }

    #[test]
    fn types_parse_in_any_casing_and_spacing_to_their_canonical_form() {
        let cases = [
            ("tinyint", "tinyint"),
            ("SMALLINT", "smallint"),
            ("int", "int"),
            ("Integer", "int"),
            ("bigint", "bigint"),
            ("float", "float"),
            ("double", "double"),
            ("boolean", "boolean"),
            ("string", "string"),
            ("date", "date"),
            ("timestamp", "timestamp"),
            ("binary", "binary"),
            ("  int  ", "int"),
            ("decimal", "decimal(10,0)"),
            ("decimal(10,2)", "decimal(10,2)"),
            ("DECIMAL(10, 2)", "decimal(10,2)"),
            ("decimal ( 38 , 38 )", "decimal(38,38)"),
            ("decimal(1,0)", "decimal(1,0)"),
            ("decimal(7)", "decimal(7,0)"),
            ("char(1)", "char(1)"),
            ("CHAR(255)", "char(255)"),
            ("varchar(1)", "varchar(1)"),
            ("varchar(65535)", "varchar(65535)"),
            ("array<string>", "array<string>"),
            ("array < array<int> >", "array<array<int>>"),
            ("map<string,int>", "map<string,int>"),
            ("MAP<STRING, ARRAY<BIGINT>>", "map<string,array<bigint>>"),
            ("map<decimal(5,2),char(3)>", "map<decimal(5,2),char(3)>"),
            ("map<date, varchar(9)>", "map<date,varchar(9)>"),
            ("struct<a:int,b:array<string>>", "struct<a:int,b:array<string>>"),
            ("struct<a:int, b:array<string>>", "struct<a:int,b:array<string>>"),
            ("Struct<A:INT>", "struct<a:int>"),
            ("struct<_x : int , y1:struct<z:map<int,string>>>", "struct<_x:int,y1:struct<z:map<int,string>>>"),
            ("struct<int:int,map:string>", "struct<int:int,map:string>"),
        ];
        for (input, canonical) in cases {
            assert_eq!(parsed(input).to_string(), canonical, "input {input:?}");
            assert_eq!(parsed(canonical), parsed(input), "canonical form of {input:?}");
        }
    }

    #[test]
    fn bad_types_are_refused_with_the_position_and_what_was_expected() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected a type, found end of input"),
            ("   ", 3, "expected a type, found end of input"),
            ("int8", 0, "unknown type `int8`"),
            ("integer8", 0, "unknown type `integer8`"),
            ("strin", 0, "unknown type `strin`"),
            ("é", 0, "expected a type, found 'é'"),
            ("int>", 3, "expected end of input after the type, found '>'"),
            ("array<int>x", 10, "expected end of input after the type, found 'x'"),
            ("array<int>>", 10, "expected end of input after the type, found '>'"),
            ("array", 5, "expected '<' after array, found end of input"),
            ("array<>", 6, "expected a type, found '>'"),
            ("array<int", 9, "expected '>' after array element type, found end of input"),
            ("array<int,int>", 9, "expected '>' after array element type, found ','"),
            ("map<string>", 10, "expected ',' after map key type, found '>'"),
            ("map<string,int", 14, "expected '>' after map value type, found end of input"),
            ("map<array<int>,int>", 4, "map key must be a primitive type, found array<int>"),
            ("map< struct<a:int>,int>", 5, "map key must be a primitive type"),
            ("map<map<int,int>,int>", 4, "map key must be a primitive type"),
            ("decimal(10,2", 12, "expected ')' after decimal scale, found end of input"),
            ("decimal(10", 10, "expected ',' or ')' after decimal precision, found end of input"),
            ("decimal(10,-1)", 11, "expected decimal scale, a number, found '-'"),
            ("decimal()", 8, "expected decimal precision, a number, found ')'"),
            ("decimal(39,2)", 8, "decimal precision must be between 1 and 38, found 39"),
            ("decimal(5,6)", 10, "decimal scale must be between 0 and 5, found 6"),
            ("decimal(0,0)", 8, "decimal precision must be between 1 and 38, found 0"),
            ("decimal(99999999999999999999,1)", 8, "found 99999999999999999999"),
            ("varchar", 7, "expected '(' after varchar"),
            ("varchar(0)", 8, "varchar length must be between 1 and 65535, found 0"),
            ("varchar(65536)", 8, "varchar length must be between 1 and 65535, found 65536"),
            ("varchar(4294967296)", 8, "found 4294967296"),
            ("char(256)", 5, "char length must be between 1 and 255, found 256"),
            ("char(0)", 5, "char length must be between 1 and 255, found 0"),
            ("char(1.5)", 6, "expected ')' after char length, found '.'"),
            ("struct<>", 7, "expected a struct field name, found '>'"),
            ("struct<a int>", 9, "expected ':' after struct field name `a`, found 'i'"),
            ("struct<1a:int>", 7, "invalid struct field name: `1a` is not a valid column name"),
            ("struct<a-b:int>", 8, "expected ':' after struct field name `a`, found '-'"),
            ("struct<a:int,A:string>", 13, "duplicate struct field name `a`"),
            ("struct<a:int", 12, "expected ',' or '>' after struct field type, found end of input"),
            ("struct<a:int,>", 13, "expected a struct field name, found '>'"),
        ];
        for &(input, position, message) in cases {
            let error = ColumnType::parse(input).expect_err(input);
            assert_eq!(error.position, position, "position for {input:?}: {error}");
            assert!(error.message.contains(message), "message for {input:?}: {error}");
        }
    }

    #[test]
    fn a_parse_error_displays_its_position_then_its_message() {
        let error = ColumnType::parse("array<int").unwrap_err();
        assert_eq!(error.to_string(), "at position 9: expected '>' after array element type, found end of input");
    }

    #[test]
    fn nesting_is_allowed_up_to_ten_container_levels() {
        assert_eq!(parsed(&nested_arrays(9)).depth(), 9);
        assert_eq!(parsed(&nested_arrays(10)).depth(), MAX_DEPTH);
        for levels in [11, 12, 1000] {
            let error = ColumnType::parse(&nested_arrays(levels)).unwrap_err();
            assert_eq!(error.position, 6 * MAX_DEPTH, "{levels} levels");
            assert!(error.message.contains("at most 10 levels"));
        }
        let deep_struct = format!("struct<a:{}>", nested_arrays(10));
        assert!(ColumnType::parse(&deep_struct).is_err());
    }

    fn wide_struct(fields: usize, ty: &str) -> String {
        let list: Vec<String> = (0..fields).map(|i| format!("f{i}:{ty}")).collect();
        format!("struct<{}>", list.join(","))
    }

    #[test]
    fn structs_hold_at_most_a_thousand_fields() {
        assert!(ColumnType::parse(&wide_struct(MAX_STRUCT_FIELDS, "int")).is_ok());
        let error = ColumnType::parse(&wide_struct(85_000, "int")).unwrap_err();
        assert!(error.message.contains("at most 1000 fields"), "{error}");
    }

    #[test]
    fn a_column_type_holds_at_most_ten_thousand_type_nodes() {
        // 1 + 20 * (1 + 499) = 10,001 nodes; one field fewer in one struct fits.
        let inner = wide_struct(499, "int");
        let outer = wide_struct(20, &inner);
        let error = ColumnType::parse(&outer).unwrap_err();
        assert!(error.message.contains("at most 10000 type nodes"), "{error}");
        let fits: Vec<String> =
            (0..20).map(|i| format!("f{i}:{}", if i == 0 { wide_struct(498, "int") } else { inner.clone() })).collect();
        assert!(ColumnType::parse(&format!("struct<{}>", fits.join(","))).is_ok());
    }

    #[test]
    fn widening_a_wide_struct_is_decided_field_by_field() {
        let old = parsed(&wide_struct(MAX_STRUCT_FIELDS - 1, "int"));
        // Every field widened, one added in front (moving the others).
        let mut wider = wide_struct(MAX_STRUCT_FIELDS - 1, "bigint");
        wider.insert_str(7, "extra:string,");
        assert!(is_widening(&old, &parsed(&wider)));
        let narrower = parsed(&wide_struct(MAX_STRUCT_FIELDS - 1, "smallint"));
        assert!(!is_widening(&old, &narrower));
    }

    #[test]
    fn depth_counts_container_levels() {
        assert_eq!(parsed("int").depth(), 0);
        assert_eq!(parsed("array<int>").depth(), 1);
        assert_eq!(parsed("array<map<string,int>>").depth(), 2);
        assert_eq!(parsed("struct<a:int,b:map<int,array<int>>>").depth(), 3);
    }

    #[test]
    fn only_arrays_maps_and_structs_are_not_primitive() {
        for primitive in ["int", "decimal(5,2)", "char(3)", "varchar(3)", "date", "binary"] {
            assert!(parsed(primitive).is_primitive(), "{primitive}");
        }
        for container in ["array<int>", "map<int,int>", "struct<a:int>"] {
            assert!(!parsed(container).is_primitive(), "{container}");
        }
    }

    #[test]
    fn widening_follows_the_spec_and_reaches_inside_containers() {
        let cases = [
            ("tinyint", "smallint", true),
            ("smallint", "int", true),
            ("int", "bigint", true),
            ("tinyint", "bigint", true),
            ("bigint", "int", false),
            ("float", "double", true),
            ("double", "float", false),
            ("int", "double", false),
            ("decimal(10,2)", "decimal(12,2)", true),
            ("decimal(10,2)", "decimal(12,3)", false),
            ("decimal(12,2)", "decimal(10,2)", false),
            ("char(5)", "varchar(5)", true),
            ("char(5)", "varchar(4)", false),
            ("char(5)", "char(6)", false),
            ("varchar(5)", "varchar(10)", true),
            ("varchar(10)", "varchar(5)", false),
            ("varchar(10)", "string", true),
            ("char(10)", "string", true),
            ("string", "varchar(10)", false),
            ("int", "string", false),
            ("date", "timestamp", false),
            ("int", "int", false),
            ("array<int>", "array<bigint>", true),
            ("array<bigint>", "array<int>", false),
            ("map<string,int>", "map<string,bigint>", true),
            ("map<int,string>", "map<bigint,string>", false),
            ("map<varchar(5),string>", "map<string,string>", false),
            ("struct<a:int>", "struct<a:int,b:string>", true),
            ("struct<a:int>", "struct<b:string,a:bigint>", true),
            ("struct<a:int,b:string>", "struct<b:string,a:int>", true),
            ("struct<a:int,b:string>", "struct<a:int>", false),
            ("struct<a:int>", "struct<b:int>", false),
            ("array<struct<a:int>>", "array<struct<a:bigint,c:date>>", true),
            ("array<int>", "map<int,int>", false),
        ];
        for (old, new, widens) in cases {
            assert_eq!(is_widening(&parsed(old), &parsed(new)), widens, "{old} -> {new}");
        }
    }

    fn arb_primitive() -> impl Strategy<Value = ColumnType> {
        prop_oneof![
            prop::sample::select(vec![
                ColumnType::TinyInt,
                ColumnType::SmallInt,
                ColumnType::Int,
                ColumnType::BigInt,
                ColumnType::Float,
                ColumnType::Double,
                ColumnType::Boolean,
                ColumnType::String,
                ColumnType::Date,
                ColumnType::Timestamp,
                ColumnType::Binary,
            ]),
            (1u8..=38)
                .prop_flat_map(|precision| (Just(precision), 0..=precision))
                .prop_map(|(precision, scale)| ColumnType::Decimal { precision, scale }),
            (1u16..=255).prop_map(ColumnType::Char),
            (1u32..=65_535).prop_map(ColumnType::Varchar),
        ]
    }

    prop_compose! {
        fn arb_struct(field: BoxedStrategy<ColumnType>)(
            fields in prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", field, 1..4)
                .prop_map(|fields| fields.into_iter().collect::<Vec<_>>())
                .prop_shuffle()
        ) -> ColumnType {
            ColumnType::Struct(fields.into_iter().map(|(name, ty)| StructField { name, ty }).collect())
        }
    }

    fn arb_column_type() -> impl Strategy<Value = ColumnType> {
        arb_primitive().prop_recursive(5, 48, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|element| ColumnType::Array(Box::new(element))),
                (arb_primitive(), inner.clone())
                    .prop_map(|(key, value)| ColumnType::Map(Box::new(key), Box::new(value))),
                arb_struct(inner),
            ]
        })
    }

    proptest! {
        #[test]
        fn every_type_survives_a_render_and_parse_round_trip(ty in arb_column_type()) {
            prop_assert_eq!(ColumnType::parse(&ty.to_string()), Ok(ty.clone()));
            prop_assert_eq!(ColumnType::parse(&ty.to_string().to_uppercase()), Ok(ty));
        }

        #[test]
        fn widening_is_never_reflexive_nor_symmetric(old in arb_column_type(), new in arb_column_type()) {
            prop_assert!(!is_widening(&old, &old));
            prop_assert!(!(is_widening(&old, &new) && is_widening(&new, &old)));
        }
    }
}
