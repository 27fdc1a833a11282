//! Public IDs: `dp:<name>[:v<M>[.<m>]][:<table>]`.
//!
//! Every ID that parses names a product, a version selector and maybe a table,
//! and renders back to the same string. A version segment always carries its
//! `v`, and table names can never look like one, so each ID reads one way only.

use std::fmt;

use super::names::{ProductName, TableName};
use super::version::VersionSelector;

/// A parsed public ID; `Latest` renders with no version segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicId {
    pub product: ProductName,
    pub selector: VersionSelector,
    pub table: Option<TableName>,
}

impl PublicId {
    pub fn parse(s: &str) -> Result<PublicId, IdError> {
        let invalid = |reason: String| IdError(format!("`{s}` is not a valid public ID: {reason}"));
        let rest = s.strip_prefix("dp:").ok_or_else(|| invalid("it must start with `dp:`".to_owned()))?;
        let segments: Vec<&str> = rest.split(':').collect();
        let product = ProductName::parse(segments[0]).map_err(|e| invalid(e.to_string()))?;
        let (selector, table) = match segments[1..] {
            [] => (VersionSelector::Latest, None),
            [segment] => match VersionSelector::parse_in_id(segment) {
                Some(selector) => (selector, None),
                None => {
                    let table = TableName::parse(segment).map_err(|e| {
                        invalid(format!(
                            "`{segment}` is neither a version (v<major> or v<major>.<minor>) nor a table name: {e}"
                        ))
                    })?;
                    (VersionSelector::Latest, Some(table))
                }
            },
            [version, table] => {
                let selector = VersionSelector::parse_in_id(version).ok_or_else(|| {
                    invalid(format!("`{version}` is not a version: expected v<major> or v<major>.<minor>"))
                })?;
                let table = TableName::parse(table).map_err(|e| invalid(e.to_string()))?;
                (selector, Some(table))
            }
            _ => {
                return Err(invalid(
                    "it has too many `:`-separated parts (at most dp:<name>:<version>:<table>)".to_owned(),
                ));
            }
        };
        Ok(PublicId { product, selector, table })
    }
}

impl fmt::Display for PublicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dp:{}", self.product)?;
        if self.selector != VersionSelector::Latest {
            write!(f, ":{}", self.selector)?;
        }
        if let Some(table) = &self.table {
            write!(f, ":{table}")?;
        }
        Ok(())
    }
}

/// Why a string is not a public ID; the message names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError(pub String);

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IdError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::version::Version;

    fn id(product: &str, selector: VersionSelector, table: Option<&str>) -> PublicId {
        PublicId {
            product: ProductName::parse(product).unwrap(),
            selector,
            table: table.map(|t| TableName::parse(t).unwrap()),
        }
    }

    #[test]
    fn all_six_forms_parse_and_round_trip() {
        let v1_2 = VersionSelector::Exact(Version { major: 1, minor: 2 });
        let cases = [
            ("dp:x_y", id("x_y", VersionSelector::Latest, None)),
            ("dp:x_y:v1.2", id("x_y", v1_2, None)),
            ("dp:x_y:v1", id("x_y", VersionSelector::Major(1), None)),
            ("dp:x_y:t1", id("x_y", VersionSelector::Latest, Some("t1"))),
            ("dp:x_y:v1.2:t1", id("x_y", v1_2, Some("t1"))),
            ("dp:x_y:v1:t1", id("x_y", VersionSelector::Major(1), Some("t1"))),
        ];
        for (input, expected) in cases {
            let parsed = PublicId::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed, expected, "{input}");
            assert_eq!(parsed.to_string(), input);
        }
    }

    #[test]
    fn a_second_segment_that_is_not_exactly_a_version_is_a_table() {
        for table in ["v1x", "v", "version", "va1"] {
            let parsed = PublicId::parse(&format!("dp:x_y:{table}")).unwrap();
            assert_eq!(parsed.selector, VersionSelector::Latest);
            assert_eq!(parsed.table.unwrap().as_str(), table);
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "foo",
            "",
            "dp",
            "dp:",
            "dp:Bad_Name",
            "dp:9abc",
            "dp:a",
            "xx:abc",
            "DP:x_y",
            " dp:x_y",
            "dp:x_y:",
            "dp:x_y:v1.2.3",
            "dp:x_y:v1.2:t1:extra",
            "dp:x_y:v1.2:T1",
            "dp:x_y:Table",
            "dp:x_y:v1.x:t1",
            "dp:x_y::t1",
            "dp:x_y:v1.2:",
            "dp:x_y:latest:t1",
            "dp:x_y:1.2:t1",
            "dp:x_y:v01",
            "dp:x_y:v1:v2",
        ] {
            assert!(PublicId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_refused_id_names_the_part_that_is_wrong() {
        let message = |s: &str| PublicId::parse(s).unwrap_err().to_string();
        assert!(message("xx:abc").contains("must start with `dp:`"));
        assert!(message("dp:Bad_Name").contains("`Bad_Name` is not a valid product name"));
        assert!(message("dp:x_y:v1.x:t1").contains("`v1.x` is not a version"));
        assert!(message("dp:x_y:v1.2:T1").contains("`T1` is not a valid table name"));
        assert!(message("dp:x_y:v1.2.3").contains("`v1.2.3` is neither a version"));
        assert!(message("dp:x_y:v1.2:t1:extra").contains("too many"));
    }
}
