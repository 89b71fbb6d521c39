//! Delivery estimates from the logistics partner (API A).

use std::fmt;

use super::money::Money;

/// An Indian postal code: six digits, the first 1 to 9.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pincode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pincode must be 6 digits and must not start with 0")]
pub struct InvalidPincode;

impl Pincode {
    /// # Errors
    /// `InvalidPincode` unless exactly six ASCII digits, the first not `0`.
    pub fn parse(raw: &str) -> Result<Self, InvalidPincode> {
        let bytes = raw.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) || bytes[0] == b'0' {
            return Err(InvalidPincode);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pincode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the partner says about delivering to a pincode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serviceability {
    pub pincode: Pincode,
    pub serviceable: bool,
    pub eta_minutes: u32,
    pub fee: Money,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pincodes_are_six_digits_not_starting_with_zero() {
        for ok in ["560001", "110001", "999999"] {
            assert!(Pincode::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "56000", "5600011", "060001", "56000a", " 56000", "５６０００１"] {
            assert!(Pincode::parse(bad).is_err(), "{bad}");
        }
    }
}
