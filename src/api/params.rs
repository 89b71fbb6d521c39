//! Parameters documented with a `pattern` in the spec and parsed by the domain's own type, which they carry
//! to the handler: a value is parsed once.
//!
//! poem-openapi 5.1's `validator(pattern = ...)` compiles its regex on every request (see docs/DECISIONS.md);
//! these types keep the pattern in the schema, for clients and SDK generators, and parse with the domain.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, ToJSON, Type};
use serde_json::Value;

use crate::domain::{CategorySlug, Pincode};

macro_rules! pattern_param {
    ($(#[$doc:meta])* $name:ident($domain:ty), $pattern:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub $domain);

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> MetaSchemaRef {
                let mut schema = MetaSchema::new("string");
                schema.pattern = Some($pattern.to_owned());
                MetaSchemaRef::Inline(Box::new(schema))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                <$domain>::parse(value).map(Self).map_err(|_| ParseError::custom(concat!("must match ", $pattern)))
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                Some(Value::String(self.0.as_str().to_owned()))
            }
        }
    };
}

pattern_param!(
    /// A category slug parameter.
    CategoryParam(CategorySlug),
    "^[a-z0-9-]{1,32}$"
);

pattern_param!(
    /// A pincode parameter.
    PincodeParam(Pincode),
    "^[1-9][0-9]{5}$"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_accept_exactly_what_their_pattern_says() {
        assert!(CategoryParam::parse_from_parameter("dairy-2").is_ok());
        assert!(CategoryParam::parse_from_parameter("Dairy").is_err());
        assert!(PincodeParam::parse_from_parameter("560001").is_ok());
        assert!(PincodeParam::parse_from_parameter("060001").is_err());
    }
}
