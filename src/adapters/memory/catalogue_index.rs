//! The indexes of the in-memory catalogue: per-sort orderings (global and per category) and an inverted word
//! index, so a page costs O(log n + limit) for the plain shapes instead of a scan and sort per request.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::domain::search;
use crate::domain::{CategorySlug, ListQuery, Product, ProductFilter, Sort, SortField};

/// A product's place in the store's `products` vector.
pub type Slot = u32;

/// Slots sorted ascending by (column, id) for each sort column.
#[derive(Debug, Default, Clone)]
pub struct Orderings {
    created_at: Vec<Slot>,
    price: Vec<Slot>,
    name: Vec<Slot>,
}

impl Orderings {
    fn column(&self, field: SortField) -> &Vec<Slot> {
        match field {
            SortField::CreatedAt => &self.created_at,
            SortField::Price => &self.price,
            SortField::Name => &self.name,
        }
    }

    fn column_mut(&mut self, field: SortField) -> &mut Vec<Slot> {
        match field {
            SortField::CreatedAt => &mut self.created_at,
            SortField::Price => &mut self.price,
            SortField::Name => &mut self.name,
        }
    }
}

const FIELDS: [SortField; 3] = [SortField::CreatedAt, SortField::Price, SortField::Name];

/// Every index over the products vector.
#[derive(Debug, Default)]
pub struct CatalogueIndex {
    all: Orderings,
    by_category: HashMap<CategorySlug, Orderings>,
    /// Indexed word -> slots holding it, ascending. A BTreeMap so a term's prefix is a range.
    words: BTreeMap<String, Vec<Slot>>,
}

impl CatalogueIndex {
    /// Builds every index over `products`; slot `i` is `products[i]`.
    pub fn build(products: &[Product]) -> Self {
        let mut index = CatalogueIndex::default();
        for (slot, product) in products.iter().enumerate() {
            let slot = slot as Slot;
            let category = index.by_category.entry(product.category.clone()).or_default();
            for field in FIELDS {
                index.all.column_mut(field).push(slot);
                category.column_mut(field).push(slot);
            }
            let mut seen: Vec<String> = Vec::new();
            for word in search::indexed_words(&product.name).chain(search::indexed_words(&product.description)) {
                if !seen.contains(&word) {
                    index.words.entry(word.clone()).or_default().push(slot);
                    seen.push(word);
                }
            }
        }
        for orderings in std::iter::once(&mut index.all).chain(index.by_category.values_mut()) {
            for field in FIELDS {
                let sort = Sort::ascending(field);
                orderings
                    .column_mut(field)
                    .sort_unstable_by(|a, b| sort.compare(&products[*a as usize], &products[*b as usize]));
            }
        }
        index
    }

    /// Moves `slot` to its new place in the price orderings after its price changed from `old`.
    pub fn reprice(&mut self, products: &[Product], slot: Slot, old: &Product) {
        let new = &products[slot as usize];
        let sort = Sort::ascending(SortField::Price);
        let fix = |column: &mut Vec<Slot>| {
            let at = column
                .partition_point(|s| sort.compare(if *s == slot { old } else { &products[*s as usize] }, old).is_lt());
            if column.get(at) == Some(&slot) {
                column.remove(at);
            }
            let to = column.partition_point(|s| sort.compare(&products[*s as usize], new).is_lt());
            column.insert(to, slot);
        };
        fix(self.all.column_mut(SortField::Price));
        if let Some(category) = self.by_category.get_mut(&new.category) {
            fix(category.column_mut(SortField::Price));
        }
    }

