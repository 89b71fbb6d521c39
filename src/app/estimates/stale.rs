//! The last good answer per pincode, kept for a bounded time and count, served when the partner fails.
//! It reads no clock: the caller says when an answer was obtained and what time it is now.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{Pincode, Serviceability};

/// Last good answers, at most `capacity` of them, none older than `max_age`.
#[derive(Debug)]
pub(super) struct StaleAnswers {
    capacity: usize,
    max_age: chrono::Duration,
    answers: Mutex<HashMap<Pincode, (Serviceability, DateTime<Utc>)>>,
}

impl StaleAnswers {
    pub(super) fn new(capacity: usize, max_age: Duration) -> Self {
        let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::days(1));
        Self { capacity: capacity.max(1), max_age, answers: Mutex::new(HashMap::new()) }
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, HashMap<Pincode, (Serviceability, DateTime<Utc>)>> {
        self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers `answer`, obtained at `as_of`. When full, drops expired answers, then the oldest one.
    pub(super) fn put(&self, answer: &Serviceability, as_of: DateTime<Utc>) {
        let mut answers = self.answers();
        if answers.len() >= self.capacity && !answers.contains_key(&answer.pincode) {
            let cutoff = as_of - self.max_age;
            answers.retain(|_, (_, at)| *at > cutoff);
            if answers.len() >= self.capacity {
                let oldest = answers.iter().min_by_key(|(_, (_, at))| *at).map(|(pin, _)| pin.clone());
                if let Some(oldest) = oldest {
                    answers.remove(&oldest);
                }
            }
        }
        answers.insert(answer.pincode.clone(), (answer.clone(), as_of));
    }

    /// The last good answer for `pincode` and when it was obtained, unless older than `max_age` at `now`.
    pub(super) fn get(&self, pincode: &Pincode, now: DateTime<Utc>) -> Option<(Serviceability, DateTime<Utc>)> {
        let cutoff = now - self.max_age;
        self.answers().get(pincode).filter(|(_, at)| *at > cutoff).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Money;

    fn answer(pin: &str) -> Serviceability {
        let pincode = Pincode::parse(pin).unwrap();
        Serviceability { pincode, serviceable: true, eta_minutes: 45, fee: Money::from_paise(2500).unwrap() }
    }

    #[test]
    fn keeps_answers_for_a_day_and_at_most_capacity() {
        let stale = StaleAnswers::new(2, Duration::from_secs(24 * 3600));
        let now = Utc::now();
        stale.put(&answer("110001"), now - chrono::Duration::hours(25));
        assert!(stale.get(&Pincode::parse("110001").unwrap(), now).is_none());
        stale.put(&answer("560001"), now - chrono::Duration::minutes(5));
        stale.put(&answer("400001"), now);
        assert!(stale.get(&Pincode::parse("560001").unwrap(), now).is_some());
        stale.put(&answer("700001"), now);
        assert!(stale.get(&Pincode::parse("560001").unwrap(), now).is_none(), "the oldest goes first");
        assert!(stale.get(&Pincode::parse("700001").unwrap(), now).is_some());
    }
}
