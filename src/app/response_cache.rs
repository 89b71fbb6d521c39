//! Rendered pages, kept so that a repeated listing costs one cache read and no store query or serialisation.
//!
//! The cache holds opaque bytes: the caller renders a page and the cache keeps it with a validator (a digest of
//! the bytes) and, for listings, the next page's cursor. Each entry knows when it stops being fresh and is kept
//! for [`SERVE_STALE_FOR`] after that, so when rendering fails (the store is down) a recently expired page is
//! served as [`CacheStatus::Stale`] instead of an error. Concurrent misses of one key in one process render
//! once (single flight).
//!
//! An entry also keeps the page in the content codings clients asked for ([`Variant`]s: the codec is the
//! caller's). The miss that renders a page answers in the variant's quick encoding when it has one (a dense
//! encoding would make a compressed miss cost too much more than an identity one) and keeps it; the first hit
//! that asks for that coding replaces it with the dense encoding, written back with the entry, so only pages
//! asked for again pay for density and every later hit in that coding costs no compression work. The two
//! encodings differ in bytes, so they are told apart ([`Served::quick`]) and get different entity tags.
//!
//! Two tiers: the shared `Cache` port (Redis in a fleet) and a small in-process tier in front of it that keeps a
//! page for at most [`LOCAL_FOR`] and never past its freshness, so a hot page costs no network round trip while
//! every entry still expires when the TTL says. The in-process tier is bounded by bytes, not entries, and takes
//! a page when it is asked for again (read from the shared tier), not when it is rendered (see `store`).
//!
//! Freshness is judged by the [`Clock`] port, so a test that advances its clock past the TTL sees the page
//! expire. How long the shared tier physically keeps an entry is the `Cache` adapter's business (Redis by its
//! own clock); the in-process tier's [`LOCAL_FOR`] bound is real elapsed time, a limit on memory rather than on
//! freshness, and never keeps a page past the clock's freshness either.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::front::{self, Front, FrontOwner};
use super::sharded::ShardedCounter;
use super::single_flight::SingleFlight;
use crate::ports::{Cache, Clock};

/// How long a page is kept after it stops being fresh, to be served as `Stale` when rendering fails.
pub const SERVE_STALE_FOR: Duration = Duration::from_secs(600);
/// How long a page stays in the in-process tier (and never past its freshness).
pub const LOCAL_FOR: Duration = Duration::from_secs(1);
/// Bytes of pages the in-process tier holds at most.
const LOCAL_BYTES: u64 = 32 * 1024 * 1024;
/// How long a thread answers [`ResponseCache::local_page`] from the entries it keeps in front of the in-process
/// tier ([`front`]) before asking the tier again: a page may outlive [`LOCAL_FOR`] there by this much, never
/// its freshness.
const FRONT_FOR: Duration = Duration::from_millis(100);

thread_local! {
    /// This thread's entries of the in-process tiers of this process's caches.
    static PAGES: std::cell::RefCell<Front<Arc<Entry>>> = const { std::cell::RefCell::new(Front::new()) };
}

/// Where a served page came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A fresh cached copy.
    Hit,
    /// Rendered for this request.
    Miss,
    /// An expired copy, served because rendering failed.
    Stale,
}

/// What the caller knows of how often a page is asked for, which decides where a page rendered now is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demand {
    /// Nothing yet: a page rendered now goes to the shared tier only, and into the in-process tier when it is
    /// asked for again.
    Unknown,
    /// Asked for again and again (a hot listing target, the category list): a page rendered now is kept in
    /// process at once.
    Repeated,
}

/// A page as the caller rendered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: Bytes,
    /// The cursor of the next page, for listings.
    pub next_cursor: Option<String>,
}

/// An encoder of a page: the page in some coding, or `None` when it is better sent as it is.
pub type Encoder = fn(&[u8]) -> Option<Vec<u8>>;

/// A coding the cache may keep a page in beside its own bytes.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// The coding's name, as the caller will announce it (`br`).
    pub name: &'static str,
    /// The page in this coding as kept for hits, or `None` when it is better sent as it is (too short to gain).
    pub encode: Encoder,
    /// A cheaper encoding in the same coding for the miss that renders the page, when `encode` costs too much
    /// for a miss; `None` when `encode` is cheap enough.
    pub quick: Option<Encoder>,
}

