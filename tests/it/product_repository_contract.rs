//! The `ProductRepository` contract, checked against the in-memory and the MySQL adapter holding the same
//! sample catalogue. Listings are compared with brute force over `sample::products(n)` (`ProductFilter::matches`
//! + `Sort::compare`), so both adapters must give identical answers for every query shape and page.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use farmlokal::adapters::memory::product_repository::MemoryProductRepository;
use farmlokal::adapters::mysql::{self as mysql_adapter, MysqlProductRepository};
use farmlokal::adapters::sample;
use farmlokal::domain::summary::{self, Count, Include, Limits, PriceBucket, SummaryQuery};
use farmlokal::domain::webhook::{InventoryChange, InventoryEvent, WebhookId};
use farmlokal::domain::{CategorySlug, ListQuery, Money, Product, ProductFilter, ProductId, SearchText, Sort};
use farmlokal::ports::product_repository::{ApplyOutcome, ProductRepository, RepositoryError};

use crate::harness::servers;

/// Size of the seeded catalogue: large enough for many ties and several pages per query.
const PRODUCTS: u64 = 3_000;

fn id(n: u64) -> ProductId {
    ProductId::new(n).expect("test ids are positive")
}

fn money(paise: u64) -> Money {
    Money::from_paise(paise).expect("test prices are valid")
}

fn slug(s: &str) -> CategorySlug {
    CategorySlug::parse(s).expect("test slugs are valid")
}

fn search(q: &str) -> SearchText {
    SearchText::parse(q).expect("test searches are valid")
}

fn event(event_id: &str, change: InventoryChange) -> InventoryEvent {
    InventoryEvent { id: WebhookId::parse(event_id).expect("test ids are valid"), change }
}

/// The filters every sort is checked with: none, each filter alone, and combinations, including searches on
/// stopwords, two-letter prefixes and words shorter than the indexed minimum.
fn filter_shapes() -> Vec<ProductFilter> {
    let none = ProductFilter::default();
    let category = |c: &str| ProductFilter { category: Some(slug(c)), ..none.clone() };
    let q = |text: &str| ProductFilter { search: Some(search(text)), ..none.clone() };
    vec![
        none.clone(),
        category("vegetables"),
        category("pickles"),
        category("no-such-category"),
        ProductFilter { min_price: Some(money(20_000)), ..none.clone() },
        ProductFilter { max_price: Some(money(5_000)), ..none.clone() },
        ProductFilter { min_price: Some(money(10_000)), max_price: Some(money(10_000)), ..none.clone() },
        ProductFilter { min_price: Some(money(4_000)), max_price: Some(money(9_000)), ..category("fruits") },
        q("tom"),
        q("Organic TOMATOES"),
        q("hoskote"),
        q("to"),
        q("the"),
        q("from"),
        q("kg"),
        q("pgs india"),
        q("women"),
        q("zzzz"),
        ProductFilter { search: Some(search("milk")), min_price: Some(money(5_000)), ..category("dairy") },
        // Stock, alone and with every other filter.
        none.clone().with_in_stock(Some(true)),
        none.clone().with_in_stock(Some(false)),
        ProductFilter { min_price: Some(money(4_000)), max_price: Some(money(9_000)), ..category("fruits") }
            .with_in_stock(Some(true)),
        ProductFilter { search: Some(search("fresh")), ..category("vegetables") }.with_in_stock(Some(true)),
        // Hindi, romanised Hindi and Kannada, through the synonym table; two-letter Devanagari words.
        q("tamatar"),
        q("टमाटर"),
        q("ಟೊಮೆಟೊ"),
        q("pyaaz"),
        q("doodh"),
        q("घी"),
        q("दूध"),
        q("aam ka achar"),
        q("ताज़ा"),
        ProductFilter { search: Some(search("gobhi")), max_price: Some(money(8_000)), ..none.clone() },
    ]
}

/// The counts a summary must give, by brute force over `catalogue`.
fn brute_count(catalogue: &[Product], filter: &ProductFilter) -> u64 {
    catalogue.iter().filter(|p| filter.matches(p)).count() as u64
}