    /// Slots of products that, for every term, hold a word starting with one of its alternatives (sorted,
    /// deduplicated).
    fn search(&self, terms: &[Vec<String>]) -> Vec<Slot> {
        let mut result: Option<Vec<Slot>> = None;
        for alternatives in terms {
            let mut hits: Vec<Slot> = alternatives
                .iter()
                .flat_map(|term| {
                    self.words
                        .range::<str, _>((std::ops::Bound::Included(term.as_str()), std::ops::Bound::Unbounded))
                        .take_while(move |(word, _)| word.starts_with(term.as_str()))
                })
                .flat_map(|(_, slots)| slots.iter().copied())
                .collect();
            hits.sort_unstable();
            hits.dedup();
            result = Some(match result {
                None => hits,
                Some(previous) => intersect(&previous, &hits),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        result.unwrap_or_default()
    }

    /// The categories that have products, in slug order.
    pub fn categories(&self) -> Vec<CategorySlug> {
        let mut out: Vec<CategorySlug> = self.by_category.keys().cloned().collect();
        out.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        out
    }

    /// How many products match `filter`, counting no further than `cap`: a search counts its word-index
    /// candidates; anything else walks the price ordering (of its category) inside its price range, so the
    /// walk reads the products of the range and stops at `cap` matches.
    pub fn count(&self, products: &[Product], filter: &ProductFilter, cap: u64) -> u64 {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        if let Some(search) = &filter.search {
            let others = ProductFilter { search: None, ..filter.clone() };
            return self
                .search(search.alternatives())
                .into_iter()
                .filter(|slot| others.matches(&products[*slot as usize]))
                .take(cap)
                .count() as u64;
        }
        let orderings = match &filter.category {
            Some(category) => match self.by_category.get(category) {
                Some(orderings) => orderings,
                None => return 0,
            },
            None => &self.all,
        };
        let column = orderings.column(SortField::Price);
        let at = |s: &Slot| &products[*s as usize];
        let lo = filter.min_price.map_or(0, |min| column.partition_point(|s| at(s).price < min));
        let hi = filter.max_price.map_or(column.len(), |max| column.partition_point(|s| at(s).price <= max));
        column.get(lo..hi.max(lo)).unwrap_or_default().iter().filter(|s| filter.matches(at(s))).take(cap).count() as u64
    }

    /// Answers a list query: the products matching its filter, in its order, after its position.
    pub fn list(&self, products: &[Product], query: &ListQuery) -> Vec<Product> {
        let filter = &query.filter;
        let sort = query.sort;
        if let Some(search) = &filter.search {
            // Search: candidates from the word index, then filter and sort them: O(m log m) for m matches. The
            // index has already applied every term, so only the other filters are checked per candidate.
            let others = ProductFilter { search: None, ..filter.clone() };
            let mut hits: Vec<&Product> = self
                .search(search.alternatives())
                .into_iter()
                .map(|slot| &products[slot as usize])
                .filter(|p| {
                    others.matches(p)
                        && query.after.as_ref().is_none_or(|after| sort.compare_with_position(p, after).is_gt())
                })
                .collect();
            hits.sort_unstable_by(|a, b| sort.compare(a, b));
            return hits.into_iter().take(query.fetch).cloned().collect();
        }
        let orderings = match &filter.category {
            Some(category) => match self.by_category.get(category) {
                Some(orderings) => orderings,
                None => return Vec::new(),
            },
            None => &self.all,
        };
        let column = orderings.column(sort.field);
        let at = |s: &Slot| &products[*s as usize];
        // The window of the column that can match: the keyset position, and for the price sort the price range.
        let (mut lo, mut hi) = (0, column.len());
        if sort.field == SortField::Price {
            if let Some(min) = filter.min_price {
                lo = column.partition_point(|s| at(s).price < min);
            }
            if let Some(max) = filter.max_price {
                hi = column.partition_point(|s| at(s).price <= max);
            }
        }
        if let Some(after) = &query.after {
            // The column ascends, so the products after the position lead it in a descending sort and end it in
            // an ascending one.
            let is_after = |s: &Slot| sort.compare_with_position(at(s), after).is_gt();
            if sort.descending {
                hi = hi.min(column.partition_point(is_after));
            } else {
                lo = lo.max(column.partition_point(|s| !is_after(s)));
            }
        }
        let window = column.get(lo..hi.max(lo)).unwrap_or_default();
        let pick = |s: &Slot| Some(at(s)).filter(|p| filter.matches(p)).cloned();
        if sort.descending {
            window.iter().rev().filter_map(pick).take(query.fetch).collect()
        } else {
            window.iter().filter_map(pick).take(query.fetch).collect()
        }
    }
}

fn intersect(a: &[Slot], b: &[Slot]) -> Vec<Slot> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}