/// How an entry names the quick encoding of a coding: the coding's name and this suffix (`br-fast`).
const QUICK_SUFFIX: &str = "-fast";

/// A page ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The page, in the coding `coding` names (its own bytes when `None`).
    pub body: Bytes,
    /// The variant `body` is encoded in.
    pub coding: Option<&'static str>,
    /// Whether `body` is the variant's quick encoding (the answer of the miss that rendered the page).
    pub quick: bool,
    /// A strong validator of the page's own bytes: the first 128 bits of their SHA-256, hex, in double quotes.
    pub tag: String,
    pub next_cursor: Option<String>,
    pub status: CacheStatus,
    /// How long ago the page was rendered.
    pub age: Duration,
    /// How much longer the page stays fresh (zero for a stale copy).
    pub fresh_for: Duration,
}

/// A page the in-process tier holds fresh, found by [`ResponseCache::local_page`] in the coding asked for.
pub struct LocalPage {
    entry: Arc<Entry>,
    variant: Option<Variant>,
    now: DateTime<Utc>,
}

impl LocalPage {
    /// The page as served, with its own copies of the tag and the cursor.
    pub fn served(&self) -> Served {
        self.entry.served(self.variant, CacheStatus::Hit, self.now)
    }

    /// The bytes sent: the page in the coding asked for (kept densely), or its own bytes.
    pub fn body(&self) -> Bytes {
        match self.variant.and_then(|v| self.entry.find(v.name)) {
            Some((body, _)) => body,
            None => self.entry.body.clone(),
        }
    }

    /// How long ago the page was rendered.
    pub fn age(&self) -> Duration {
        self.entry.age(self.now)
    }

    /// How much longer the page stays fresh.
    pub fn fresh_for(&self) -> Duration {
        self.entry.fresh_for(self.now)
    }

    /// Names this copy of the page in this coding, without keeping it.
    pub fn id(&self) -> PageId {
        PageId { entry: Arc::downgrade(&self.entry), coding: self.variant.map(|v| v.name) }
    }

    /// Whether `id` names this copy in this coding (without making an id of it: no reference count touched).
    pub fn is(&self, id: &PageId) -> bool {
        std::ptr::eq(id.entry.as_ptr(), Arc::as_ptr(&self.entry)) && id.coding == self.variant.map(|v| v.name)
    }
}

/// One copy of a page kept in the in-process tier, in one coding, named without being kept: [`LocalPage::is`]
/// tells whether a page found later is the same copy in the same coding (a page rendered again, or kept again
/// with another encoding added, is another copy). It keeps the page's bytes alive no longer than the tier does;
/// the `Weak` keeps its allocation, so the address it is told apart by is not reused while it exists.
#[derive(Debug)]
pub struct PageId {
    entry: std::sync::Weak<Entry>,
    coding: Option<&'static str>,
}

/// The two-tier cache of rendered pages whose rendering fails with `E` (shared by every caller that waited on
/// one render, hence `Clone`).
pub struct ResponseCache<E> {
    shared: Arc<dyn Cache>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    /// Hashed with foldhash, seeded per process: SipHash took 290 of the 900 instructions of a hot answer's
    /// lookup here (callgrind).
    local: moka::sync::Cache<String, Arc<Entry>, foldhash::quality::RandomState>,
    flights: SingleFlight<String, Result<Entry, E>>,
    /// Told of every insert into `local` and of `clear`, so no thread's [`PAGES`] answers past one.
    front: FrontOwner,
    /// `farmlokal_cache_requests_total` by result and `farmlokal_cache_local_hits_total`, looked up once.
    counts: Counts,
}

/// The cache's counters. Hits of the in-process tier, every hot request's, are counted per thread until
/// published ([`ResponseCache::publish_counts`]); a Redis hit adds to the same `hits`.
struct Counts {
    hits: ShardedCounter,
    local_hits: ShardedCounter,
    misses: metrics::Counter,
    stale: metrics::Counter,
}

impl Counts {
    fn local_hit(&self) {
        self.hits.increment(1);
        self.local_hits.increment(1);
    }
}