/// Checks one count against the truth: equal and exact when the truth is at most `limit`, otherwise an
/// estimate above `limit` within a factor of 1.5.
fn check_count(what: &str, got: Count, truth: u64, limit: u64) {
    if truth <= limit {
        assert_eq!(got, Count { value: truth, exact: true }, "{what}: at most {limit}, so exact");
    } else {
        assert!(!got.exact, "{what}: {truth} is above {limit}, so an estimate ({got:?})");
        assert!(got.value > limit, "{what}: an estimate is never at or below {limit} ({got:?})");
        let ratio = got.value.max(truth) as f64 / got.value.min(truth) as f64;
        assert!(ratio <= 1.5, "{what}: estimate {} for {truth} is off by {ratio:.2}", got.value);
    }
}

/// The summary contract for every filter shape: total, category facet (every category, slug order, the filter's
/// category replaced) and price facet (every bucket, in order, the filter's price range replaced).
async fn summary_contract(repo: &dyn ProductRepository, catalogue: &[Product], limit: u64) {
    let mut categories: Vec<CategorySlug> = catalogue.iter().map(|p| p.category.clone()).collect();
    categories.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    categories.dedup();
    let everything = Include { total: true, facets: true };
    for filter in filter_shapes() {
        let name = filter.canonical(Sort::DEFAULT);
        // The search part once (it is the costly part of the brute force), the rest per count.
        let catalogue: Vec<Product> =
            catalogue.iter().filter(|p| filter.search.as_ref().is_none_or(|s| s.matches(p))).cloned().collect();
        let catalogue = catalogue.as_slice();
        let query = SummaryQuery { filter: filter.clone(), include: everything };
        let filter = ProductFilter { search: None, ..filter };
        let got = repo.summarize(&query).await.expect("summarize never fails here");
        check_count(&format!("{name} total"), got.total.expect("a total"), brute_count(catalogue, &filter), limit);
        let slugs: Vec<&CategorySlug> = got.categories.iter().map(|(c, _)| c).collect();
        assert_eq!(slugs, categories.iter().collect::<Vec<_>>(), "{name}: every category, in slug order");
        for (category, count) in &got.categories {
            let with = ProductFilter { category: Some(category.clone()), ..filter.clone() };
            check_count(&format!("{name} category {category}"), *count, brute_count(catalogue, &with), limit);
        }
        let buckets: Vec<PriceBucket> = got.prices.iter().map(|(b, _)| *b).collect();
        assert_eq!(buckets, summary::price_buckets(), "{name}: every bucket, in order");
        for (bucket, count) in &got.prices {
            let in_bucket = |p: &Product| {
                let with = ProductFilter { min_price: None, max_price: None, ..filter.clone() };
                with.matches(p) && p.price.paise() >= bucket.min && bucket.max.is_none_or(|m| p.price.paise() < m)
            };
            let truth = catalogue.iter().filter(|p| in_bucket(p)).count() as u64;
            check_count(&format!("{name} price {bucket:?}"), *count, truth, limit);
        }
        // Only what is asked for.
        let total_only = SummaryQuery { filter: query.filter.clone(), include: Include { total: true, facets: false } };
        let got = repo.summarize(&total_only).await.expect("summarize");
        assert!(got.total.is_some() && got.categories.is_empty() && got.prices.is_empty(), "{name}: total only");
    }
}

fn expected(catalogue: &[Product], filter: &ProductFilter, sort: Sort) -> Vec<Product> {
    let mut out: Vec<Product> = catalogue.iter().filter(|p| filter.matches(p)).cloned().collect();
    out.sort_by(|a, b| sort.compare(a, b));
    out
}

/// Walks every page of one query and checks each against brute force.
async fn check_walk(repo: &dyn ProductRepository, catalogue: &[Product], filter: &ProductFilter, sort: Sort) {
    let want = expected(catalogue, filter, sort);
    let page = 97;
    let mut after = None;
    let mut seen = 0;
    loop {
        let query = ListQuery { filter: filter.clone(), sort, after: after.clone(), fetch: page };
        let got = repo.list(&query).await.expect("list never fails here");
        let end = (seen + page).min(want.len());
        assert!(got == want[seen..end], "{} page at {seen}: differs from brute force", filter.canonical(sort));
        seen = end;
        match got.last() {
            Some(last) if got.len() == page => after = Some(sort.position_of(last)),
            _ => break,
        }
    }
    assert_eq!(seen, want.len(), "{}: walking all pages returns each product once", filter.canonical(sort));
}

