//! Product, table and column names.
//!
//! A `ProductName`, `TableName` or `ColumnName` exists only if `parse` accepted
//! it, so holding one proves the string follows SPEC section 1: ASCII only,
//! the right first character and length, and no table name that looks like a
//! version (`v1`), which keeps public IDs unambiguous.

use std::fmt;

/// Why a string is not a valid name; the message is fit to show a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError(pub String);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NameError {}

const PRODUCT_RULE: &str = "must start with a lower-case letter and contain only a-z, 0-9 and _ (2 to 63 characters)";
const TABLE_RULE: &str = "must start with a lower-case letter and contain only a-z, 0-9 and _ (1 to 128 characters)";
const COLUMN_RULE: &str =
    "must start with a lower-case letter or _ and contain only a-z, 0-9 and _ (1 to 128 characters)";

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// True when `s` has `min..=max` characters, its first satisfies `is_first`
/// and the rest are `a-z`, `0-9` or `_`.
fn follows_rule(s: &str, is_first: fn(char) -> bool, min: usize, max: usize) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_first) && chars.all(is_name_char) && (min..=max).contains(&s.len())
}

fn refuse(kind: &str, s: &str, rule: &str) -> NameError {
    NameError(format!("`{s}` is not a valid {kind} name: it {rule}"))
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A data product's name: `^[a-z][a-z0-9_]{1,62}$`.
    ProductName
);
name_type!(
    /// A table's name: `^[a-z][a-z0-9_]{0,127}$`, never `v<digits>`.
    TableName
);
name_type!(
    /// A column's (or struct field's) name: `^[a-z_][a-z0-9_]{0,127}$`.
    ColumnName
);

impl ProductName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if follows_rule(s, |c| c.is_ascii_lowercase(), 2, 63) {
            Ok(Self(s.to_owned()))
        } else {
            Err(refuse("product", s, PRODUCT_RULE))
        }
    }
}

impl TableName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if !follows_rule(s, |c| c.is_ascii_lowercase(), 1, 128) {
            return Err(refuse("table", s, TABLE_RULE));
        }
        // `.` is already refused, so `^v[0-9]+(\.[0-9]+)?$` reduces to `v<digits>`.
        let looks_like_version =
            s.strip_prefix('v').is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
        if looks_like_version {
            return Err(NameError(format!(
                "`{s}` is not a valid table name: it looks like a version (v<digits>), which would make public IDs ambiguous"
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

impl ColumnName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if follows_rule(s, |c| c.is_ascii_lowercase() || c == '_', 1, 128) {
            Ok(Self(s.to_owned()))
        } else {
            Err(refuse("column", s, COLUMN_RULE))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_names_follow_the_product_rule() {
        let longest = format!("a{}", "b".repeat(62));
        let too_long = format!("a{}", "b".repeat(63));
        for ok in ["ab", "a1", "hmpps_prisons", "x_y", "a_", longest.as_str()] {
            assert!(ProductName::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in ["", "a", "1ab", "_ab", "Ab", "aB", "a-b", "a b", "a.b", "é_a", "aé", too_long.as_str()] {
            assert!(ProductName::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn table_names_follow_the_table_rule_and_never_look_like_versions() {
        let longest = format!("t{}", "x".repeat(127));
        let too_long = format!("t{}", "x".repeat(128));
        for ok in ["t", "t1", "v", "v1x", "va", "version", "x_v1", "v_1", longest.as_str()] {
            assert!(TableName::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in ["", "v1", "v2", "v10", "v01", "v1.2", "1t", "_t", "T1", "t-1", "t é", too_long.as_str()] {
            assert!(TableName::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn column_names_follow_the_column_rule() {
        let longest = format!("c{}", "x".repeat(127));
        let too_long = format!("c{}", "x".repeat(128));
        for ok in ["a", "_", "_x", "v1", "col_2", longest.as_str()] {
            assert!(ColumnName::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in ["", "1a", "A", "a-b", "a b", "é", too_long.as_str()] {
            assert!(ColumnName::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_parsed_name_displays_as_it_was_written() {
        let name = TableName::parse("prisoners").unwrap();
        assert_eq!(name.as_str(), "prisoners");
        assert_eq!(name.to_string(), "prisoners");
    }

    #[test]
    fn a_refused_name_says_what_the_rule_is() {
        let error = ProductName::parse("Bad").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`Bad` is not a valid product name: it must start with a lower-case letter and contain only a-z, 0-9 and _ (2 to 63 characters)"
        );
        assert!(TableName::parse("v1").unwrap_err().to_string().contains("looks like a version"));
    }
}