impl<E: Clone + std::error::Error> ResponseCache<E> {
    /// Pages fresh for `ttl` as `clock` tells the time, in front of `shared`.
    pub fn new(shared: Arc<dyn Cache>, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let local = moka::sync::Cache::builder()
            .max_capacity(LOCAL_BYTES)
            .weigher(|key: &String, entry: &Arc<Entry>| u32::try_from(key.len() + entry.size()).unwrap_or(u32::MAX))
            .time_to_live(LOCAL_FOR.min(ttl))
            .build_with_hasher(foldhash::quality::RandomState::default());
        let counts = Counts {
            hits: ShardedCounter::new(metrics::counter!("farmlokal_cache_requests_total", "result" => "hit")),
            local_hits: ShardedCounter::new(metrics::counter!("farmlokal_cache_local_hits_total")),
            misses: metrics::counter!("farmlokal_cache_requests_total", "result" => "miss"),
            stale: metrics::counter!("farmlokal_cache_requests_total", "result" => "stale"),
        };
        Self { shared, ttl, clock, local, front: FrontOwner::default(), flights: SingleFlight::new(), counts }
    }

    /// The fresh page under `key`, or `render` it (once for concurrent callers in this process) and keep it
    /// (in process too when `demand` is [`Demand::Repeated`]); in `variant`'s coding when given and the variant
    /// encodes it.
    ///
    /// A page fresh in the in-process tier that needs no work is answered without an await; everything else
    /// runs in a boxed future, so a caller's future (every request's, hits included) does not hold the miss
    /// path's state inline.
    ///
    /// # Errors
    /// `render`'s error when it fails and no copy of the page, however old, is kept.
    pub async fn get_or_render<F, Fut>(
        &self,
        key: String,
        variant: Option<Variant>,
        demand: Demand,
        render: F,
    ) -> Result<Served, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, E>>,
    {
        let now = self.clock.now();
        let local = self.local.get(&key).filter(|entry| entry.is_fresh(now));
        if let Some(entry) = &local {
            self.counts.local_hit();
            if variant.is_none_or(|v| entry.has(v.name)) {
                return Ok(entry.served(variant, CacheStatus::Hit, now));
            }
        }
        Box::pin(self.fill(key, local, variant, demand, render, now)).await
    }

    /// What [`Self::get_or_render`] does past an in-process hit that needs no work: `local` is the fresh
    /// in-process entry when there is one (it lacks the dense encoding `variant` wants).
    async fn fill<F, Fut>(
        &self,
        key: String,
        local: Option<Arc<Entry>>,
        variant: Option<Variant>,
        demand: Demand,
        render: F,
        now: DateTime<Utc>,
    ) -> Result<Served, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Rendered, E>>,
    {
        if let Some(entry) = local {
            // Fresh here but without the dense encoding this request's coding wants: encode it and keep it.
            return Ok(self.serve(&key, Entry::clone(&entry), variant, CacheStatus::Hit, now).await);
        }
        let stale = match self.shared.get(&key).await {
            Ok(Some(bytes)) => match Entry::decode(&bytes) {
                Some(entry) if entry.is_fresh(now) => {
                    self.counts.hits.increment(1);
                    self.local.insert(key.clone(), Arc::new(entry.clone()));
                    self.front.changed();
                    return Ok(self.serve(&key, entry, variant, CacheStatus::Hit, now).await);
                }
                entry => entry,
            },
            Ok(None) => None,
            Err(error) => {
                // Per request at debug: the Redis adapters log the outage itself once, when it starts and ends.
                tracing::debug!(error = %error, "response cache unavailable; rendering directly");
                None
            }
        };
        let rendered = self
            .flights
            .run(key.clone(), || async {
                let rendered = render().await?;
                let mut entry = Entry::new(rendered, self.ttl, self.clock.now());
                // The coding asked for is encoded (quickly) before the entry is stored: a miss writes once.
                if let Some(variant) = variant {
                    entry.add_quick(variant);
                }
                self.store(&key, &entry, demand == Demand::Repeated).await;
                Ok(entry)
            })
            .await;
        match (rendered, stale) {
            (Ok(entry), _) => {
                self.counts.misses.increment(1);
                Ok(self.serve(&key, entry, variant, CacheStatus::Miss, self.clock.now()).await)
            }
            (Err(error), Some(stale)) => {
                tracing::warn!(error = %ErrorChain(&error), "rendering a page failed; serving a stale copy");
                self.counts.stale.increment(1);
                Ok(stale.served(variant, CacheStatus::Stale, now))
            }
            (Err(error), None) => Err(error),
        }
    }