/// Everything the port promises. `repo` holds exactly `sample::products(count)`, untouched.
async fn product_repository_contract(repo: &dyn ProductRepository, count: u64) {
    let catalogue: Vec<Product> = sample::products(count).collect();

    // list: order, tie-break by id in the same direction, strictly after the position, every filter.
    for filter in filter_shapes() {
        let matching: Vec<Product> = catalogue.iter().filter(|p| filter.matches(p)).cloned().collect();
        for sort in Sort::ALL {
            check_walk(repo, &matching, &filter, sort).await;
        }
    }

    // list: at most `fetch` products; the position itself is never repeated.
    for sort in Sort::ALL {
        let want = expected(&catalogue, &ProductFilter::default(), sort);
        let first = ListQuery { filter: ProductFilter::default(), sort, after: None, fetch: 5 };
        assert_eq!(repo.list(&first).await.expect("list"), want[..5].to_vec(), "{sort}: fetch bounds the page");
        let after = Some(sort.position_of(&want[0]));
        let next = repo.list(&ListQuery { after, fetch: 1, ..first }).await.expect("list");
        assert_eq!(next, vec![want[1].clone()], "{sort}: after is strict");
    }

    // get: the product, or NotFound.
    assert_eq!(repo.get(id(1)).await.expect("product 1 exists"), sample::product(id(1)));
    assert_eq!(repo.get(id(count)).await.expect("the last product exists"), sample::product(id(count)));
    assert!(matches!(repo.get(id(count + 1)).await, Err(RepositoryError::NotFound)));

    // categories: every category with products, ordered by slug, with its count.
    let mut want: Vec<(String, String, u64)> = sample::CATEGORIES
        .iter()
        .map(|c| {
            (
                c.slug.to_owned(),
                c.name.to_owned(),
                catalogue.iter().filter(|p| p.category.as_str() == c.slug).count() as u64,
            )
        })
        .filter(|(_, _, n)| *n > 0)
        .collect();
    want.sort();
    let got: Vec<(String, String, u64)> = repo
        .categories()
        .await
        .expect("categories")
        .into_iter()
        .map(|c| (c.slug.as_str().to_owned(), c.name, c.product_count))
        .collect();
    assert_eq!(got, want);

    summary_contract(repo, &catalogue, summary::EXACT_LIMIT).await;

    apply_event_contract(repo, count).await;
}

async fn apply_event_contract(repo: &dyn ProductRepository, count: u64) {
    let target = id(count / 2);
    let before = repo.get(target).await.expect("target exists");

    // Applied once per event id; a redelivery changes nothing.
    let add = event("evt-add", InventoryChange::StockAdjusted { product_id: target, delta: 7 });
    assert_eq!(repo.apply_event(&add).await.expect("apply"), ApplyOutcome::Applied);
    assert_eq!(repo.get(target).await.expect("get").stock, before.stock + 7);
    assert_eq!(repo.apply_event(&add).await.expect("redelivery"), ApplyOutcome::AlreadyApplied);
    assert_eq!(repo.get(target).await.expect("get").stock, before.stock + 7);

    // Event ids are compared exactly: another case is another event.
    let other_case = event("EVT-ADD", InventoryChange::StockAdjusted { product_id: target, delta: 1 });
    assert_eq!(repo.apply_event(&other_case).await.expect("apply"), ApplyOutcome::Applied);

    // An unknown product: NotFound, and nothing recorded, so the same id applies later.
    let missing = event("evt-missing", InventoryChange::StockAdjusted { product_id: id(count + 10), delta: 1 });
    assert!(matches!(repo.apply_event(&missing).await, Err(RepositoryError::NotFound)));
    let retried = event("evt-missing", InventoryChange::StockAdjusted { product_id: target, delta: 1 });
    assert_eq!(repo.apply_event(&retried).await.expect("same id, known product"), ApplyOutcome::Applied);

    // Stock never goes below zero.
    let drain = event("evt-drain", InventoryChange::StockAdjusted { product_id: target, delta: -1_000_000 });
    assert_eq!(repo.apply_event(&drain).await.expect("apply"), ApplyOutcome::Applied);
    assert_eq!(repo.get(target).await.expect("get").stock, 0);

    // A newer price wins (an equal effective time counts as newer); an older one is recorded but loses.
    let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0).expect("valid time");
    let base = before.price_effective_at.timestamp();
    let newer = InventoryChange::PriceUpdated { product_id: target, price: money(12_345), effective_at: at(base + 60) };
    assert_eq!(repo.apply_event(&event("evt-price-new", newer)).await.expect("apply"), ApplyOutcome::Applied);
    let older = InventoryChange::PriceUpdated { product_id: target, price: money(99), effective_at: at(base + 30) };
    assert_eq!(repo.apply_event(&event("evt-price-old", older)).await.expect("apply"), ApplyOutcome::Applied);
    let after = repo.get(target).await.expect("get");
    assert_eq!(after.price, money(12_345), "an older price does not overwrite a newer one");
    assert_eq!(after.price_effective_at, at(base + 60));
    let same = InventoryChange::PriceUpdated { product_id: target, price: money(5_000), effective_at: at(base + 60) };
    assert_eq!(repo.apply_event(&event("evt-price-same", same)).await.expect("apply"), ApplyOutcome::Applied);
    assert_eq!(repo.get(target).await.expect("get").price, money(5_000));
    assert_eq!(
        repo.apply_event(&event("evt-price-old", InventoryChange::StockAdjusted { product_id: target, delta: 5 }))
            .await
            .expect("redelivery"),
        ApplyOutcome::AlreadyApplied
    );
}

