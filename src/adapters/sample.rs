//! The deterministic sample catalogue: product `n` is the same on every machine and in every adapter, so the
//! in-memory catalogue and a seeded MySQL database hold identical data and tests can compare them.
//!
//! The data looks like a real hyperlocal marketplace: category sizes are skewed (vegetables and fruit dominate),
//! prices sit on round steps so many products share one (ties for the sort tie-break), names repeat across
//! producers, and creation times spread over two years with many sharing a second.

use chrono::DateTime;

use crate::domain::{CategorySlug, Money, Product, ProductId};

/// One category of the sample catalogue.
pub struct SampleCategory {
    pub slug: &'static str,
    pub name: &'static str,
    /// Relative size: a product falls into this category with probability weight / total weight.
    weight: u64,
    items: &'static [&'static str],
    unit: &'static str,
    /// Price range in whole rupees; prices are multiples of `step` rupees inside it.
    rupees: (u64, u64),
    step: u64,
}

const ADJECTIVES: [&str; 16] = [
    "Organic",
    "Fresh",
    "Farm",
    "Local",
    "Desi",
    "Handpicked",
    "Natural",
    "Village",
    "Heirloom",
    "Seasonal",
    "Premium",
    "Pesticide-free",
    "Hill",
    "Country",
    "Homegrown",
    "Sun-dried",
];

const VILLAGES: [&str; 12] = [
    "Hoskote",
    "Doddaballapur",
    "Kanakapura",
    "Malur",
    "Chikkaballapur",
    "Ramanagara",
    "Nelamangala",
    "Anekal",
    "Devanahalli",
    "Magadi",
    "Tumakuru",
    "Kolar",
];

const PRACTICES: [&str; 8] = [
    "grown without chemical pesticides",
    "harvested this week",
    "packed by hand at the farm",
    "from a family farm",
    "watered by drip irrigation",
    "certified organic by PGS-India",
    "delivered within a day of picking",
    "sourced from a women's cooperative",
];

/// The categories, largest first. Weights add up to 100.
pub const CATEGORIES: [SampleCategory; 10] = [
    SampleCategory {
        slug: "vegetables",
        name: "Vegetables",
        weight: 30,
        items: &[
            "Tomatoes",
            "Potatoes",
            "Onions",
            "Brinjal",
            "Okra",
            "Spinach",
            "Carrots",
            "Beans",
            "Cabbage",
            "Cauliflower",
            "Capsicum",
            "Drumsticks",
            "Bitter Gourd",
            "Cucumber",
            "Radish",
            "Coriander",
        ],
        unit: "kg",
        rupees: (20, 160),
        step: 5,
    },
    SampleCategory {
        slug: "fruits",
        name: "Fruits",
        weight: 20,
        items: &[
            "Mangoes",
            "Bananas",
            "Papaya",
            "Guava",
            "Pomegranate",
            "Sapota",
            "Grapes",
            "Jackfruit",
            "Pineapple",
            "Watermelon",
            "Oranges",
            "Custard Apple",
        ],
        unit: "kg",
        rupees: (40, 400),
        step: 10,
    },
    SampleCategory {
        slug: "dairy",
        name: "Dairy",
        weight: 15,
        items: &["Cow Milk", "Buffalo Milk", "A2 Milk", "Curd", "Paneer", "Ghee", "Butter", "Buttermilk"],
        unit: "litre",
        rupees: (30, 900),
        step: 5,
    },
    SampleCategory {
        slug: "grains",
        name: "Grains and Pulses",
        weight: 10,
        items: &[
            "Ragi",
            "Sona Masoori Rice",
            "Brown Rice",
            "Jowar",
            "Toor Dal",
            "Moong Dal",
            "Foxtail Millet",
            "Wheat Flour",
        ],
        unit: "kg",
        rupees: (40, 250),
        step: 5,
    },
    SampleCategory {
        slug: "spices",
        name: "Spices",
        weight: 7,
        items: &["Turmeric", "Black Pepper", "Cardamom", "Red Chilli", "Cumin", "Coriander Seeds", "Cloves"],
        unit: "100 g",
        rupees: (30, 300),
        step: 10,
    },
    SampleCategory {
        slug: "eggs",
        name: "Eggs and Poultry",
        weight: 5,
        items: &["Country Eggs", "Brown Eggs", "Duck Eggs", "Free-range Chicken"],
        unit: "dozen",
        rupees: (80, 600),
        step: 10,
    },
    SampleCategory {
        slug: "honey",
        name: "Honey and Jaggery",
        weight: 4,
        items: &["Forest Honey", "Multiflora Honey", "Jaggery", "Jaggery Powder", "Palm Jaggery"],
        unit: "500 g",
        rupees: (80, 700),
        step: 20,
    },
    SampleCategory {
        slug: "bakery",
        name: "Bakery",
        weight: 4,
        items: &["Millet Bread", "Rusk", "Ragi Cookies", "Banana Bread", "Whole Wheat Bread"],
        unit: "piece",
        rupees: (30, 250),
        step: 5,
    },
    SampleCategory {
        slug: "oils",
        name: "Cold-pressed Oils",
        weight: 3,
        items: &["Groundnut Oil", "Coconut Oil", "Sesame Oil", "Mustard Oil"],
        unit: "litre",
        rupees: (150, 800),
        step: 25,
    },
    SampleCategory {
        slug: "pickles",
        name: "Pickles and Preserves",
        weight: 2,
        items: &["Mango Pickle", "Lemon Pickle", "Gongura Pickle", "Amla Murabba"],
        unit: "250 g",
        rupees: (60, 300),
        step: 10,
    },
];