    /// The fresh page under `key` from the in-process tier, when it is there and needs no work: without
    /// `variant`, or kept densely encoded in it. No await and no copy: the hot path. Counted as a hit. Looked
    /// up in the thread's own entries first ([`PAGES`]), which answer until the tier changes or for
    /// [`FRONT_FOR`].
    pub fn local_page(&self, key: &str, variant: Option<Variant>) -> Option<LocalPage> {
        let now = self.clock.now();
        let entry = front::get_or_look_up(&PAGES, &self.front, key, FRONT_FOR, || self.local.get(key))
            .filter(|entry| entry.is_fresh(now))?;
        if variant.is_some_and(|v| !entry.has(v.name)) {
            return None;
        }
        self.counts.local_hit();
        Some(LocalPage { entry, variant, now })
    }

    /// `entry` as served in `variant`. When the entry lacks what this answer needs (a miss: any encoding in the
    /// variant's coding, its quick one if it has one; a hit: the dense one), it is encoded first and kept with
    /// the entry in both tiers (an encoding is known to be worth keeping only when it is one).
    async fn serve(
        &self,
        key: &str,
        mut entry: Entry,
        variant: Option<Variant>,
        status: CacheStatus,
        now: DateTime<Utc>,
    ) -> Served {
        if let Some(variant) = variant {
            let added = match status {
                CacheStatus::Miss => entry.find(variant.name).is_none() && entry.add_quick(variant),
                CacheStatus::Hit | CacheStatus::Stale => !entry.has(variant.name) && entry.add(variant),
            };
            if added {
                self.store(key, &entry, status != CacheStatus::Miss).await;
            }
        }
        entry.served(variant, status, now)
    }

    /// Keeps `entry` in the shared tier for the rest of its freshness plus [`SERVE_STALE_FOR`], and in the
    /// in-process tier when `local` (the page was asked for again) or when the shared tier failed to keep it (the
    /// local copy then spares the store for up to [`LOCAL_FOR`] while the shared tier is down).
    ///
    /// A page just rendered is kept locally only when the caller knows it is asked for repeatedly: most misses
    /// are of pages nobody asks for again within [`LOCAL_FOR`], and keeping each one cost an insert, held its
    /// bytes for a second (the misses of a long tail kept renewing megabytes in the caches the process shares
    /// with the database), and told every thread's [`PAGES`] to look again. Its second request reads it from the
    /// shared tier and keeps it here.
    async fn store(&self, key: &str, entry: &Entry, local: bool) {
        let fresh_for = entry.fresh_for(self.clock.now());
        let kept = match self.shared.set(key, &entry.encode(), fresh_for + SERVE_STALE_FOR).await {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(error = %error, "response cache unavailable; page not cached");
                false
            }
        };
        if local || !kept {
            self.local.insert(key.to_owned(), Arc::new(entry.clone()));
            self.front.changed();
        }
    }
}

impl<E> ResponseCache<E> {
    /// Moves the in-process hits counted per thread into the exported counters: before every scrape.
    pub fn publish_counts(&self) {
        self.counts.hits.publish();
        self.counts.local_hits.publish();
    }

    /// How long a page stays fresh.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Drops every page of the in-process tier, so the next request reads the shared `Cache`: for a test that
    /// changed the catalogue and cleared that cache. A render in flight still keeps its page when it finishes.
    pub fn clear(&self) {
        self.local.invalidate_all();
        self.front.changed();
    }
}

/// An error with its sources, for the log: `a: b: c`.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// A cached page. Encoded as lines, then the bodies, so decoding a hit parses no JSON and copies nothing:
/// `v2\n fresh_until_ms \n rendered_at_ms \n tag \n next_cursor \n name:len,name:len \n` + the page + each variant.
/// Anything else (an entry of an earlier release) decodes to `None`, a miss.
#[derive(Clone)]
struct Entry {
    fresh_until_ms: i64,
    rendered_at_ms: i64,
    tag: String,
    next_cursor: Option<String>,
    body: Bytes,
    /// The page in other codings, by name.
    variants: Vec<(String, Bytes)>,
}

const FORMAT: &[u8] = b"v2";

