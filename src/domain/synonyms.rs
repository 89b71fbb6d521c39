//! The curated synonym table of search: the names shoppers type for the catalogue's produce in Hindi
//! (Devanagari), in common romanised spellings, and in Kannada for the most common vegetables and staples (the
//! sample producers are around Bengaluru).
//!
//! Each group lists words that mean one thing; a query term that is (a spelling of) one of them accepts every
//! word of the group as a prefix (see [`alternatives`]). A term may sit in several groups (`gobhi` is
//! cabbage and cauliflower), and then accepts the words of each. Lookups forgive the usual variation of
//! romanised Hindi (doubled vowels, `z`/`j`, `w`/`v`, an aspirating `h`: `pyaaz` = `pyaz` = `pyaj`,
//! `doodh` = `dudh`) and of Devanagari (nukta, candrabindu for anusvara: `प्याज़` = `प्याज`, `गाँव` = `गांव`).
//! A unit test checks that every item name of the sample catalogue has a Devanagari and a romanised entry.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::search;

/// The groups. English catalogue words first, then Hindi in Devanagari, romanised spellings, Kannada.
pub const GROUPS: &[&[&str]] = &[
    // Vegetables
    &["tomatoes", "tomato", "टमाटर", "tamatar", "tamaatar", "tamater", "tamatur", "ಟೊಮೆಟೊ", "ಟೊಮ್ಯಾಟೊ", "ಟೊಮೇಟೊ", "tomoto"],
    &["potatoes", "potato", "आलू", "aloo", "alu", "aaloo", "batata", "बटाटा", "ಆಲೂಗಡ್ಡೆ", "alugadde"],
    &[
        "onions",
        "onion",
        "प्याज़",
        "प्याज",
        "pyaz",
        "pyaaz",
        "pyaj",
        "piyaz",
        "piyaj",
        "kanda",
        "कांदा",
        "ಈರುಳ್ಳಿ",
        "eerulli",
        "erulli",
        "ullagadde",
    ],
    &[
        "brinjal",
        "eggplant",
        "aubergine",
        "बैंगन",
        "baingan",
        "baigan",
        "bengan",
        "bhata",
        "ಬದನೆಕಾಯಿ",
        "ಬದನೆ",
        "badanekai",
        "badane",
    ],
    &["okra", "ladyfinger", "ladyfingers", "भिंडी", "bhindi", "bhendi", "bindi", "ಬೆಂಡೆಕಾಯಿ", "ಬೆಂಡೆ", "bendekai", "bende"],
    &["spinach", "पालक", "palak", "paalak", "ಪಾಲಕ್", "ಸೊಪ್ಪು", "soppu"],
    &["carrots", "carrot", "गाजर", "gajar", "gaajar", "ಕ್ಯಾರೆಟ್", "ಗಜ್ಜರಿ", "gajjari"],
    &["beans", "सेम", "फली", "sem", "phali", "fali", "frenchbeans", "ಹುರುಳಿಕಾಯಿ", "ಬೀನ್ಸ್", "hurulikai"],
    &["cabbage", "बंदगोभी", "पत्तागोभी", "पत्ता", "bandgobhi", "pattagobhi", "patta", "ಎಲೆಕೋಸು", "elekosu", "kosu"],
    &["cauliflower", "फूलगोभी", "फूल", "phoolgobhi", "phool", "phul", "ಹೂಕೋಸು", "hookosu", "gobi"],
    &["cabbage", "cauliflower", "गोभी", "gobhi", "gobi"],
    &["capsicum", "शिमला", "shimla", "simla", "ಕ್ಯಾಪ್ಸಿಕಂ", "ದೊಣ್ಣೆಮೆಣಸಿನಕಾಯಿ", "donnemenasinakai"],
    &[
        "drumsticks",
        "drumstick",
        "moringa",
        "सहजन",
        "मुनगा",
        "sahjan",
        "sahijan",
        "saijan",
        "munga",
        "shevga",
        "ನುಗ್ಗೆಕಾಯಿ",
        "ನುಗ್ಗೆ",
        "nuggekai",
        "nugge",
    ],
    &["bitter", "करेला", "karela", "karella", "karela", "ಹಾಗಲಕಾಯಿ", "hagalakai"],
    &["gourd", "लौकी", "lauki", "ghiya", "dudhi", "करेला", "karela"],
    &["cucumber", "खीरा", "kheera", "khira", "ककड़ी", "kakdi", "ಸೌತೆಕಾಯಿ", "southekai", "sautekai"],
    &["radish", "मूली", "mooli", "muli", "ಮೂಲಂಗಿ", "moolangi", "mullangi"],
    &[
        "coriander",
        "cilantro",
        "धनिया",
        "dhania",
        "dhaniya",
        "dhaniaa",
        "kothmir",
        "kothimbir",
        "ಕೊತ್ತಂಬರಿ",
        "kothambari",
        "kottambari",
    ],
    // Fruits
    &["mangoes", "mango", "आम", "aam", "ಮಾವು", "ಮಾವಿನಹಣ್ಣು", "maavu", "mavu", "mavinahannu"],
    &["bananas", "banana", "केला", "केले", "kela", "kele", "ಬಾಳೆಹಣ್ಣು", "ಬಾಳೆ", "balehannu", "bale"],
    &["papaya", "पपीता", "papita", "papeeta", "ಪಪ್ಪಾಯಿ", "pappayi"],
    &["guava", "अमरूद", "amrood", "amrud", "amarud", "ಸೀಬೆಹಣ್ಣು", "ಸೀಬೆ", "seebe", "sibe"],
    &["pomegranate", "अनार", "anar", "anaar", "ದಾಳಿಂಬೆ", "dalimbe", "daalimbe"],
    &["sapota", "sapodilla", "चीकू", "chikoo", "chiku", "cheeku", "ಸಪೋಟ", "sapota"],
    &["grapes", "grape", "अंगूर", "angoor", "angur", "ದ್ರಾಕ್ಷಿ", "drakshi"],
    &["jackfruit", "कटहल", "kathal", "katahal", "kathhal", "ಹಲಸು", "ಹಲಸಿನಹಣ್ಣು", "halasu"],
    &["pineapple", "अनानास", "ananas", "ananaas", "ಅನಾನಸ್"],
    &["watermelon", "तरबूज़", "तरबूज", "tarbooz", "tarbuj", "tarbuz", "tarbooj", "ಕಲ್ಲಂಗಡಿ", "kallangadi"],
    &["oranges", "orange", "संतरा", "नारंगी", "santra", "santara", "narangi", "ಕಿತ್ತಳೆ", "kittale"],
    &["custard", "सीताफल", "शरीफा", "sitaphal", "seetaphal", "sitafal", "sharifa", "ಸೀತಾಫಲ"],
    &["apple", "सेब", "seb", "saib", "ಸೇಬು"],
    &["apple", "custard", "सीताफल", "शरीफा", "sitaphal", "sharifa"],
    // Dairy
    &["milk", "दूध", "doodh", "dudh", "dood", "ಹಾಲು", "haalu", "halu"],
    &["cow", "गाय", "gaay", "gai", "ಹಸು", "hasu"],
    &["buffalo", "भैंस", "bhains", "bhens", "bhainsa", "ಎಮ್ಮೆ", "emme"],
    &["curd", "yogurt", "yoghurt", "दही", "dahi", "dahee", "ಮೊಸರು", "mosaru"],
    &["paneer", "पनीर", "panir", "ಪನೀರ್"],
    &["ghee", "घी", "ghi", "ತುಪ್ಪ", "tuppa"],
    &["butter", "मक्खन", "makhan", "makkhan", "ಬೆಣ್ಣೆ", "benne"],
    &["buttermilk", "छाछ", "मट्ठा", "chaas", "chhaas", "chaach", "chhachh", "mattha", "ಮಜ್ಜಿಗೆ", "majjige"],
    // Grains and pulses
    &["ragi", "नाचनी", "मंडुआ", "रागी", "nachni", "mandua", "ರಾಗಿ"],
    &["rice", "चावल", "chawal", "chaawal", "chaval", "ಅಕ್ಕಿ", "akki"],
    &["masoori", "मसूरी", "masuri", "sona", "सोना"],
    &["jowar", "ज्वार", "jwar", "juwar", "sorghum", "ಜೋಳ", "jola"],
    &["toor", "तूर", "तुअर", "अरहर", "tur", "tuar", "arhar", "ತೊಗರಿ", "togari"],
    &["dal", "दाल", "daal", "ಬೇಳೆ", "bele"],
    &["moong", "मूंग", "मूँग", "mung", "moog", "ಹೆಸರು", "hesaru"],
    &["foxtail", "कंगनी", "kangni", "kakum", "ನವಣೆ", "navane"],
    &["millet", "millets", "मिलेट", "siridhanya", "ಸಿರಿಧಾನ್ಯ"],
    &["wheat", "गेहूं", "गेहूँ", "gehun", "gehu", "gehoon", "ಗೋಧಿ", "godhi"],
    &["flour", "atta", "आटा", "aata", "ಹಿಟ್ಟು", "hittu"],
    &["brown", "भूरा", "भूरे", "bhura", "bhure", "ಕಂದು"],
    // Spices
    &["turmeric", "हल्दी", "haldi", "ಅರಿಶಿನ", "arishina", "arisina"],
    &["pepper", "कालीमिर्च", "kalimirch", "mirch", "मिर्च", "ಮೆಣಸು", "menasu"],
    &["black", "काली", "kali", "kaali", "kala", "काला"],
    &["cardamom", "इलायची", "elaichi", "ilaichi", "elachi", "ಏಲಕ್ಕಿ", "elakki"],
    &["chilli", "chili", "chillies", "मिर्च", "मिर्ची", "mirch", "mirchi", "ಮೆಣಸಿನಕಾಯಿ", "menasinakai"],
    &["capsicum", "mirch", "मिर्च"],
    &["red", "लाल", "lal", "laal", "ಕೆಂಪು"],
    &["cumin", "जीरा", "jeera", "jira", "zeera", "ಜೀರಿಗೆ", "jeerige"],
    &["seeds", "बीज", "beej", "bij"],
    &["cloves", "clove", "लौंग", "laung", "lavang", "ಲವಂಗ", "lavanga"],
    // Eggs and poultry
    &["eggs", "egg", "अंडा", "अंडे", "anda", "ande", "anday", "ಮೊಟ್ಟೆ", "motte"],
    &["country", "desi", "देसी", "देशी", "naati", "nati", "ನಾಟಿ"],
    &["duck", "बत्तख", "batakh", "battakh", "ಬಾತುಕೋಳಿ"],
    &["chicken", "मुर्गा", "मुर्गी", "murga", "murgi", "ಕೋಳಿ", "koli"],
    &["range", "free", "फ्री", "रेंज"],
    // Honey and jaggery
    &["honey", "शहद", "मधु", "shahad", "shehad", "madhu", "ಜೇನು", "ಜೇನುತುಪ್ಪ", "jenu"],
    &["jaggery", "गुड़", "गुड", "gud", "gur", "gudh", "ಬೆಲ್ಲ", "bella"],
    &["forest", "जंगली", "jangli", "jungli", "ಕಾಡು"],
    &["multiflora", "बहुपुष्प"],
    &["palm", "ताड़", "taad", "tad", "ತಾಳೆ"],
    &["powder", "पाउडर", "पिसा", "pisa", "ಪುಡಿ", "pudi"],
    // Bakery
    &["bread", "ब्रेड", "पाव", "pav", "paav", "doubleroti", "ಬ್ರೆಡ್"],
    &["rusk", "टोस्ट", "रस्क", "toast", "ರಸ್ಕ್"],
    &["cookies", "cookie", "biscuit", "biscuits", "बिस्कुट", "biskut", "ಬಿಸ್ಕತ್"],
    &["whole", "साबुत", "sabut"],
    // Oils
    &["oil", "तेल", "tel", "tael", "ಎಣ್ಣೆ", "enne"],
    &["groundnut", "peanut", "मूंगफली", "मूँगफली", "moongphali", "mungfali", "moongfali", "ಕಡಲೆಕಾಯಿ", "kadlekai"],
    &["coconut", "नारियल", "nariyal", "naariyal", "ತೆಂಗಿನಕಾಯಿ", "ಕೊಬ್ಬರಿ", "tengu", "kobbari"],
    &["sesame", "gingelly", "तिल", "til", "ಎಳ್ಳು", "ellu"],
    &["mustard", "सरसों", "sarson", "sarso", "rai", "राई", "ಸಾಸಿವೆ", "sasive"],
    &["cold", "pressed", "कच्ची", "kachi", "kacchi", "ghani", "घानी"],
    // Pickles and preserves
    &["pickle", "pickles", "अचार", "achar", "achaar", "aachar", "ಉಪ್ಪಿನಕಾಯಿ", "uppinakai"],
    &["lemon", "lime", "नींबू", "निम्बू", "nimbu", "nimboo", "neembu", "limbu", "ಲಿಂಬೆ", "nimbe"],
    &["gongura", "गोंगुरा", "अंबाड़ी", "ambadi", "pitwa", "ಪುಂಡಿ", "pundi"],
    &["amla", "आंवला", "आँवला", "awla", "aonla", "avla", "gooseberry", "ನೆಲ್ಲಿಕಾಯಿ", "nellikai"],
    &["murabba", "मुरब्बा", "morabba"],
    // Words of the catalogue's names besides the items
    &["fresh", "ताज़ा", "ताजा", "taaza", "taza", "taja", "ತಾಜಾ"],
    &["organic", "जैविक", "jaivik", "ಸಾವಯವ", "savayava"],
    &["natural", "प्राकृतिक", "prakritik", "ನೈಸರ್ಗಿಕ"],
    &["village", "गाँव", "gaon", "gaanv", "gav", "ಹಳ್ಳಿ", "halli"],
    &["hill", "पहाड़ी", "pahadi", "pahari", "ಬೆಟ್ಟ"],
    &["homegrown", "घरेलू", "gharelu", "ghar"],
    &["farm", "खेत", "khet", "ಹೊಲ"],
];

