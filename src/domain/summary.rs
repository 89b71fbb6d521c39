//! Totals and facet counts of a listing (`include=total,facets`, DESIGN §8): what is asked, the fixed price
//! buckets, and the rule that decides, for each count, whether it is counted exactly or estimated.
//!
//! The rule, the same on every adapter: a count is exact when it is at most [`EXACT_LIMIT`]; above that it is an
//! estimate, never below `EXACT_LIMIT + 1`. No count ever costs more than reading `EXACT_LIMIT + 1` matches:
//! 1. Every adapter keeps a [`Sample`] of its catalogue: the products whose ids fall in evenly spaced windows
//!    of the id range (about [`SAMPLE_IDS`] ids), with the factor that scales a count in the sample to the
//!    catalogue. A sample estimate costs no read.
//! 2. A count whose sample estimate is at least [`SURELY_ABOVE`] is reported as that estimate: with a sample
//!    of 1 in 61 ids at a million products, a true count of 10,000 gives about 164 sample matches, and an
//!    estimate of 15,000 would need 246 (six standard deviations away).
//! 3. Any other count is counted, stopping at `EXACT_LIMIT + 1` matches ([`Plan::needed`]): at most the limit
//!    it is exact; beyond it the estimate is the sample's, raised to `EXACT_LIMIT + 1`.
//!
//! An adapter that keeps exact counts per (category, price, in stock) answers a listing without `q` from them
//! instead ([`from_tally`]): every value is then the true count, still marked an estimate above the limit.

use std::collections::HashMap;

use super::catalogue::{CategorySlug, Product};
use super::money::Money;
use super::query::ProductFilter;

/// Counts up to this are exact.
pub const EXACT_LIMIT: u64 = 10_000;
/// A sample estimate at least this large is reported without counting (see the module notes).
pub const SURELY_ABOVE: u64 = 15_000;
/// About how many ids a sample covers: 256 windows of 64 ids.
pub const SAMPLE_IDS: u64 = 16_384;
const SAMPLE_WINDOWS: u64 = 256;

/// The price bucket edges in paise: ₹0, ₹60, ₹100, ₹150, ₹250, ₹400 and up. The catalogue's prices run from
/// ₹20 (vegetables) to ₹900 (ghee), most under ₹250: these edges split the sample catalogue into six buckets
/// of 12% to 22% each (a unit test in `adapters::sample` holds them to 10-25%), at round amounts a shopper reads
/// at a glance.
pub const PRICE_EDGES: [u64; 6] = [0, 6_000, 10_000, 15_000, 25_000, 40_000];

/// What `include` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Include {
    pub total: bool,
    pub facets: bool,
}

/// Why an `include` value is refused; the message is shown to API clients as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncludeError {
    #[error("include may hold only `total` and `facets`, comma-separated; `{0}` is neither")]
    Unknown(String),
    #[error("include names `{0}` more than once")]
    Repeated(String),
}

impl Include {
    /// Parses `total`, `facets` or both, comma-separated, each at most once.
    ///
    /// # Errors
    /// `Unknown` for any other value (an empty one included), `Repeated` for a value given twice.
    pub fn parse(raw: &str) -> Result<Self, IncludeError> {
        let mut include = Include::default();
        for part in raw.split(',') {
            let flag = match part {
                "total" => &mut include.total,
                "facets" => &mut include.facets,
                other => return Err(IncludeError::Unknown(other.to_owned())),
            };
            if *flag {
                return Err(IncludeError::Repeated(part.to_owned()));
            }
            *flag = true;
        }
        Ok(include)
    }

    pub fn any(self) -> bool {
        self.total || self.facets
    }

    /// The canonical text for cache keys: `total`, `facets`, `total,facets`, or empty.
    pub fn canonical(self) -> &'static str {
        match (self.total, self.facets) {
            (true, true) => "total,facets",
            (true, false) => "total",
            (false, true) => "facets",
            (false, false) => "",
        }
    }
}

/// A count and whether it is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub value: u64,
    pub exact: bool,
}

/// One price bucket: `min` inclusive, `max` exclusive (`None`: no upper bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceBucket {
    pub min: u64,
    pub max: Option<u64>,
}

