//! The simulated partner's answers: deterministic per pincode, so demos and tests can predict them.

use crate::domain::{Money, Pincode, Serviceability};

/// FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// What the simulated partner says about `pincode`: about 10% are not serviceable (ETA and fee 0); the rest get
/// an ETA of 30 to 240 minutes and a fee of 0 to 9900 paise in whole rupees.
pub fn serviceability_for(pincode: &Pincode) -> Serviceability {
    let hash = fnv1a(pincode.as_str().as_bytes());
    let serviceable = !hash.is_multiple_of(10);
    let (eta_minutes, fee_paise) =
        if serviceable { (30 + ((hash >> 8) % 211) as u32, ((hash >> 24) % 100) * 100) } else { (0, 0) };
    Serviceability {
        pincode: pincode.clone(),
        serviceable,
        eta_minutes,
        fee: Money::from_paise(fee_paise).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_deterministic_in_range_and_mostly_serviceable() {
        let mut unserviceable = 0;
        for n in 0..2000u32 {
            let pin = Pincode::parse(&format!("{}", 110_000 + n * 7)).unwrap();
            let a = serviceability_for(&pin);
            assert_eq!(a, serviceability_for(&pin));
            if a.serviceable {
                assert!((30..=240).contains(&a.eta_minutes));
                assert!(a.fee.paise() <= 9900 && a.fee.paise().is_multiple_of(100));
            } else {
                unserviceable += 1;
            }
        }
        assert!((100..=300).contains(&unserviceable), "{unserviceable}");
    }
}