impl Entry {
    /// `rendered`, fresh for `ttl` from `now`.
    fn new(rendered: Rendered, ttl: Duration, now: DateTime<Utc>) -> Self {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let rendered_at_ms = now.timestamp_millis();
        Self {
            fresh_until_ms: rendered_at_ms.saturating_add(ttl_ms),
            rendered_at_ms,
            tag: tag_of(&rendered.body),
            next_cursor: rendered.next_cursor,
            body: rendered.body,
            variants: Vec::new(),
        }
    }

    fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        self.fresh_until_ms > now.timestamp_millis()
    }

    fn fresh_for(&self, now: DateTime<Utc>) -> Duration {
        Duration::from_millis(u64::try_from(self.fresh_until_ms - now.timestamp_millis()).unwrap_or(0))
    }

    fn age(&self, now: DateTime<Utc>) -> Duration {
        Duration::from_millis(u64::try_from(now.timestamp_millis() - self.rendered_at_ms).unwrap_or(0))
    }

    /// Bytes of the page in every coding kept.
    fn size(&self) -> usize {
        self.body.len() + self.variants.iter().map(|(_, body)| body.len()).sum::<usize>()
    }

    /// Whether the page is kept densely encoded in the coding `name`.
    fn has(&self, name: &str) -> bool {
        self.variants.iter().any(|(n, _)| n == name)
    }

    /// The page in the coding `name`, dense if kept, else quick (then `true`).
    fn find(&self, name: &str) -> Option<(Bytes, bool)> {
        let quick = |n: &str| n.strip_suffix(QUICK_SUFFIX) == Some(name);
        let found = self.variants.iter().find(|(n, _)| n == name).map(|(_, body)| (body.clone(), false));
        found.or_else(|| self.variants.iter().find(|(n, _)| quick(n)).map(|(_, body)| (body.clone(), true)))
    }

    /// Encodes the page densely in `variant`, replacing its quick encoding; `false` when the variant declines
    /// (the page is sent as it is).
    fn add(&mut self, variant: Variant) -> bool {
        let Some(encoded) = (variant.encode)(&self.body) else { return false };
        self.variants.retain(|(n, _)| n.strip_suffix(QUICK_SUFFIX) != Some(variant.name));
        self.variants.push((variant.name.to_owned(), encoded.into()));
        true
    }

    /// Encodes the page in `variant`'s quick encoding, or densely when it has none; `false` when it declines.
    fn add_quick(&mut self, variant: Variant) -> bool {
        let Some(quick) = variant.quick else { return self.add(variant) };
        let Some(encoded) = quick(&self.body) else { return false };
        self.variants.push((format!("{}{QUICK_SUFFIX}", variant.name), encoded.into()));
        true
    }

    fn encode(&self) -> Vec<u8> {
        let lengths: Vec<String> = self.variants.iter().map(|(name, body)| format!("{name}:{}", body.len())).collect();
        let head = format!(
            "v2\n{}\n{}\n{}\n{}\n{}\n",
            self.fresh_until_ms,
            self.rendered_at_ms,
            self.tag,
            self.next_cursor.as_deref().unwrap_or(""),
            lengths.join(",")
        );
        let mut out = Vec::with_capacity(head.len() + self.size());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.body);
        for (_, body) in &self.variants {
            out.extend_from_slice(body);
        }
        out
    }

    /// `None` for anything that is not an entry this code wrote; such an entry is treated as a miss.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut lines = bytes.splitn(7, |b| *b == b'\n');
        if lines.next()? != FORMAT {
            return None;
        }
        let mut text = || std::str::from_utf8(lines.next()?).ok();
        let fresh_until_ms = text()?.parse().ok()?;
        let rendered_at_ms = text()?.parse().ok()?;
        let tag = text()?.to_owned();
        let next_cursor = text().filter(|c| !c.is_empty()).map(str::to_owned);
        let lengths = text()?;
        let rest = lines.next()?;
        let mut named = Vec::new();
        for item in lengths.split(',').filter(|item| !item.is_empty()) {
            let (name, len) = item.split_once(':')?;
            named.push((name.to_owned(), len.parse::<usize>().ok()?));
        }
        let variants_len = named.iter().try_fold(0usize, |sum, (_, len)| sum.checked_add(*len))?;
        let body_len = rest.len().checked_sub(variants_len)?;
        let all = Bytes::copy_from_slice(rest);
        let body = all.slice(..body_len);
        let mut at = body_len;
        let variants = named
            .into_iter()
            .map(|(name, len)| {
                let part = all.slice(at..at + len);
                at += len;
                (name, part)
            })
            .collect();
        Some(Self { fresh_until_ms, rendered_at_ms, tag, next_cursor, body, variants })
    }

    fn served(&self, variant: Option<Variant>, status: CacheStatus, now: DateTime<Utc>) -> Served {
        let age = self.age(now);
        let fresh_for = if status == CacheStatus::Stale { Duration::ZERO } else { self.fresh_for(now) };
        let encoded = variant.and_then(|v| {
            // A stale copy is served without being written back, so a missing coding is encoded here, quickly.
            let encode_now = || {
                let quick = v.quick.unwrap_or(v.encode);
                (status == CacheStatus::Stale).then(|| quick(&self.body)).flatten().map(|b| (Bytes::from(b), true))
            };
            self.find(v.name).or_else(encode_now).map(|(body, quick)| (v.name, body, quick))
        });
        let (coding, body, quick) = match encoded {
            Some((name, body, quick)) => (Some(name), body, quick),
            None => (None, self.body.clone(), false),
        };
        let (tag, next_cursor) = (self.tag.clone(), self.next_cursor.clone());
        Served { body, coding, quick, tag, next_cursor, status, age, fresh_for }
    }
}

