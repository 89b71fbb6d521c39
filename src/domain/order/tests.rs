use super::*;
use crate::domain::CategorySlug;

#[test]
fn comparing_with_a_position_agrees_with_comparing_the_products_for_every_sort() {
    let products: Vec<Product> = (1..=300).map(product_with_ties).collect();
    for sort in Sort::ALL {
        for pivot in products.iter().step_by(37) {
            let position = sort.position_of(pivot);
            for p in &products {
                assert_eq!(
                    sort.compare_with_position(p, &position).is_gt(),
                    sort.compare(p, pivot).is_gt(),
                    "{sort} {} vs {}",
                    p.id,
                    pivot.id
                );
                assert_eq!(sort.compare_with_position(p, &position), sort.compare(p, pivot), "{sort} {}", p.id);
            }
        }
    }
}

#[test]
fn ties_on_the_column_are_broken_by_id_in_the_sort_direction() {
    let (a, b) = (product_with_ties(1), product_with_ties(1 + 3 * 5 * 7));
    for sort in Sort::ALL {
        let want = if sort.descending { Ordering::Greater } else { Ordering::Less };
        assert_eq!(sort.compare(&a, &b), want, "{sort}");
    }
}

#[test]
fn a_position_of_another_column_comes_before_every_product() {
    let products: Vec<Product> = (1..=30).map(product_with_ties).collect();
    for sort in Sort::ALL {
        let other = Sort::ALL.into_iter().find(|s| s.field != sort.field).unwrap_or(Sort::DEFAULT);
        let position = other.position_of(&products[10]);
        for p in &products {
            assert_eq!(sort.compare_with_position(p, &position), Ordering::Greater, "{sort} after {other}");
        }
    }
}

/// Product `n`, with few distinct prices, names and times so that every sort has ties.
fn product_with_ties(n: u64) -> Product {
    let at = chrono::DateTime::from_timestamp(1_700_000_000 + (n % 7) as i64 * 60, 0).expect("valid time");
    Product {
        id: ProductId::new(n).expect("positive id"),
        name: ["Ragi", "Okra", "Curd"][(n % 3) as usize].to_owned(),
        description: String::new(),
        category: CategorySlug::parse("grains").expect("valid slug"),
        price: Money::from_paise((n % 5) * 100).expect("valid price"),
        unit: "kg".to_owned(),
        stock: 1,
        producer_id: 1,
        created_at: at,
        updated_at: at,
        price_effective_at: at,
    }
}
