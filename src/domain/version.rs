//! Version numbers and the selectors that name them.
//!
//! A `Version` is `v<major>.<minor>`: the first is v1.0 and `next` moves on by
//! the class of a change. A `VersionSelector` names an exact version, the
//! latest within a major, or the latest of all. Numbers are plain decimal
//! without leading zeros, so every version has exactly one spelling.

use std::fmt;

use super::diff::ChangeClass;

/// An immutable version of a data product; ordered by major, then minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// v1.0, the version a data product is created with.
    pub const FIRST: Version = Version { major: 1, minor: 0 };

    /// Parses exactly `v<major>.<minor>`, e.g. `v1.2`.
    pub fn parse(s: &str) -> Result<Version, VersionError> {
        match s.strip_prefix('v').and_then(parse_numbers) {
            Some(VersionSelector::Exact(version)) => Ok(version),
            _ => Err(VersionError(format!("`{s}` is not a version: expected v<major>.<minor>, e.g. v1.2"))),
        }
    }

    /// The version a change of `class` makes: major -> v(M+1).0, minor -> vM.(m+1), none -> self.
    pub fn next(self, class: ChangeClass) -> Version {
        match class {
            ChangeClass::Major => Version { major: self.major + 1, minor: 0 },
            ChangeClass::Minor => Version { minor: self.minor + 1, ..self },
            ChangeClass::None => self,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

/// Which version a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    /// Exactly this version (immutable).
    Exact(Version),
    /// The latest version within this major.
    Major(u32),
    /// The latest version of all.
    Latest,
}

impl VersionSelector {
    /// Parses `v1.2`, `1.2`, `v1`, `1` or `latest`.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        if s == "latest" {
            return Ok(Self::Latest);
        }
        parse_numbers(s.strip_prefix('v').unwrap_or(s)).ok_or_else(|| {
            VersionError(format!(
                "`{s}` is not a version selector: expected v<major>.<minor>, <major>.<minor>, v<major> or latest"
            ))
        })
    }

    /// True when it names one immutable version.
    pub fn is_exact(&self) -> bool {
        matches!(self, Self::Exact(_))
    }

    /// The selector as written inside a public ID: `vM.m` or `vM`, the `v` required.
    pub(super) fn parse_in_id(s: &str) -> Option<Self> {
        parse_numbers(s.strip_prefix('v')?)
    }
}

/// `v1.2`, `v1` or `latest`.
impl fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(version) => version.fmt(f),
            Self::Major(major) => write!(f, "v{major}"),
            Self::Latest => f.write_str("latest"),
        }
    }
}

/// Why a string is not a version or selector; the message is fit to show a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionError(pub String);

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VersionError {}

/// `M.m` as an exact version or `M` as a major, after any `v`.
fn parse_numbers(s: &str) -> Option<VersionSelector> {
    match s.split_once('.') {
        Some((major, minor)) => {
            Some(VersionSelector::Exact(Version { major: parse_number(major)?, minor: parse_number(minor)? }))
        }
        None => parse_number(s).map(VersionSelector::Major),
    }
}

/// Decimal digits without a sign or leading zero that fit in a u32.
fn parse_number(s: &str) -> Option<u32> {
    let is_canonical = s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if is_canonical { s.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn version(major: u32, minor: u32) -> Version {
        Version { major, minor }
    }

    #[test]
    fn the_first_version_is_v1_0() {
        assert_eq!(Version::FIRST, version(1, 0));
        assert_eq!(Version::FIRST.to_string(), "v1.0");
    }

    #[test]
    fn versions_parse_only_in_their_canonical_form() {
        assert_eq!(Version::parse("v1.2"), Ok(version(1, 2)));
        assert_eq!(Version::parse("v0.0"), Ok(version(0, 0)));
        assert_eq!(Version::parse("v10.20"), Ok(version(10, 20)));
        assert_eq!(Version::parse("v4294967295.0"), Ok(version(u32::MAX, 0)));
        for bad in [
            "",
            "v",
            "1.2",
            "v1",
            "v1.",
            "v.1",
            "vv1.2",
            "V1.2",
            "v+1.2",
            "v1.+2",
            "v-1.2",
            "v01.2",
            "v1.02",
            "v1.2.3",
            "v1.x",
            " v1.2",
            "v4294967296.0",
            "latest",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_version_round_trips_through_display() {
        for v in [version(1, 0), version(3, 14), version(0, 7)] {
            assert_eq!(Version::parse(&v.to_string()), Ok(v));
        }
    }

    #[test]
    fn versions_order_by_major_then_minor() {
        assert!(version(1, 9) < version(1, 10));
        assert!(version(1, 10) < version(2, 0));
    }

    #[test]
    fn next_bumps_by_the_class_of_the_change() {
        let current = version(1, 3);
        assert_eq!(current.next(ChangeClass::Major), version(2, 0));
        assert_eq!(current.next(ChangeClass::Minor), version(1, 4));
        assert_eq!(current.next(ChangeClass::None), current);
    }

    #[test]
    fn selectors_accept_exact_versions_majors_and_latest() {
        let cases = [
            ("v1.2", VersionSelector::Exact(version(1, 2))),
            ("1.2", VersionSelector::Exact(version(1, 2))),
            ("v1", VersionSelector::Major(1)),
            ("1", VersionSelector::Major(1)),
            ("v0.0", VersionSelector::Exact(version(0, 0))),
            ("latest", VersionSelector::Latest),
        ];
        for (input, selector) in cases {
            assert_eq!(VersionSelector::parse(input), Ok(selector), "{input}");
        }
    }

    #[test]
    fn selectors_refuse_anything_else() {
        for bad in [
            "banana",
            "v1.x",
            "1.2.3",
            "vv1",
            "",
            "v",
            "1.",
            "v1.",
            ".1",
            "Latest",
            "LATEST",
            "vlatest",
            "v-1",
            "+1",
            "v01",
            "4294967296",
            "v1.4294967296",
            "v 1",
        ] {
            assert!(VersionSelector::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn only_an_exact_selector_is_exact() {
        assert!(VersionSelector::Exact(Version::FIRST).is_exact());
        assert!(!VersionSelector::Major(1).is_exact());
        assert!(!VersionSelector::Latest.is_exact());
    }

    #[test]
    fn selectors_display_as_they_are_written_in_ids() {
        assert_eq!(VersionSelector::Exact(version(1, 2)).to_string(), "v1.2");
        assert_eq!(VersionSelector::Major(3).to_string(), "v3");
        assert_eq!(VersionSelector::Latest.to_string(), "latest");
    }

    #[test]
    fn inside_an_id_a_selector_needs_its_v() {
        assert_eq!(VersionSelector::parse_in_id("v1.2"), Some(VersionSelector::Exact(version(1, 2))));
        assert_eq!(VersionSelector::parse_in_id("v7"), Some(VersionSelector::Major(7)));
        for bad in ["1.2", "1", "latest", "vlatest", "v", "v1.x", "v1x"] {
            assert_eq!(VersionSelector::parse_in_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_refused_version_says_what_was_expected() {
        assert_eq!(
            Version::parse("v1").unwrap_err().to_string(),
            "`v1` is not a version: expected v<major>.<minor>, e.g. v1.2"
        );
    }
}
