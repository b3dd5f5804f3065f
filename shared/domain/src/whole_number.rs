//! Integer fields of request bodies. The API document is OpenAPI 3.1, whose JSON Schema calls
//! `3.0` an integer just like `3`; serde's own `u32` refuses every float, so a body the document
//! calls valid would be refused. These accept a float only when it is a whole number in range.

use std::fmt;

use serde::de::{Error, Visitor};
use serde::{Deserialize, Deserializer};

/// For `#[serde(deserialize_with = "whole_number::u32")]`.
pub fn u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    WholeU32::deserialize(deserializer).map(|whole| whole.0)
}

/// For `#[serde(default, deserialize_with = "whole_number::optional_u32")]`.
pub fn optional_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Option::<WholeU32>::deserialize(deserializer).map(|whole| whole.map(|w| w.0))
}

struct WholeU32(u32);

impl<'de> Deserialize<'de> for WholeU32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WholeU32Visitor).map(WholeU32)
    }
}

struct WholeU32Visitor;

impl Visitor<'_> for WholeU32Visitor {
    type Value = u32;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a whole number from 0 to 4294967295")
    }

    fn visit_u64<E: Error>(self, value: u64) -> Result<u32, E> {
        u32::try_from(value).map_err(|_| E::custom(format!("{value} is out of range for u32")))
    }

    fn visit_i64<E: Error>(self, value: i64) -> Result<u32, E> {
        u32::try_from(value).map_err(|_| E::custom(format!("{value} is out of range for u32")))
    }

    fn visit_f64<E: Error>(self, value: f64) -> Result<u32, E> {
        let in_range = (0.0..=f64::from(u32::MAX)).contains(&value);
        if value.fract() == 0.0 && in_range {
            Ok(value as u32)
        } else {
            Err(E::custom(format!(
                "{value} is not a whole number from 0 to {}",
                u32::MAX
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        #[serde(deserialize_with = "super::u32")]
        minutes: u32,
        #[serde(default, deserialize_with = "super::optional_u32")]
        days: Option<u32>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_floats_are_the_integers_they_spell() {
        assert_eq!(
            parse(r#"{"minutes": 389.0, "days": 30.0}"#),
            Ok(Body {
                minutes: 389,
                days: Some(30)
            })
        );
        assert_eq!(
            parse(r#"{"minutes": 60, "days": null}"#),
            Ok(Body {
                minutes: 60,
                days: None
            })
        );
        assert_eq!(
            parse(r#"{"minutes": 4294967295.0}"#).map(|b| b.minutes),
            Ok(u32::MAX)
        );
    }

    #[test]
    fn fractions_negatives_and_overflow_are_refused() {
        for bad in [
            "389.5",
            "-1",
            "-1.0",
            "4294967296",
            "4294967296.0",
            "1e300",
            "\"60\"",
        ] {
            let body = format!(r#"{{"minutes": {bad}}}"#);
            assert!(parse(&body).is_err(), "{bad} was accepted");
        }
    }
}
