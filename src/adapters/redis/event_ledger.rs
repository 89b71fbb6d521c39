//! The webhook ledger in Redis: `<prefix>ledger:{<id>}:done` marks a completed id, `<prefix>ledger:{<id>}:claim`
//! an unexpired claim. Claiming is one Lua script, so concurrent deliveries of one id get one `Acquired`. The id
//! is a hash tag (braces and `%` in it percent-encoded, see [`super::hash_tag`]), so both keys of one id live in
//! one slot and the claim script and the completing `MULTI` also run on Redis Cluster.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;

use super::{checkout, millis, timed, RedisPool};
use crate::domain::webhook::WebhookId;
use crate::ports::{Claim, EventLedger, LedgerError};

/// KEYS[1] done marker, KEYS[2] claim; ARGV[1] lease in ms. Returns 0 Acquired, 1 InFlight, 2 Done.
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 2 end
        if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 0 end
        return 1
        ",
    )
});

/// [`EventLedger`] over Redis; clones share the pool.
#[derive(Clone)]
pub struct RedisEventLedger {
    pool: RedisPool,
    prefix: String,
}

impl RedisEventLedger {
    /// A ledger whose keys start with `<prefix>ledger:`.
    pub fn new(pool: RedisPool, prefix: &str) -> Self {
        Self { pool, prefix: prefix.to_owned() }
    }

    fn done_key(&self, id: &WebhookId) -> String {
        super::key(&self.prefix, &["ledger", &super::hash_tag(id.as_str()), "done"])
    }

    fn claim_key(&self, id: &WebhookId) -> String {
        super::key(&self.prefix, &["ledger", &super::hash_tag(id.as_str()), "claim"])
    }
}

#[async_trait]
impl EventLedger for RedisEventLedger {
    async fn claim(&self, id: &WebhookId, lease: Duration) -> Result<Claim, LedgerError> {
        let mut conn = checkout(&self.pool).await.map_err(LedgerError::Unavailable)?;
        let mut call = CLAIM.key(self.done_key(id));
        call.key(self.claim_key(id)).arg(millis(lease));
        let state: i64 = timed(&self.pool, call.invoke_async(&mut conn)).await.map_err(LedgerError::Unavailable)?;
        match state {
            0 => Ok(Claim::Acquired),
            1 => Ok(Claim::InFlight),
            2 => Ok(Claim::Done),
            other => Err(LedgerError::Unavailable(anyhow::anyhow!("claim script answered {other}"))),
        }
    }

    async fn complete(&self, id: &WebhookId, keep: Duration) -> Result<(), LedgerError> {
        let mut conn = checkout(&self.pool).await.map_err(LedgerError::Unavailable)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("SET").arg(self.done_key(id)).arg("1").arg("PX").arg(millis(keep)).ignore();
        pipe.cmd("DEL").arg(self.claim_key(id)).ignore();
        timed(&self.pool, pipe.query_async::<()>(&mut conn)).await.map_err(LedgerError::Unavailable)
    }

    async fn release(&self, id: &WebhookId) -> Result<(), LedgerError> {
        let mut conn = checkout(&self.pool).await.map_err(LedgerError::Unavailable)?;
        timed(&self.pool, redis::cmd("DEL").arg(self.claim_key(id)).query_async::<()>(&mut conn))
            .await
            .map_err(LedgerError::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use redis::cluster_routing::Slot;

    use super::*;

    #[tokio::test]
    async fn both_keys_of_any_id_share_one_cluster_slot() {
        let pool = super::super::pool("redis://127.0.0.1:1").await.expect("building the pool does not connect");
        let ledger = RedisEventLedger::new(pool, "farmlokal:");
        for raw in ["msg_1", "}x", "{", "}", "{}", "a{b}c", "%7D", "x}{y", "{{}}"] {
            let id = WebhookId::parse(raw).expect("a valid webhook id");
            let (done, claim) = (ledger.done_key(&id), ledger.claim_key(&id));
            assert_eq!(Slot::for_key(&done), Slot::for_key(&claim), "{raw:?}: {done} and {claim}");
        }
        let plain = WebhookId::parse("msg_1").expect("a valid webhook id");
        assert_eq!(ledger.done_key(&plain), "farmlokal:ledger:{msg_1}:done", "plain ids keep their readable keys");
    }

    #[tokio::test]
    async fn ids_that_differ_only_in_braces_or_percent_signs_get_different_keys() {
        let pool = super::super::pool("redis://127.0.0.1:1").await.expect("building the pool does not connect");
        let ledger = RedisEventLedger::new(pool, "p:");
        let ids = ["a{b", "a%7Bb", "a}b", "a%7Db", "a%b", "a%25b"];
        let keys: std::collections::HashSet<_> =
            ids.iter().map(|raw| ledger.done_key(&WebhookId::parse(raw).expect("valid"))).collect();
        assert_eq!(keys.len(), ids.len(), "{keys:?}");
    }
}
