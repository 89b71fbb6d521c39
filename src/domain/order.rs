//! The six listing orders and where an item stands in one: the single definition that the domain, the cursor
//! codec and every catalogue adapter sort and page by, so no two of them can disagree about the next page.
//!
//! An order is the sort column, then the product id, both in the sort's direction. Names order by the bytes of
//! their UTF-8 text and creation times by whole unix seconds. Adapters order their own items (products,
//! search match-set entries) by lending the keys through [`Sortable`], without copying them.

use std::cmp::Ordering;
use std::fmt;

use super::catalogue::{Product, ProductId};
use super::money::Money;

/// The six sort orders the API offers. Ties on the column are broken by `id` in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    CreatedAt,
    Price,
    Name,
}

/// The value of the sort column at a position.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SortValue {
    /// Unix seconds.
    CreatedAt(i64),
    /// Paise.
    Price(u64),
    Name(String),
}

/// A position in a sort order: the last product of a page. The next page starts strictly after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortPosition {
    pub value: SortValue,
    pub id: ProductId,
}

/// An item that can be listed in a sort order: it lends the keys of the three sort columns and its id.
pub trait Sortable {
    fn id(&self) -> ProductId;
    /// The creation time in whole unix seconds.
    fn created_at_seconds(&self) -> i64;
    fn price(&self) -> Money;
    /// The UTF-8 bytes of the name: names order by byte.
    fn name_bytes(&self) -> &[u8];
}

impl Sortable for Product {
    fn id(&self) -> ProductId {
        self.id
    }

    fn created_at_seconds(&self) -> i64 {
        self.created_at.timestamp()
    }

    fn price(&self) -> Money {
        self.price
    }

    fn name_bytes(&self) -> &[u8] {
        self.name.as_bytes()
    }
}

/// So that callers holding references (a sorted `Vec<&Product>`) compare them as they are.
impl<T: Sortable + ?Sized> Sortable for &T {
    fn id(&self) -> ProductId {
        (**self).id()
    }

    fn created_at_seconds(&self) -> i64 {
        (**self).created_at_seconds()
    }

    fn price(&self) -> Money {
        (**self).price()
    }

    fn name_bytes(&self) -> &[u8] {
        (**self).name_bytes()
    }
}

/// The key of one sort column, borrowed from an item or a position.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SortKey<'a> {
    CreatedAt(i64),
    Price(u64),
    Name(&'a [u8]),
}

impl<'a> SortKey<'a> {
    fn of<T: Sortable + ?Sized>(item: &'a T, field: SortField) -> Self {
        match field {
            SortField::CreatedAt => SortKey::CreatedAt(item.created_at_seconds()),
            SortField::Price => SortKey::Price(item.price().paise()),
            SortField::Name => SortKey::Name(item.name_bytes()),
        }
    }
}

/// Keys of one column compare by value; keys of different columns do not compare at all.
impl PartialOrd for SortKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (SortKey::CreatedAt(a), SortKey::CreatedAt(b)) => Some(a.cmp(b)),
            (SortKey::Price(a), SortKey::Price(b)) => Some(a.cmp(b)),
            (SortKey::Name(a), SortKey::Name(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl SortValue {
    fn key(&self) -> SortKey<'_> {
        match self {
            SortValue::CreatedAt(t) => SortKey::CreatedAt(*t),
            SortValue::Price(p) => SortKey::Price(*p),
            SortValue::Name(n) => SortKey::Name(n.as_bytes()),
        }
    }
}

impl From<SortKey<'_>> for SortValue {
    fn from(key: SortKey<'_>) -> Self {
        match key {
            SortKey::CreatedAt(t) => SortValue::CreatedAt(t),
            SortKey::Price(p) => SortValue::Price(p),
            SortKey::Name(n) => SortValue::Name(String::from_utf8_lossy(n).into_owned()),
        }
    }
}

impl Default for Sort {
    /// Newest first, as the API lists by default.
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Sort {
    /// Newest first, the default order.
    pub const DEFAULT: Sort = Sort { field: SortField::CreatedAt, descending: true };

    /// All six orders, for tests and index builders.
    pub const ALL: [Sort; 6] = [
        Sort { field: SortField::CreatedAt, descending: true },
        Sort { field: SortField::CreatedAt, descending: false },
        Sort { field: SortField::Price, descending: false },
        Sort { field: SortField::Price, descending: true },
        Sort { field: SortField::Name, descending: false },
        Sort { field: SortField::Name, descending: true },
    ];

    /// The ascending order of `field`, the one indexes are kept in (a descending listing walks it backwards).
    pub const fn ascending(field: SortField) -> Sort {
        Sort { field, descending: false }
    }

    /// Parses `created_at`, `-created_at`, `price`, `-price`, `name` or `-name`.
    pub fn parse(raw: &str) -> Option<Sort> {
        let (descending, column) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let field = match column {
            "created_at" => SortField::CreatedAt,
            "price" => SortField::Price,
            "name" => SortField::Name,
            _ => return None,
        };
        Some(Sort { field, descending })
    }

    pub fn as_str(self) -> &'static str {
        match (self.field, self.descending) {
            (SortField::CreatedAt, false) => "created_at",
            (SortField::CreatedAt, true) => "-created_at",
            (SortField::Price, false) => "price",
            (SortField::Price, true) => "-price",
            (SortField::Name, false) => "name",
            (SortField::Name, true) => "-name",
        }
    }

    /// The total order of this sort: column, then id, both in the sort's direction.
    pub fn compare<A: Sortable + ?Sized, B: Sortable + ?Sized>(self, a: &A, b: &B) -> Ordering {
        self.order(SortKey::of(a, self.field), a.id(), SortKey::of(b, self.field), b.id())
    }

    /// `item` against a position of this sort, in this sort's order: `Greater` when `item` comes strictly after
    /// the position (it belongs to a later page), `Equal` when it is the product at the position.
    ///
    /// A position whose value is of another column than this sort's comes before every item: the answer is
    /// always `Greater`, so a listing from such a position starts at the beginning of the order. It cannot come
    /// from a client (a cursor is signed for its sort and decoded against it), only from a programming error,
    /// and repeating products is then preferred to silently losing them.
    pub fn compare_with_position<T: Sortable + ?Sized>(self, item: &T, position: &SortPosition) -> Ordering {
        self.order(SortKey::of(item, self.field), item.id(), position.value.key(), position.id)
    }

    /// Where `item` stands in this sort: the position a cursor carries.
    pub fn position_of<T: Sortable + ?Sized>(self, item: &T) -> SortPosition {
        SortPosition { value: SortKey::of(item, self.field).into(), id: item.id() }
    }

    /// `a` against `b`: column, then id, in this sort's direction; `Greater` when the columns differ (see
    /// [`Sort::compare_with_position`]; two items always give keys of the same column).
    fn order(self, a: SortKey<'_>, a_id: ProductId, b: SortKey<'_>, b_id: ProductId) -> Ordering {
        let Some(column) = a.partial_cmp(&b) else {
            return Ordering::Greater;
        };
        let ascending = column.then(a_id.cmp(&b_id));
        if self.descending {
            ascending.reverse()
        } else {
            ascending
        }
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