/// Adjectives of the products named in Hindi.
const HINDI_ADJECTIVES: [&str; 8] = ["ताज़ा", "देसी", "जैविक", "प्राकृतिक", "गाँव का", "पहाड़ी", "घरेलू", "खेत का"];

/// One product in [`HINDI_SHARE`] is named in Hindi: an adjective and the item's Hindi name.
pub const HINDI_SHARE: u64 = 5;

/// The Hindi (Devanagari) name of every item of the catalogue.
pub const HINDI_ITEMS: [(&str, &str); 73] = [
    ("Tomatoes", "टमाटर"),
    ("Potatoes", "आलू"),
    ("Onions", "प्याज़"),
    ("Brinjal", "बैंगन"),
    ("Okra", "भिंडी"),
    ("Spinach", "पालक"),
    ("Carrots", "गाजर"),
    ("Beans", "सेम फली"),
    ("Cabbage", "पत्तागोभी"),
    ("Cauliflower", "फूलगोभी"),
    ("Capsicum", "शिमला मिर्च"),
    ("Drumsticks", "सहजन"),
    ("Bitter Gourd", "करेला"),
    ("Cucumber", "खीरा"),
    ("Radish", "मूली"),
    ("Coriander", "धनिया"),
    ("Mangoes", "आम"),
    ("Bananas", "केला"),
    ("Papaya", "पपीता"),
    ("Guava", "अमरूद"),
    ("Pomegranate", "अनार"),
    ("Sapota", "चीकू"),
    ("Grapes", "अंगूर"),
    ("Jackfruit", "कटहल"),
    ("Pineapple", "अनानास"),
    ("Watermelon", "तरबूज़"),
    ("Oranges", "संतरा"),
    ("Custard Apple", "सीताफल"),
    ("Cow Milk", "गाय का दूध"),
    ("Buffalo Milk", "भैंस का दूध"),
    ("A2 Milk", "A2 दूध"),
    ("Curd", "दही"),
    ("Paneer", "पनीर"),
    ("Ghee", "घी"),
    ("Butter", "मक्खन"),
    ("Buttermilk", "छाछ"),
    ("Ragi", "रागी"),
    ("Sona Masoori Rice", "सोना मसूरी चावल"),
    ("Brown Rice", "भूरा चावल"),
    ("Jowar", "ज्वार"),
    ("Toor Dal", "तूर दाल"),
    ("Moong Dal", "मूंग दाल"),
    ("Foxtail Millet", "कंगनी मिलेट"),
    ("Wheat Flour", "गेहूं का आटा"),
    ("Turmeric", "हल्दी"),
    ("Black Pepper", "काली मिर्च"),
    ("Cardamom", "इलायची"),
    ("Red Chilli", "लाल मिर्च"),
    ("Cumin", "जीरा"),
    ("Coriander Seeds", "धनिया बीज"),
    ("Cloves", "लौंग"),
    ("Country Eggs", "देसी अंडे"),
    ("Brown Eggs", "भूरे अंडे"),
    ("Duck Eggs", "बत्तख के अंडे"),
    ("Free-range Chicken", "फ्री रेंज मुर्गा"),
    ("Forest Honey", "जंगली शहद"),
    ("Multiflora Honey", "बहुपुष्प शहद"),
    ("Jaggery", "गुड़"),
    ("Jaggery Powder", "गुड़ पाउडर"),
    ("Palm Jaggery", "ताड़ गुड़"),
    ("Millet Bread", "मिलेट ब्रेड"),
    ("Rusk", "रस्क"),
    ("Ragi Cookies", "रागी बिस्कुट"),
    ("Banana Bread", "केला ब्रेड"),
    ("Whole Wheat Bread", "साबुत गेहूं ब्रेड"),
    ("Groundnut Oil", "मूंगफली तेल"),
    ("Coconut Oil", "नारियल तेल"),
    ("Sesame Oil", "तिल का तेल"),
    ("Mustard Oil", "सरसों का तेल"),
    ("Mango Pickle", "आम का अचार"),
    ("Lemon Pickle", "नींबू का अचार"),
    ("Gongura Pickle", "गोंगुरा अचार"),
    ("Amla Murabba", "आंवला मुरब्बा"),
];

