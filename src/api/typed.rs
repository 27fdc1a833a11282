//! Path and query parameters that carry their pattern: the OpenAPI document shows it, and a
//! value is checked against it with a regex compiled once per process (poem-openapi's
//! `pattern` validator compiles its regex on every request, which dominated the cost of a
//! cached read). Handlers then parse the value with the domain parser as before.
use std::{borrow::Cow, ops::Deref, sync::LazyLock};

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromParameter, ParseResult, Type},
};
use regex::Regex;

macro_rules! pattern_param {
    ($(#[$doc:meta])* $name:ident, $pattern:literal, $what:literal, $example:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub String);

        impl $name {
            pub const PATTERN: &'static str = $pattern;

            fn regex() -> &'static Regex {
                static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new($pattern).expect("a valid pattern"));
                &RE
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = String;
            type RawElementValueType = String;

            fn name() -> Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    pattern: Some($pattern.to_owned()),
                    example: Some(serde_json::Value::from($example)),
                    ..MetaSchema::new("string")
                }))
            }

            fn as_raw_value(&self) -> Option<&String> {
                Some(&self.0)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
                Box::new(std::iter::once(&self.0))
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                if Self::regex().is_match(value) {
                    Ok($name(value.to_owned()))
                } else {
                    Err(ParseError::custom(concat!("must be ", $what)))
                }
            }
        }
    };
}

pattern_param!(
    /// A data product name.
    ProductNameParam,
    r"^[a-z][a-z0-9_]{1,62}$",
    "a product name: a lower-case letter, then 1 to 62 lower-case letters, digits or `_`",
    super::dto::EXAMPLE_PRODUCT
);
pattern_param!(
    /// A table name.
    TableNameParam,
    r"^[a-z][a-z0-9_]{0,127}$",
    "a table name: a lower-case letter, then up to 127 lower-case letters, digits or `_`",
    super::dto::EXAMPLE_TABLE
);
pattern_param!(
    /// A version selector of a read: `v1.2`, `1.2`, `v1` or `latest`.
    SelectorParam,
    r"^(latest|v?(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8}))?)$",
    "a version selector: `v1.2`, `1.2`, `v1` or `latest` (no leading zeros)",
    "v1.0"
);
pattern_param!(
    /// A version selector of `compare`.
    CompareSelectorParam,
    r"^(latest|v?[0-9]{1,9}(\.[0-9]{1,9})?)$",
    "a version selector: `v1.2`, `1.2`, `v1` or `latest`",
    "latest"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_match_their_patterns_only() {
        assert!(ProductNameParam::parse_from_parameter("orders").is_ok());
        assert!(ProductNameParam::parse_from_parameter("o").is_err());
        assert!(ProductNameParam::parse_from_parameter("Orders").is_err());
        assert!(TableNameParam::parse_from_parameter("t").is_ok());
        assert!(TableNameParam::parse_from_parameter("t\n").is_err());
        assert!(SelectorParam::parse_from_parameter("v1.2").is_ok());
        assert!(SelectorParam::parse_from_parameter("v01").is_err());
        assert!(CompareSelectorParam::parse_from_parameter("v01").is_ok());
        assert!(CompareSelectorParam::parse_from_parameter("v1.x").is_err());
    }
}

/// The `Idempotency-Key` request header of a write, documented once as the `IdempotencyKey`
/// schema. The edge checks and claims the key before the handler runs (an invalid one is a
/// 400 `/problems/invalid-idempotency-key` there), so this only carries it.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    /// 1..=255 printable ASCII characters, or the same in double quotes (an sf-string).
    pub const PATTERN: &'static str = r#"^(?:[!#-~](?:[ -~]{0,253}[!-~])?|"[ !#-\[\]-~]{1,255}")$"#;
}

impl Type for IdempotencyKey {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "IdempotencyKey".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference("IdempotencyKey".to_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>("IdempotencyKey".to_owned(), |_| MetaSchema {
            description: Some(
                "Makes a retry safe: the first answer to this key (with the same method, path, query and \
                 body) is stored with the change and replayed with `Idempotent-Replayed: true`. 1..=255 \
                 printable ASCII characters, or the same in double quotes. Kept for `DAAP_IDEMPOTENCY_TTL` \
                 (24 hours by default). A different request with the same key is 422 \
                 `/problems/idempotency-key-reused`; a repeat while the first still runs is 409 \
                 `/problems/idempotency-request-in-progress` with `Retry-After`.",
            ),
            max_length: Some(257),
            pattern: Some(Self::PATTERN.to_owned()),
            ..MetaSchema::new("string")
        });
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromParameter for IdempotencyKey {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(IdempotencyKey(value.to_owned()))
    }
}
