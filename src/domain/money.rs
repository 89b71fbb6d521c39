//! Money as integer paise (1 INR = 100 paise). Never a float.

use std::fmt;

/// A non-negative amount of Indian rupees, held as whole paise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(u64);

/// The only currency the marketplace trades in.
pub const CURRENCY: &str = "INR";

/// The largest price accepted anywhere: ten crore rupees, far above any real listing, and small enough that
/// every arithmetic on it stays exact in i64 and in JSON numbers.
pub const MAX_PAISE: u64 = 1_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount must be at most {MAX_PAISE} paise")]
    TooLarge,
    #[error("amount must not be negative")]
    Negative,
}

impl Money {
    /// A validated amount.
    ///
    /// # Errors
    /// `TooLarge` above [`MAX_PAISE`].
    pub fn from_paise(paise: u64) -> Result<Self, MoneyError> {
        if paise > MAX_PAISE {
            return Err(MoneyError::TooLarge);
        }
        Ok(Self(paise))
    }

    /// A validated amount from a signed number, as it arrives in JSON bodies.
    ///
    /// # Errors
    /// `Negative` below zero, `TooLarge` above [`MAX_PAISE`].
    pub fn from_signed_paise(paise: i64) -> Result<Self, MoneyError> {
        let paise = u64::try_from(paise).map_err(|_| MoneyError::Negative)?;
        Self::from_paise(paise)
    }

    pub const fn paise(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "₹{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_zero_and_the_maximum() {
        assert_eq!(Money::from_paise(0).map(Money::paise), Ok(0));
        assert_eq!(Money::from_paise(MAX_PAISE).map(Money::paise), Ok(MAX_PAISE));
    }

    #[test]
    fn rejects_amounts_above_the_maximum_and_below_zero() {
        assert_eq!(Money::from_paise(MAX_PAISE + 1), Err(MoneyError::TooLarge));
        assert_eq!(Money::from_signed_paise(-1), Err(MoneyError::Negative));
    }

    #[test]
    fn displays_rupees_and_paise() {
        assert_eq!(Money::from_paise(4550).map(|m| m.to_string()), Ok("₹45.50".to_owned()));
    }
}