/// The fixed buckets, in order, covering 0 to infinity without overlap.
pub fn price_buckets() -> Vec<PriceBucket> {
    PRICE_EDGES
        .iter()
        .enumerate()
        .map(|(i, min)| PriceBucket { min: *min, max: PRICE_EDGES.get(i + 1).copied() })
        .collect()
}

/// Totals and facets of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub total: Option<Count>,
    /// Per category (in slug order), with every filter but the category.
    pub categories: Vec<(CategorySlug, Count)>,
    /// Per price bucket, with every filter but the price range.
    pub prices: Vec<(PriceBucket, Count)>,
}

/// What a repository is asked to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryQuery {
    pub filter: ProductFilter,
    pub include: Include,
}

/// The bounds of the rule; [`Limits::CONTRACT`] in service, smaller in tests that exercise estimates on a small
/// catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub exact: u64,
    pub surely_above: u64,
    pub sample_ids: u64,
}

impl Limits {
    pub const CONTRACT: Limits = Limits { exact: EXACT_LIMIT, surely_above: SURELY_ABOVE, sample_ids: SAMPLE_IDS };
}

impl Default for Limits {
    fn default() -> Self {
        Self::CONTRACT
    }
}

/// The id windows `[start, end]` (inclusive) a sample of a catalogue whose ids run from `min` to `max` reads,
/// and the factor from a count in them to the catalogue (id span / ids covered). A small catalogue is sampled
/// whole (factor 1).
pub fn sample_windows(min: u64, max: u64, sample_ids: u64) -> (Vec<(u64, u64)>, f64) {
    let span = max.saturating_sub(min).saturating_add(1);
    if max < min || span <= sample_ids {
        return (vec![(min, max)], 1.0);
    }
    let windows = SAMPLE_WINDOWS.min(sample_ids).max(1);
    let width = (sample_ids / windows).max(1);
    let stride = span / windows;
    let list: Vec<(u64, u64)> = (0..windows).map(|i| (min + i * stride, min + i * stride + width - 1)).collect();
    (list, span as f64 / (windows * width) as f64)
}

/// How many sampled products share one (category, price, in stock) key: what every count but a search reads.
type Group = ((CategorySlug, Money, bool), u32);

/// How many of `groups`' products `filter` admits (its category, price range and stock; not its search).
fn admitted(groups: &[Group], filter: &ProductFilter) -> u64 {
    groups
        .iter()
        .filter(|((category, price, in_stock), _)| filter.admits(category, *price, *in_stock))
        .map(|(_, n)| u64::from(*n))
        .sum()
}

/// The sampled products grouped by the keys the filters other than `q` read (a few thousand groups at most:
/// prices repeat), so each count sums groups instead of checking every sampled product.
fn group<'a>(products: impl Iterator<Item = &'a Product>) -> Vec<Group> {
    let mut grouped: HashMap<(&CategorySlug, Money, bool), u32> = HashMap::new();
    for product in products {
        *grouped.entry((&product.category, product.price, product.stock > 0)).or_default() += 1;
    }
    grouped.into_iter().map(|((category, price, in_stock), n)| ((category.clone(), price, in_stock), n)).collect()
}

/// A sample of the catalogue: its products in the sample windows and the factor to the whole.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub products: Vec<Product>,
    pub scale: f64,
    /// Every category of the catalogue, in slug order.
    pub categories: Vec<CategorySlug>,
    /// `products` grouped once, when the sample is taken, not once per summary.
    groups: Vec<Group>,
}

impl Sample {
    /// A sample of `products` standing for `scale` times as many, over `categories` (slug order).
    pub fn new(products: Vec<Product>, scale: f64, categories: Vec<CategorySlug>) -> Self {
        let groups = group(products.iter());
        Self { products, scale, categories, groups }
    }

    /// The estimated number of products matching `filter`. Without a search it sums the sample's groups (about
    /// a thousand at a million products) instead of checking its 16,384 products one by one: a listing miss
    /// with a price range asks this to choose its plan, and the product-by-product check was the service's
    /// costliest function under load (`perf`, 11% of its CPU on the (b) benchmark row).
    pub fn estimate(&self, filter: &ProductFilter) -> f64 {
        let hits = match &filter.search {
            None => admitted(&self.groups, filter),
            Some(_) => self.products.iter().filter(|p| filter.matches(p)).count() as u64,
        };
        hits as f64 * self.scale
    }
}