/// 50 deliveries of one event id at the same moment: exactly one applies, and the stock changes once.
async fn concurrent_duplicates_apply_once(repo: Arc<dyn ProductRepository>) {
    let target = id(42);
    let before = repo.get(target).await.expect("target exists").stock;
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (repo, barrier) = (Arc::clone(&repo), Arc::clone(&barrier));
            tokio::spawn(async move {
                let change = InventoryChange::StockAdjusted { product_id: target, delta: 3 };
                barrier.wait().await;
                repo.apply_event(&event("evt-concurrent", change)).await
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(ApplyOutcome::Applied) => applied += 1,
            Ok(ApplyOutcome::AlreadyApplied) => {}
            Err(e) => panic!("a concurrent duplicate must not fail: {e:?}"),
        }
    }
    assert_eq!(applied, 1, "exactly one delivery applies");
    assert_eq!(repo.get(target).await.expect("get").stock, before + 3, "the stock changed once");
}

/// Price changes and stock crossing zero, 70 at the same moment (pairs of products of one category swapping
/// prices, so two changes move products between the same (category, price) groups in opposite directions):
/// every change applies, and totals and facets then equal brute force over the products as they are now.
async fn concurrent_changes_keep_totals_and_facets_exact(repo: Arc<dyn ProductRepository>, count: u64) {
    let all = ListQuery { filter: ProductFilter::default(), sort: Sort::DEFAULT, after: None, fetch: 100_000 };
    let before = repo.list(&all).await.expect("list");
    // Counts read before the changes, which an adapter may hold on to: the changes must make them go.
    summary_contract(repo.as_ref(), &before, summary::EXACT_LIMIT).await;
    let vegetables: Vec<&Product> = before.iter().filter(|p| p.category.as_str() == "vegetables").take(40).collect();
    assert!(vegetables.len() == 40 && count >= 400, "enough vegetables to move around");
    let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0).expect("valid time");
    let mut changes = Vec::new();
    for pair in vegetables.chunks(2).take(10) {
        let (a, b) = (pair[0], pair[1]);
        let later = a.price_effective_at.max(b.price_effective_at).timestamp() + 60;
        changes.push(InventoryChange::PriceUpdated { product_id: a.id, price: b.price, effective_at: at(later) });
        changes.push(InventoryChange::PriceUpdated { product_id: b.id, price: a.price, effective_at: at(later) });
        // And across a bucket edge: ₹450 is in the last bucket, above every vegetable's price.
        changes.push(InventoryChange::PriceUpdated {
            product_id: a.id,
            price: money(45_000),
            effective_at: at(later + 1),
        });
    }
    for p in &vegetables[20..] {
        changes.push(InventoryChange::StockAdjusted { product_id: p.id, delta: -1_000_000 });
        changes.push(InventoryChange::StockAdjusted { product_id: p.id, delta: 5 });
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(changes.len()));
    let tasks: Vec<_> = changes
        .into_iter()
        .enumerate()
        .map(|(i, change)| {
            let (repo, barrier) = (Arc::clone(&repo), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                repo.apply_event(&event(&format!("evt-move-{i}"), change)).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("a concurrent change must not fail"), ApplyOutcome::Applied);
    }
    let now = repo.list(&all).await.expect("list");
    assert_ne!(now, before, "the changes moved products");
    assert!(now.iter().any(|p| p.price == money(45_000) && p.category.as_str() == "vegetables"));
    // A drain and a refill raced: whichever came last decides, and the counts must agree with it.
    summary_contract(repo.as_ref(), &now, summary::EXACT_LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_product_repository_honours_the_contract() {
    let repo = MemoryProductRepository::sample(PRODUCTS);
    product_repository_contract(&repo, PRODUCTS).await;
}

/// A memory catalogue built without some products, given them afterwards (and a stranger added, changed and
/// removed) holds exactly the sample: its indexes follow every `insert` and `remove`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_catalogue_changed_after_it_was_built_honours_the_contract() {
    let (late, early): (Vec<Product>, Vec<Product>) = sample::products(PRODUCTS).partition(|p| p.id.get() % 61 == 0);
    let repo = MemoryProductRepository::with_products(early);
    let mut stranger = late[0].clone();
    stranger.id = id(PRODUCTS + 1);
    repo.insert(stranger.clone());
    for product in late {
        let mut changed = product.clone();
        changed.price = money(1);
        changed.name = "Placeholder".to_owned();
        assert!(repo.insert(changed).is_none(), "a new id");
        assert!(repo.insert(product).is_some(), "the same id is replaced");
    }
    stranger.price = money(2);
    assert!(repo.insert(stranger).is_some());
    assert!(repo.remove(id(PRODUCTS + 1)).is_some());
    assert!(repo.remove(id(PRODUCTS + 1)).is_none(), "removed once");
    product_repository_contract(&repo, PRODUCTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_product_repository_honours_the_contract() {
    let Some(url) = servers::seeded_mysql("mysql_product_repository_honours_the_contract", PRODUCTS).await else {
        return;
    };
    let repo = MysqlProductRepository::new(&url, None).expect("valid URL");
    product_repository_contract(&repo, PRODUCTS).await;
    repo.disconnect().await.expect("disconnect");
    servers::drop_mysql_database(&url).await;
}

/// Searches answered from FULLTEXT match sets alone (the path of rare words, skipped by the walk that finds
/// common ones) give the same pages, and a price change this instance applies shows at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_searches_from_match_sets_honour_the_contract() {
    let Some(url) = servers::seeded_mysql("mysql_searches_from_match_sets_honour_the_contract", PRODUCTS).await else {
        return;
    };
    let repo = MysqlProductRepository::new(&url, None).expect("valid URL").without_search_walk();
    let catalogue: Vec<Product> = sample::products(PRODUCTS).collect();
    for filter in filter_shapes().into_iter().filter(|f| f.search.is_some()) {
        let matching: Vec<Product> = catalogue.iter().filter(|p| filter.matches(p)).cloned().collect();
        for sort in Sort::ALL {
            check_walk(&repo, &matching, &filter, sort).await;
        }
    }

    // The dearest match of a search is made the cheapest: the next first page by price starts with it.
    let filter = ProductFilter { search: Some(search("tom")), ..ProductFilter::default() };
    let first =
        ListQuery { filter: filter.clone(), sort: Sort::parse("price").expect("a sort"), after: None, fetch: 5 };
    let before = repo.list(&first).await.expect("list");
    let dearest = expected(&catalogue, &filter, first.sort).pop().expect("tom matches products");
    assert!(!before.contains(&dearest));
    let change = InventoryChange::PriceUpdated {
        product_id: dearest.id,
        price: money(100),
        effective_at: dearest.price_effective_at + chrono::Duration::seconds(1),
    };
    assert_eq!(repo.apply_event(&event("evt-search-price", change)).await.expect("apply"), ApplyOutcome::Applied);
    let after = repo.list(&first).await.expect("list");
    assert_eq!(after.first().map(|p| (p.id, p.price)), Some((dearest.id, money(100))), "{after:?}");
    assert_eq!(after[1..], before[..4], "the others move down one place");
    repo.disconnect().await.expect("disconnect");
    servers::drop_mysql_database(&url).await;
}

/// Searches with more matches than a set holds are answered by FULLTEXT with their filters, sort and LIMIT,
/// and give the same pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_searches_too_broad_for_a_match_set_honour_the_contract() {
    let Some(url) =
        servers::seeded_mysql("mysql_searches_too_broad_for_a_match_set_honour_the_contract", PRODUCTS).await
    else {
        return;
    };
    let repo = MysqlProductRepository::new(&url, None).expect("valid URL").without_search_walk().with_match_limit(3);
    let catalogue: Vec<Product> = sample::products(PRODUCTS).collect();
    let mut too_broad = 0;
    for filter in filter_shapes().into_iter().filter(|f| f.search.is_some()) {
        let matches = catalogue.iter().filter(|p| filter.search.as_ref().is_some_and(|s| s.matches(p))).count();
        too_broad += usize::from(matches > 3);
        let matching: Vec<Product> = catalogue.iter().filter(|p| filter.matches(p)).cloned().collect();
        for sort in Sort::ALL {
            check_walk(&repo, &matching, &filter, sort).await;
        }
    }
    assert!(too_broad >= 5, "most searches here are too broad for a set of 3 ({too_broad})");
    repo.disconnect().await.expect("disconnect");
    servers::drop_mysql_database(&url).await;
}

/// Two instances on one database, each answering searches from its own match sets: when one reprices
/// products, the other's stale set still fills whole pages (candidates that now fail the price range are read
/// past), notices that it disagrees with the rows, and is reloaded by the next search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_set_another_instance_made_stale_still_fills_pages_and_reloads() {
    let Some(url) =
        servers::seeded_mysql("a_match_set_another_instance_made_stale_still_fills_pages_and_reloads", PRODUCTS).await
    else {
        return;
    };
    let writer = MysqlProductRepository::new(&url, None).expect("valid URL").without_search_walk();
    let reader = MysqlProductRepository::new(&url, None).expect("valid URL").without_search_walk();
    let mut catalogue: Vec<Product> = sample::products(PRODUCTS).collect();
    let filter = ProductFilter {
        search: Some(search("tom")),
        min_price: Some(money(2_000)),
        max_price: Some(money(6_000)),
        ..ProductFilter::default()
    };
    let query =
        ListQuery { filter: filter.clone(), sort: Sort::parse("price").expect("a sort"), after: None, fetch: 5 };
    assert_eq!(reader.list(&query).await.expect("list"), expected(&catalogue, &filter, query.sort)[..5]);

    // The writer moves the six cheapest matches out of the range and a match from above the range to its
    // bottom; the reader's set still has the old prices.
    let dearest =
        expected(&catalogue, &ProductFilter { search: filter.search.clone(), ..ProductFilter::default() }, query.sort)
            .pop()
            .expect("tom matches products");
    assert!(dearest.price > money(6_000));
    let moves = expected(&catalogue, &filter, query.sort)
        .into_iter()
        .take(6)
        .map(|p| (p, money(500_000)))
        .chain([(dearest.clone(), money(2_000))]);
    for (n, (product, price)) in moves.enumerate() {
        let effective_at = product.price_effective_at + chrono::Duration::seconds(1);
        let change = InventoryChange::PriceUpdated { product_id: product.id, price, effective_at };
        let applied = writer.apply_event(&event(&format!("evt-stale-{n}"), change)).await.expect("apply");
        assert_eq!(applied, ApplyOutcome::Applied);
        let fresh = writer.get(product.id).await.expect("get");
        assert_eq!((fresh.price, fresh.price_effective_at), (price, effective_at));
        *catalogue.iter_mut().find(|p| p.id == product.id).expect("a sample product") = fresh;
    }
    let want = expected(&catalogue, &filter, query.sort);
    assert_eq!(want[0].id, dearest.id);
    // The stale set: a full page, every product in the range at its fresh price (the newcomer is not known yet).
    let stale = reader.list(&query).await.expect("list");
    assert_eq!(stale.len(), 5, "{stale:?}");
    assert!(stale.iter().all(|p| filter.matches(p)), "{stale:?}");
    // It disagreed with the rows it read, so it was dropped: the next search reloads and sees the newcomer.
    assert_eq!(reader.list(&query).await.expect("list"), want[..5]);
    // Every page of the search, from the reloaded set, with the fresh prices.
    check_walk(&reader, &catalogue, &filter, query.sort).await;
    for repo in [writer, reader] {
        repo.disconnect().await.expect("disconnect");
    }
    servers::drop_mysql_database(&url).await;
}

