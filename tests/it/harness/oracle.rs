//! What the catalogue API must answer, worked out independently of the service from DESIGN §2 and the sample
//! data: which products a listing's filters select and in what order, the JSON of a product, and query encoding.

use farmlokal::domain::Product;
use serde_json::{json, Value};

/// Every sort order the listing accepts.
pub const SORTS: [&str; 6] = ["-created_at", "created_at", "price", "-price", "name", "-name"];

/// InnoDB's default full-text stopwords: never indexed, so never matched (see `domain::search`).
pub const STOPWORDS: [&str; 35] = [
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how", "i", "in", "is", "it",
    "la", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "who", "will", "with", "und",
    "www",
];

/// The words of a text as search sees them: runs of letters and digits, lower-cased.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// A query-string value, percent-encoded.
pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The filters of a listing and an independent brute force of what they select, written from the contract.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub category: Option<&'static str>,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub q: Option<&'static str>,
}

impl Filter {
    /// The filter as query parameters, each followed by `&`.
    pub fn query(&self) -> String {
        let mut out = String::new();
        let mut push = |name: &str, value: String| out.push_str(&format!("{name}={}&", encode(&value)));
        self.category.inspect(|c| push("category", c.to_string()));
        self.min.inspect(|p| push("min_price", p.to_string()));
        self.max.inspect(|p| push("max_price", p.to_string()));
        self.q.inspect(|q| push("q", q.to_string()));
        out
    }

    /// Every search term (a word of 2+ letters or digits) prefixes an indexed word (3+, not a stopword).
    fn searched(q: &str, p: &Product) -> bool {
        let indexed: Vec<String> = words(&p.name)
            .chain(words(&p.description))
            .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(&w.as_str()))
            .collect();
        words(q).filter(|t| t.chars().count() >= 2).all(|t| indexed.iter().any(|w| w.starts_with(&t)))
    }

    pub fn admits(&self, p: &Product) -> bool {
        self.category.is_none_or(|c| p.category.as_str() == c)
            && self.min.is_none_or(|min| p.price.paise() >= min)
            && self.max.is_none_or(|max| p.price.paise() <= max)
            && self.q.is_none_or(|q| Self::searched(q, p))
    }

    /// The ids a listing must return, in order: the sort column, then id, both in the sort's direction.
    pub fn expected(&self, products: &[Product], sort: &str) -> Vec<u64> {
        let mut selected: Vec<&Product> = products.iter().filter(|p| self.admits(p)).collect();
        let column = sort.trim_start_matches('-');
        selected.sort_by(|a, b| {
            let ascending = match column {
                "created_at" => a.created_at.timestamp().cmp(&b.created_at.timestamp()),
                "price" => a.price.paise().cmp(&b.price.paise()),
                "name" => a.name.as_bytes().cmp(b.name.as_bytes()),
                other => panic!("unknown sort {other}"),
            }
            .then(a.id.get().cmp(&b.id.get()));
            if sort.starts_with('-') {
                ascending.reverse()
            } else {
                ascending
            }
        });
        selected.iter().map(|p| p.id.get()).collect()
    }
}

/// A product as DESIGN §2 shows it, built from the sample data rather than from the service's DTO.
pub fn expected_json(p: &Product) -> Value {
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "id": p.id.get(), "name": p.name, "description": p.description, "category": p.category.as_str(),
        "price_paise": p.price.paise(), "currency": "INR", "unit": p.unit, "stock": p.stock,
        "producer_id": p.producer_id, "created_at": time(p.created_at), "updated_at": time(p.updated_at),
    })
}