/// One count of a summary: its filter, its sample estimate, and whether it must be counted.
#[derive(Debug, Clone)]
pub struct Slot {
    pub filter: ProductFilter,
    estimate: f64,
    pub needs_count: bool,
}

/// The counts of a summary before the capped counts are made.
#[derive(Debug, Clone)]
pub struct Plan {
    limits: Limits,
    total: Option<usize>,
    categories: Vec<(CategorySlug, usize)>,
    prices: Vec<(PriceBucket, usize)>,
    pub slots: Vec<Slot>,
}

impl Plan {
    /// The counts `query` asks for, each estimated from `sample` and marked when it must be counted.
    pub fn new(query: &SummaryQuery, sample: &Sample, limits: Limits) -> Self {
        let mut plan = Plan { limits, total: None, categories: Vec::new(), prices: Vec::new(), slots: Vec::new() };
        // Every slot shares the search, the costly part of a match: the sample's matches of it are found and
        // grouped once; without a search the sample's own groups serve.
        let searched: Vec<Group>;
        let groups: &[Group] = match &query.filter.search {
            Some(search) => {
                searched = group(sample.products.iter().filter(|p| search.matches(p)));
                &searched
            }
            None => &sample.groups,
        };
        let mut slot = |filter: ProductFilter| {
            let estimate = admitted(groups, &filter) as f64 * sample.scale;
            plan.slots.push(Slot { filter, estimate, needs_count: estimate < limits.surely_above as f64 });
            plan.slots.len() - 1
        };
        let filter = &query.filter;
        let total = query.include.total.then(|| slot(filter.clone()));
        let mut categories = Vec::new();
        let mut prices = Vec::new();
        if query.include.facets {
            for category in &sample.categories {
                categories.push((
                    category.clone(),
                    slot(ProductFilter { category: Some(category.clone()), ..filter.clone() }),
                ));
            }
            for bucket in price_buckets() {
                let min_price = Money::from_paise(bucket.min).ok();
                let max_price = bucket.max.and_then(|m| Money::from_paise(m - 1).ok());
                prices.push((bucket, slot(ProductFilter { min_price, max_price, ..filter.clone() })));
            }
        }
        plan.total = total;
        plan.categories = categories;
        plan.prices = prices;
        plan
    }

    /// The most matches a capped count reads: one past the exact limit.
    pub fn cap(&self) -> u64 {
        self.limits.exact + 1
    }

    /// The summary, given the capped count of every slot that needs one (`counts[i]` for `slots[i]`; `None`
    /// for the others).
    pub fn finish(self, counts: &[Option<u64>]) -> Summary {
        let limits = self.limits;
        let count = |i: usize| {
            let estimated =
                || Count { value: (self.slots[i].estimate.round() as u64).max(limits.exact + 1), exact: false };
            match counts.get(i).copied().flatten() {
                Some(n) if n <= limits.exact => Count { value: n, exact: true },
                _ => estimated(),
            }
        };
        Summary {
            total: self.total.map(count),
            categories: self.categories.iter().map(|(c, i)| (c.clone(), count(*i))).collect(),
            prices: self.prices.iter().map(|(b, i)| (*b, count(*i))).collect(),
        }
    }
}

/// One category's kept counts under a filter ([`category_tallies`]): its products inside the filter's price
/// range, and in each price bucket, both under the filter's stock condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryTally {
    pub category: CategorySlug,
    pub in_range: u64,
    /// Per bucket of [`price_buckets`], in order.
    pub buckets: [u64; PRICE_EDGES.len()],
}

/// How many products share one (category, price, in stock): one kept count.
pub type TallyGroup = (CategorySlug, Money, bool, u64);