/// Small limits so the estimates above them are exercised on a small catalogue: exact up to 100, estimates from a
/// sample of about 2,000 of the 3,000 ids above that.
const SMALL_LIMITS: Limits = Limits { exact: 100, surely_above: 250, sample_ids: 2_000 };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_totals_and_facets_estimate_within_the_bound_above_the_exact_limit() {
    let repo = MemoryProductRepository::sample(PRODUCTS).with_summary_limits(SMALL_LIMITS);
    let catalogue: Vec<Product> = sample::products(PRODUCTS).collect();
    summary_contract(&repo, &catalogue, SMALL_LIMITS.exact).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_totals_and_facets_estimate_within_the_bound_above_the_exact_limit() {
    let Some(url) = servers::seeded_mysql("mysql_totals_and_facets_estimate_within_the_bound", PRODUCTS).await else {
        return;
    };
    let catalogue: Vec<Product> = sample::products(PRODUCTS).collect();
    let repo = MysqlProductRepository::new(&url, None).expect("valid URL").with_summary_limits(SMALL_LIMITS);
    summary_contract(&repo, &catalogue, SMALL_LIMITS.exact).await;
    // A search too broad for a match set is counted through FULLTEXT, under the same rule.
    let broad = MysqlProductRepository::new(&url, None)
        .expect("valid URL")
        .with_summary_limits(SMALL_LIMITS)
        .with_match_limit(3);
    summary_contract(&broad, &catalogue, SMALL_LIMITS.exact).await;
    for repo in [repo, broad] {
        repo.disconnect().await.expect("disconnect");
    }
    servers::drop_mysql_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_concurrent_duplicates_apply_once() {
    concurrent_duplicates_apply_once(Arc::new(MemoryProductRepository::sample(100))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_concurrent_duplicates_apply_once() {
    let Some(url) = servers::seeded_mysql("mysql_concurrent_duplicates_apply_once", 100).await else { return };
    let repo = MysqlProductRepository::new(&url, Some(&url)).expect("valid URL");
    concurrent_duplicates_apply_once(Arc::new(repo.clone())).await;
    repo.disconnect().await.expect("disconnect");
    servers::drop_mysql_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_concurrent_changes_keep_totals_and_facets_exact() {
    concurrent_changes_keep_totals_and_facets_exact(Arc::new(MemoryProductRepository::sample(500)), 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_concurrent_changes_keep_totals_and_facets_exact() {
    let Some(url) = servers::seeded_mysql("mysql_concurrent_changes_keep_totals_exact", 500).await else { return };
    let repo = MysqlProductRepository::new(&url, None).expect("valid URL");
    concurrent_changes_keep_totals_and_facets_exact(Arc::new(repo.clone()), 500).await;
    repo.disconnect().await.expect("disconnect");
    servers::drop_mysql_database(&url).await;
}

#[tokio::test]
async fn mysql_migrations_and_seeding_are_idempotent() {
    let Some(url) = servers::seeded_mysql("mysql_migrations_and_seeding_are_idempotent", 500).await else { return };
    mysql_adapter::migrate(&url).await.expect("migrating again is a no-op");
    let again = mysql_adapter::seed(&url, 500, false).await.expect("seed again");
    assert_eq!(again.inserted, 0, "the same catalogue is not reloaded");
    let other = mysql_adapter::seed(&url, 300, false).await.expect("seed a different size");
    assert_eq!(other.inserted, 300, "another size truncates and reloads");
    let repo = MysqlProductRepository::new(&url, None).expect("valid URL");
    let all = ListQuery { filter: ProductFilter::default(), sort: Sort::DEFAULT, after: None, fetch: 1_000 };
    assert_eq!(repo.list(&all).await.expect("list").len(), 300);
    // The kept counts behind totals follow the reload.
    let total = SummaryQuery { filter: ProductFilter::default(), include: Include { total: true, facets: false } };
    assert_eq!(repo.summarize(&total).await.expect("summarize").total, Some(Count { value: 300, exact: true }));
    // A catalogue from before migration 3 (no kept counts) gets them counted by the migration.
    {
        use mysql_async::prelude::Queryable;
        let mut conn = mysql_async::Conn::from_url(&url).await.expect("connect");
        conn.query_drop("DELETE FROM product_tally").await.expect("empty the tally");
        conn.query_drop("DELETE FROM schema_migrations WHERE version = 3").await.expect("forget migration 3");
        conn.disconnect().await.expect("disconnect");
    }
    // (A new repository each time: one reuses the counts it read for a second.)
    let fresh = || MysqlProductRepository::new(&url, None).expect("valid URL");
    assert_eq!(fresh().summarize(&total).await.expect("summarize").total, Some(Count { value: 0, exact: true }));
    mysql_adapter::migrate(&url).await.expect("migration 3 again");
    assert_eq!(fresh().summarize(&total).await.expect("summarize").total, Some(Count { value: 300, exact: true }));
    repo.disconnect().await.expect("disconnect");
    servers::drop_mysql_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_pool_never_opens_more_connections_than_configured() {
    let Some(url) = servers::seeded_mysql("the_read_pool_never_opens_more_connections_than_configured", 100).await
    else {
        return;
    };
    let repo = Arc::new(MysqlProductRepository::with_read_connections(&url, None, 2).expect("valid URL"));
    let first = ListQuery { filter: ProductFilter::default(), sort: Sort::DEFAULT, after: None, fetch: 10 };
    let mut want: Vec<Product> = sample::products(100).collect();
    want.sort_by(|a, b| Sort::DEFAULT.compare(a, b));
    let want: Vec<ProductId> = want.iter().take(10).map(|p| p.id).collect();

    // Sixteen listings at once: the pool lends its two connections in turn, every caller gets its page.
    let start = Arc::new(tokio::sync::Barrier::new(16));
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (repo, start, first) = (repo.clone(), start.clone(), first.clone());
            tokio::spawn(async move {
                start.wait().await;
                repo.list(&first).await
            })
        })
        .collect();
    for call in calls {
        let page = call.await.expect("no panic").expect("listed");
        assert_eq!(page.iter().map(|p| p.id).collect::<Vec<_>>(), want);
    }

    let open = servers::connections_to(&url).await;
    let [(_, read), _] = repo.pool_usage();
    assert!((1..=2).contains(&open), "the server saw {open} connections to the test database");
    assert!((1..=2).contains(&read.open), "the read pool holds {} connections", read.open);
    let repo = Arc::try_unwrap(repo).map_err(|_| "a call still holds the repository").expect("every call is done");
    repo.disconnect().await.expect("disconnect");
    servers::drop_mysql_database(&url).await;
}

#[tokio::test]
async fn an_unreachable_mysql_is_unavailable_quickly() {
    // Nothing listens on port 1; construction does not connect, every call fails fast with Unavailable.
    let repo = MysqlProductRepository::new("mysql://root@127.0.0.1:1/farmlokal", None).expect("valid URL");
    let started = std::time::Instant::now();
    assert!(matches!(repo.ping().await, Err(RepositoryError::Unavailable(_))));
    assert!(matches!(repo.get(id(1)).await, Err(RepositoryError::Unavailable(_))));
    let all = ListQuery { filter: ProductFilter::default(), sort: Sort::DEFAULT, after: None, fetch: 10 };
    assert!(matches!(repo.list(&all).await, Err(RepositoryError::Unavailable(_))));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn catalogue_connections_carry_the_statement_timeout() {
    use mysql_async::prelude::Queryable;
    let Some(url) = servers::fresh_mysql_database("catalogue_connections_carry_the_statement_timeout").await else {
        return;
    };
    let pool = mysql_adapter::build_pool(&url, 1, Some(mysql_adapter::STATEMENT_TIMEOUT)).expect("valid URL");
    let mut conn = pool.get_conn().await.expect("connect");
    let flavor = mysql_adapter::detect_flavor(&mut conn).await.expect("version");
    let (sql, want) = match flavor {
        mysql_adapter::Flavor::MariaDb => ("SELECT CAST(@@max_statement_time AS CHAR)", "3.000000"),
        mysql_adapter::Flavor::MySql => ("SELECT CAST(@@max_execution_time AS CHAR)", "3000"),
    };
    let got: Option<String> = conn.query_first(sql).await.expect("read the session variable");
    assert_eq!(got.as_deref(), Some(want), "{flavor:?}");
    drop(conn);
    pool.disconnect().await.expect("disconnect");
    servers::drop_mysql_database(&url).await;
}