/// A strong validator: the first 128 bits of the body's SHA-256, quoted.
pub fn tag_of(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_with_its_variants_and_garbage_is_a_miss() {
        let now = DateTime::from_timestamp_millis(1_000).expect("a valid time");
        let rendered = Rendered { body: Bytes::from_static(b"{\"a\":\n1}"), next_cursor: Some("c".into()) };
        let mut entry = Entry::new(rendered, Duration::from_secs(60), now);
        let upper = Variant { name: "upper", encode: |b| Some(b.to_ascii_uppercase()), quick: None };
        assert!(entry.add(upper));
        let decoded = Entry::decode(&entry.encode()).expect("an entry decodes");
        let later = DateTime::from_timestamp_millis(3_500).expect("a valid time");
        let plain = decoded.clone().served(None, CacheStatus::Hit, later);
        assert_eq!(
            (&plain.body[..], plain.tag.as_str(), plain.next_cursor.as_deref(), plain.coding),
            (&b"{\"a\":\n1}"[..], tag_of(b"{\"a\":\n1}").as_str(), Some("c"), None)
        );
        assert_eq!((plain.age, plain.fresh_for), (Duration::from_millis(2_500), Duration::from_millis(57_500)));
        let upper_served = decoded.served(Some(upper), CacheStatus::Hit, later);
        assert_eq!((&upper_served.body[..], upper_served.coding), (&b"{\"A\":\n1}"[..], Some("upper")));
        assert!(Entry::decode(b"not an entry").is_none());
        assert!(Entry::decode(b"17\n\"e\"\nc\n{}").is_none(), "the format of the first release is a miss");
        assert!(Entry::decode(b"v2\n1\n1\n\"e\"\n\nbr:99\n{}").is_none(), "lengths past the end");
    }

    #[test]
    fn a_quick_encoding_is_kept_until_the_dense_one_replaces_it() {
        let now = DateTime::from_timestamp_millis(1_000).expect("a valid time");
        let rendered = Rendered { body: Bytes::from_static(b"page"), next_cursor: None };
        let mut entry = Entry::new(rendered, Duration::from_secs(60), now);
        let upper =
            Variant { name: "up", encode: |b| Some(b.to_ascii_uppercase()), quick: Some(|b| Some(b.repeat(2))) };
        assert!(entry.add_quick(upper));
        assert!(!entry.has("up"), "only the quick encoding so far");
        let quick =
            Entry::decode(&entry.encode()).expect("an entry decodes").served(Some(upper), CacheStatus::Hit, now);
        assert_eq!((&quick.body[..], quick.coding, quick.quick), (&b"pagepage"[..], Some("up"), true));
        assert!(entry.add(upper));
        let dense = Entry::decode(&entry.encode()).expect("an entry decodes");
        assert_eq!(dense.variants.len(), 1, "the dense encoding replaced the quick one");
        let dense = dense.served(Some(upper), CacheStatus::Hit, now);
        assert_eq!((&dense.body[..], dense.quick), (&b"PAGE"[..], false));
    }
}