/// Every category's [`CategoryTally`] under `filter`'s price range and stock condition (its category and
/// search are not read), from kept counts sorted by category. One pass over the groups.
pub fn category_tallies(groups: &[TallyGroup], filter: &ProductFilter) -> Vec<CategoryTally> {
    let unbounded = ProductFilter { category: None, search: None, ..filter.clone() };
    let stock_only = ProductFilter { min_price: None, max_price: None, ..unbounded.clone() };
    let mut out: Vec<CategoryTally> = Vec::new();
    for (category, price, in_stock, n) in groups {
        if out.last().is_none_or(|t| &t.category != category) {
            out.push(CategoryTally { category: category.clone(), in_range: 0, buckets: [0; PRICE_EDGES.len()] });
        }
        let Some(tally) = out.last_mut() else { continue };
        if !stock_only.admits(category, *price, *in_stock) {
            continue;
        }
        if unbounded.admits(category, *price, *in_stock) {
            tally.in_range += n;
        }
        let bucket = PRICE_EDGES.iter().rposition(|edge| price.paise() >= *edge).unwrap_or(0);
        tally.buckets[bucket] += n;
    }
    out
}

/// The summary of `query`, which has no search, from exact kept counts of every category of the catalogue
/// (`tally`, in slug order). Every value is the true count; one above `limits.exact` is marked an estimate, as
/// the contract words it (it is then above the limit and within any factor of the truth).
pub fn from_tally(query: &SummaryQuery, tally: &[CategoryTally], limits: Limits) -> Summary {
    let count = |value: u64| Count { value, exact: value <= limits.exact };
    let filter = &query.filter;
    // The filter's category, or every category: what the total and the price buckets count.
    let counted = || tally.iter().filter(|t| filter.category.as_ref().is_none_or(|c| &t.category == c));
    let total = query.include.total.then(|| count(counted().map(|t| t.in_range).sum()));
    let (categories, prices) = if query.include.facets {
        let categories = tally.iter().map(|t| (t.category.clone(), count(t.in_range))).collect();
        let prices = price_buckets()
            .into_iter()
            .enumerate()
            .map(|(i, bucket)| (bucket, count(counted().map(|t| t.buckets[i]).sum())))
            .collect();
        (categories, prices)
    } else {
        (Vec::new(), Vec::new())
    };
    Summary { total, categories, prices }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_takes_total_and_facets_once_each() {
        assert_eq!(Include::parse("total"), Ok(Include { total: true, facets: false }));
        assert_eq!(Include::parse("facets,total"), Ok(Include { total: true, facets: true }));
        assert!(matches!(Include::parse("total,total"), Err(IncludeError::Repeated(_))));
        assert!(matches!(Include::parse("count"), Err(IncludeError::Unknown(_))));
        assert!(matches!(Include::parse(""), Err(IncludeError::Unknown(_))));
        assert!(matches!(Include::parse("total,"), Err(IncludeError::Unknown(_))));
    }

    #[test]
    fn buckets_cover_every_price_once() {
        let buckets = price_buckets();
        assert_eq!(buckets[0].min, 0);
        assert_eq!(buckets.last().and_then(|b| b.max), None);
        assert!(buckets.windows(2).all(|w| w[0].max == Some(w[1].min)));
    }

    #[test]
    fn sample_windows_spread_over_the_ids_and_scale_to_the_whole() {
        let (windows, scale) = sample_windows(1, 1_000_000, SAMPLE_IDS);
        assert_eq!(windows.len(), 256);
        assert_eq!(windows[0], (1, 64));
        assert!(windows.last().is_some_and(|w| w.1 <= 1_000_000 && w.0 > 990_000));
        assert!((scale - 1_000_000.0 / 16_384.0).abs() < 1e-6);
        assert_eq!(sample_windows(1, 3_000, SAMPLE_IDS), (vec![(1, 3_000)], 1.0));
    }

    #[test]
    fn kept_counts_give_exact_totals_and_facets_and_mark_the_large_ones_estimates() {
        let slug = |s: &str| CategorySlug::parse(s).expect("a valid slug");
        let tally = [
            CategoryTally { category: slug("dairy"), in_range: 40, buckets: [1, 2, 3, 4, 5, 6] },
            CategoryTally { category: slug("fruits"), in_range: 12_000, buckets: [10, 20, 30, 40, 50, 60] },
        ];
        let query = |category: Option<&str>| SummaryQuery {
            filter: ProductFilter { category: category.map(slug), ..ProductFilter::default() },
            include: Include { total: true, facets: true },
        };
        let dairy = from_tally(&query(Some("dairy")), &tally, Limits::CONTRACT);
        assert_eq!(dairy.total, Some(Count { value: 40, exact: true }));
        let prices: Vec<u64> = dairy.prices.iter().map(|(_, c)| c.value).collect();
        assert_eq!(prices, [1, 2, 3, 4, 5, 6]);
        // The category facet ignores the filter's category.
        assert_eq!(dairy.categories[1], (slug("fruits"), Count { value: 12_000, exact: false }));
        let all = from_tally(&query(None), &tally, Limits::CONTRACT);
        assert_eq!(all.total, Some(Count { value: 12_040, exact: false }));
        assert_eq!(all.prices[5].1, Count { value: 66, exact: true });
        let only_total = from_tally(
            &SummaryQuery { include: Include { total: true, facets: false }, ..query(None) },
            &tally,
            Limits::CONTRACT,
        );
        assert!(only_total.categories.is_empty() && only_total.prices.is_empty());
    }

    #[test]
    fn category_tallies_sum_the_groups_the_filter_admits() {
        let slug = |s: &str| CategorySlug::parse(s).expect("a valid slug");
        let rupees = |r: u64| Money::from_paise(r * 100).expect("a valid price");
        let groups: Vec<TallyGroup> = vec![
            (slug("dairy"), rupees(50), true, 3),
            (slug("dairy"), rupees(60), false, 4),
            (slug("dairy"), rupees(450), true, 5),
            (slug("fruits"), rupees(99), true, 7),
        ];
        let filter = ProductFilter {
            min_price: Some(rupees(50)),
            max_price: Some(rupees(99)),
            in_stock: Some(true),
            category: Some(slug("fruits")),
            ..ProductFilter::default()
        };
        let tallies = category_tallies(&groups, &filter);
        assert_eq!(
            tallies,
            [
                CategoryTally { category: slug("dairy"), in_range: 3, buckets: [3, 0, 0, 0, 0, 5] },
                CategoryTally { category: slug("fruits"), in_range: 7, buckets: [0, 7, 0, 0, 0, 0] },
            ]
        );
        let any_stock = category_tallies(&groups, &ProductFilter::default());
        assert_eq!(any_stock[0], CategoryTally { category: slug("dairy"), in_range: 12, buckets: [3, 4, 0, 0, 0, 5] });
    }

    #[test]
    fn a_sample_estimate_sums_its_groups_exactly_as_checking_each_product_would() {
        let slugs = ["dairy", "fruits", "vegetables"].map(|s| CategorySlug::parse(s).expect("a valid slug"));
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let products: Vec<Product> = (1..=3_000u64)
            .map(|n| Product {
                id: super::super::catalogue::ProductId::new(n).expect("a positive id"),
                name: format!("Product {n}"),
                description: String::new(),
                category: slugs[(n % 3) as usize].clone(),
                price: Money::from_paise((20 + n * 7 % 180) * 100).unwrap_or_default(),
                unit: "kg".to_owned(),
                stock: (n % 11) as u32,
                producer_id: n % 5,
                created_at: at,
                updated_at: at,
                price_effective_at: at,
            })
            .collect();
        let sample = Sample::new(products.clone(), 2.5, Vec::new());
        let rupees = |r: u64| Money::from_paise(r * 100).ok();
        let filters = [
            ProductFilter::default(),
            ProductFilter { min_price: rupees(50), max_price: rupees(120), ..ProductFilter::default() },
            ProductFilter { category: CategorySlug::parse("dairy").ok(), ..ProductFilter::default() },
            ProductFilter { max_price: rupees(60), in_stock: Some(false), ..ProductFilter::default() },
        ];
        for filter in filters {
            let one_by_one = products.iter().filter(|p| filter.matches(p)).count() as f64 * 2.5;
            assert_eq!(sample.estimate(&filter), one_by_one, "{filter:?}");
        }
    }
}