/// The lookup form of a word: Devanagari without nukta and with candrabindu as anusvara; Latin with doubled
/// vowels single (`ee` = `i`, `oo` = `u`), `z` as `j`, `w` as `v`, `ph` as `f`, no `h` after a consonant, and
/// no letter twice in a row.
pub fn key(word: &str) -> String {
    if search::is_indic_word(word) {
        return word
            .chars()
            .filter(|c| *c != '\u{093C}')
            .map(|c| if c == '\u{0901}' { '\u{0902}' } else { c })
            .collect();
    }
    let spelled = word.replace("ee", "i").replace("oo", "u").replace("ph", "f").replace('z', "j").replace('w', "v");
    let mut out = String::with_capacity(spelled.len());
    let mut previous: Option<char> = None;
    for c in spelled.chars() {
        let after_consonant = previous.is_some_and(|p| p.is_ascii_alphabetic() && !"aeiou".contains(p));
        if (c == 'h' && after_consonant) || previous == Some(c) {
            continue;
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

static BY_KEY: LazyLock<HashMap<String, Vec<usize>>> = LazyLock::new(|| {
    let mut map: HashMap<String, Vec<usize>> = HashMap::new();
    for (group, words) in GROUPS.iter().enumerate() {
        for word in words.iter().flat_map(|w| search::words(w)) {
            let entry = map.entry(key(&word)).or_default();
            if !entry.contains(&group) {
                entry.push(group);
            }
        }
    }
    map
});

/// Every word of every group `term` belongs to (none when it is in no group).
pub fn of(term: &str) -> Vec<&'static str> {
    BY_KEY
        .get(&key(term))
        .map_or_else(Vec::new, |groups| groups.iter().flat_map(|g| GROUPS[*g].iter().copied()).collect())
}

/// What a term accepts: itself and its synonyms, as prefixes, with any alternative that another one prefixes
/// left out (it would add nothing), sorted.
pub fn alternatives(term: &str) -> Vec<String> {
    let mut all: Vec<String> = of(term).iter().flat_map(|w| search::words(w)).collect();
    all.push(term.to_owned());
    all.sort_unstable();
    all.dedup();
    let kept: Vec<String> =
        all.iter().filter(|a| !all.iter().any(|b| b != *a && a.starts_with(b.as_str()))).cloned().collect();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::search::{matches, terms};

    fn alts(q: &str) -> Vec<Vec<String>> {
        terms(q).iter().map(|t| alternatives(t)).collect()
    }

    #[test]
    fn synonyms_find_the_catalogue_words() {
        for q in ["tamatar", "टमाटर", "tamaatar", "ಟೊಮೆಟೊ"] {
            assert!(matches(&alts(q), &["Organic Tomatoes", ""]), "{q}");
        }
        assert!(matches(&alts("pyaaz"), &["Fresh Onions", ""]));
        assert!(matches(&alts("doodh"), &["Cow Milk", ""]));
        assert!(matches(&alts("tomato"), &["देसी टमाटर", ""]), "and back from English to Hindi names");
        assert!(matches(&alts("aam ka achar"), &["Mango Pickle", ""]));
    }

    #[test]
    fn common_romanised_spellings_share_a_key() {
        assert_eq!(key("pyaaz"), key("pyaj"));
        assert_eq!(key("doodh"), key("dudh"));
        assert_eq!(key("bhindee"), key("bhindi"));
        assert_eq!(key("प्याज़"), key("प्याज"));
        assert_eq!(key("गाँव"), key("गांव"));
    }

    #[test]
    fn a_term_in_several_groups_accepts_the_words_of_each() {
        let gobhi = of("gobhi");
        assert!(gobhi.contains(&"cabbage") && gobhi.contains(&"cauliflower"));
        assert!(of("pyaaz").contains(&"onions"));
        assert!(of("zzzz").is_empty());
    }
}