/// The Hindi name of an item (the item itself when it has none).
pub fn hindi_item(item: &'static str) -> &'static str {
    HINDI_ITEMS.iter().find(|(english, _)| *english == item).map_or(item, |(_, hindi)| hindi)
}

/// 2024-01-01T00:00:00Z: the oldest sample product.
const EPOCH: i64 = 1_704_067_200;
/// Creation times spread over two years, on whole minutes so many products share one.
const SPAN_MINUTES: u64 = 2 * 365 * 24 * 60;

/// A fast, well-mixed hash of (id, salt): splitmix64.
fn mix(id: u64, salt: u64) -> u64 {
    let mut z = id.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<T: Copy>(items: &[T], id: u64, salt: u64) -> T {
    items[(mix(id, salt) % items.len() as u64) as usize]
}

/// The category a sample product falls into.
pub fn category_of(id: u64) -> &'static SampleCategory {
    let mut roll = mix(id, 1) % 100;
    for category in &CATEGORIES {
        if roll < category.weight {
            return category;
        }
        roll -= category.weight;
    }
    &CATEGORIES[0]
}

/// Sample product number `id` (1-based). The same id always gives the same product.
pub fn product(id: ProductId) -> Product {
    let n = id.get();
    let category = category_of(n);
    let item = pick(category.items, n, 2);
    let adjective = pick(&ADJECTIVES, n, 3);
    let village = pick(&VILLAGES, n, 4);
    let practice = pick(&PRACTICES, n, 5);
    let steps = (category.rupees.1 - category.rupees.0) / category.step;
    let rupees = category.rupees.0 + (mix(n, 6) % (steps + 1)) * category.step;
    let created = EPOCH + ((mix(n, 7) % SPAN_MINUTES) * 60) as i64;
    let created_at = DateTime::from_timestamp(created, 0).unwrap_or_default();
    let name = if mix(n, 10).is_multiple_of(HINDI_SHARE) {
        format!("{} {}", pick(&HINDI_ADJECTIVES, n, 3), hindi_item(item))
    } else {
        format!("{adjective} {item}")
    };
    Product {
        id,
        name,
        description: format!(
            "{item} from {village}, {practice}. Sold per {unit} by a FarmLokal producer near you.",
            unit = category.unit
        ),
        category: CategorySlug::parse(category.slug).unwrap_or_else(|_| unreachable!("sample slugs are valid")),
        price: Money::from_paise(rupees * 100).unwrap_or_default(),
        unit: category.unit.to_owned(),
        stock: (mix(n, 8) % 500) as u32,
        producer_id: 1 + mix(n, 9) % 5_000,
        created_at,
        updated_at: created_at,
        price_effective_at: created_at,
    }
}

/// Sample products `1..=count`.
pub fn products(count: u64) -> impl Iterator<Item = Product> {
    (1..=count).filter_map(|n| ProductId::new(n).ok()).map(product)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn every_item_has_a_hindi_name_found_by_its_english_searches_and_back() {
        use crate::domain::SearchText;
        for category in &CATEGORIES {
            for item in category.items {
                let hindi = hindi_item(item);
                assert_ne!(hindi, *item, "{item} has no Hindi name");
                let named = |name: &str| Product {
                    name: name.to_owned(),
                    description: String::new(),
                    ..product(ProductId::new(1).unwrap_or_else(|_| unreachable!()))
                };
                // Both ways, wherever a name finds itself (`A2` is too short a Latin word to be indexed).
                for (query, other) in [(*item, hindi), (hindi, *item)] {
                    let search = SearchText::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
                    if search.matches(&named(query)) {
                        assert!(search.matches(&named(other)), "searching {query:?} misses a product named {other:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_share_of_products_is_named_in_hindi() {
        let hindi = products(10_000).filter(|p| crate::domain::search::is_indic_word(&p.name)).count();
        assert!((1_500..=2_500).contains(&hindi), "{hindi}");
    }

    #[test]
    fn the_price_buckets_split_the_sample_catalogue_evenly_enough() {
        let products: Vec<_> = products(20_000).collect();
        for bucket in crate::domain::summary::price_buckets() {
            let share = products
                .iter()
                .filter(|p| p.price.paise() >= bucket.min && bucket.max.is_none_or(|m| p.price.paise() < m))
                .count() as f64
                / products.len() as f64;
            assert!((0.10..=0.25).contains(&share), "{bucket:?}: {share:.3}");
        }
    }

    #[test]
    fn the_same_id_gives_the_same_product() {
        let a: Vec<Product> = products(100).collect();
        let b: Vec<Product> = products(100).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn category_sizes_are_skewed_and_every_category_appears() {
        let mut sizes: HashMap<&str, usize> = HashMap::new();
        for p in products(10_000) {
            *sizes
                .entry(CATEGORIES.iter().find(|c| c.slug == p.category.as_str()).map_or("?", |c| c.slug))
                .or_default() += 1;
        }
        assert_eq!(sizes.len(), CATEGORIES.len());
        assert!(sizes["vegetables"] > 5 * sizes["pickles"], "{sizes:?}");
    }

    #[test]
    fn prices_names_and_times_repeat_so_the_tie_break_matters() {
        let sample: Vec<Product> = products(5_000).collect();
        let distinct = |f: &dyn Fn(&Product) -> String| sample.iter().map(f).collect::<HashSet<_>>().len();
        assert!(distinct(&|p| p.price.paise().to_string()) < 500);
        assert!(distinct(&|p| p.name.clone()) < 2_000);
        assert!(distinct(&|p| p.created_at.timestamp().to_string()) < sample.len());
    }
}
