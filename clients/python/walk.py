"""Uses the client openapi-python-client generated (package `farmlokal_client`) the way a Python team would.

Walks every page of the listing and of a filtered listing (each product exactly once, the filtered walk equal to
the products of the full walk that match), and checks that the typed models parse: `Problem` on a 400 and a 404,
`DeliveryEstimate`, `Readiness`, `CategoryList`, and that the sort orders have names. Prints one PASS or FAIL line
per check and exits 1 when any failed.

Usage: FARMLOKAL_URL=http://127.0.0.1:8080 python walk.py   (with the generated package on PYTHONPATH)
"""

import datetime
import os
import re
import sys
import traceback

URL = os.environ.get("FARMLOKAL_URL", "http://127.0.0.1:8080")
PAGE = 100
CODINGS_SEEN = set()  # Content-Encoding of the pages (httpx offers gzip, deflate, br and zstd)


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def client():
    from farmlokal_client import Client

    return Client(base_url=URL, raise_on_unexpected_status=True)


def sort_member(value):
    """The generated SortOrder member for a wire value, e.g. "-price"."""
    from farmlokal_client.models.sort_order import SortOrder

    return SortOrder(value)


def walk(**filters):
    """Every product of a listing, page by page along next_cursor, with the number of pages."""
    from farmlokal_client.api.catalogue import list_products
    from farmlokal_client.models.product_page import ProductPage

    products, cursor, pages = [], None, 0
    while True:
        extra = {"cursor": cursor} if cursor is not None else {}
        answer = list_products.sync_detailed(client=client(), limit=PAGE, **filters, **extra)
        CODINGS_SEEN.add(answer.headers.get("content-encoding", "identity"))
        expect(answer.status_code == 200, f"page {pages + 1} answered {answer.status_code}: {answer.content[:200]!r}")
        page = answer.parsed
        expect(isinstance(page, ProductPage), f"page {pages + 1} did not parse as ProductPage: {page!r}")
        pages += 1
        products.extend(page.data)
        next_cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
        expect(
            page.has_more == (next_cursor is not None),
            f"page {pages}: has_more={page.has_more} but next_cursor={next_cursor!r}",
        )
        if next_cursor is None:
            return products, pages
        expect(len(page.data) == PAGE, f"page {pages} has {len(page.data)} products but a next page")
        cursor = next_cursor


def categories():
    from farmlokal_client.api.catalogue import list_categories
    from farmlokal_client.models.category_list import CategoryList

    listed = list_categories.sync(client=client())
    expect(isinstance(listed, CategoryList), f"GET /categories did not parse as CategoryList: {listed!r}")
    return listed.data


def check_sort_names():
    from farmlokal_client.models.sort_order import SortOrder

    names = {member.value: member.name for member in SortOrder}
    expect(
        set(names) == {"-created_at", "created_at", "price", "-price", "name", "-name"},
        f"SortOrder values are {sorted(names)}",
    )
    for value, name in names.items():
        field = value.lstrip("-").upper()
        expect(
            not re.fullmatch(r"VALUE_\d+", name) and field in name,
            f"SortOrder member for {value!r} is named {name} (expected a name saying {field}; give the enum "
            "x-enum-varnames in the spec)",
        )
    return ", ".join(f"{name}={value!r}" for value, name in names.items())


ALL_PRODUCTS = []


def check_full_walk():
    from farmlokal_client.models.product_dto import ProductDto

    products, pages = walk()
    ids = [product.id for product in products]
    expect(len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} products appeared more than once")
    total = sum(category.product_count for category in categories())
    expect(len(ids) == total, f"walked {len(ids)} products, GET /categories counts {total}")
    for product in products:
        expect(isinstance(product, ProductDto), f"a product did not parse: {product!r}")
        expect(isinstance(product.created_at, datetime.datetime), f"created_at of {product.id} is not a datetime")
    newest_first = [(p.created_at, p.id) for p in products]
    expect(newest_first == sorted(newest_first, reverse=True), "the default order is not newest first")
    ALL_PRODUCTS.extend(products)
    return f"{len(ids)} products once each in {pages} pages of {PAGE}, sent as {', '.join(sorted(CODINGS_SEEN))}"


def check_filtered_walk():
    expect(ALL_PRODUCTS, "needs the full walk, which failed")
    category = max(categories(), key=lambda c: c.product_count).slug
    prices = sorted(p.price_paise for p in ALL_PRODUCTS if p.category == category)
    low, high = prices[len(prices) // 4], prices[3 * len(prices) // 4]
    products, pages = walk(category=category, min_price=low, max_price=high, sort=sort_member("-price"))
    ids = [product.id for product in products]
    expect(len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} products appeared more than once")
    expected = {p.id for p in ALL_PRODUCTS if p.category == category and low <= p.price_paise <= high}
    expect(set(ids) == expected, f"walked {len(ids)} products, {len(expected)} of the full walk match the filter")
    order = [(p.price_paise, p.id) for p in products]
    expect(order == sorted(order, reverse=True), "not in descending price order")
    return f"category={category} price {low}..{high} sort=-price: {len(ids)} products once each in {pages} pages"


def check_problems():
    from farmlokal_client.api.catalogue import get_product, list_products
    from farmlokal_client.models.problem import Problem
    from farmlokal_client.models.problem_code import ProblemCode

    seen = []
    for answer, status, code in [
        (list_products.sync_detailed(client=client(), limit=0), 400, ProblemCode.INVALID_QUERY),
        (list_products.sync_detailed(client=client(), cursor="not-a-cursor"), 400, ProblemCode.INVALID_CURSOR),
        (get_product.sync_detailed(9_000_000_000, client=client()), 404, ProblemCode.NOT_FOUND),
    ]:
        problem = answer.parsed
        expect(answer.status_code == status, f"answered {answer.status_code}, expected {status}")
        expect(isinstance(problem, Problem), f"a {status} did not parse as Problem: {problem!r}")
        expect(
            problem.code == code and problem.status == status,
            f"expected {code}/{status}, got {problem.code}/{problem.status}",
        )
        seen.append(f"{status} {problem.code.value}")
    return ", ".join(seen)


def check_estimate():
    from farmlokal_client.api.delivery import get_delivery_estimate
    from farmlokal_client.models.delivery_estimate import DeliveryEstimate
    from farmlokal_client.models.source import Source

    estimate = get_delivery_estimate.sync(client=client(), pincode="560001")
    expect(isinstance(estimate, DeliveryEstimate), f"did not parse as DeliveryEstimate: {estimate!r}")
    expect(isinstance(estimate.source, Source), f"source is {estimate.source!r}, not a Source")
    expect(isinstance(estimate.as_of, datetime.datetime), "as_of is not a datetime")
    return f"pincode {estimate.pincode}: eta {estimate.eta_minutes} min, source {estimate.source.value}"


def check_readiness():
    from farmlokal_client.api.operations import health_ready
    from farmlokal_client.models.dependency_state import DependencyState
    from farmlokal_client.models.readiness import Readiness

    ready = health_ready.sync(client=client())
    expect(isinstance(ready, Readiness), f"did not parse as Readiness: {ready!r}")
    expect(isinstance(ready.mysql, DependencyState) and isinstance(ready.redis, DependencyState), f"{ready!r}")
    return f"{ready.status}: mysql {ready.mysql.value}, redis {ready.redis.value}"


CHECKS = [
    ("sort orders have names", check_sort_names),
    ("walk every page of GET /products", check_full_walk),
    ("walk every page of a filtered listing", check_filtered_walk),
    ("errors parse as Problem", check_problems),
    ("GET /delivery/estimate parses as DeliveryEstimate", check_estimate),
    ("GET /health/ready parses as Readiness", check_readiness),
]


def main():
    failed = 0
    for title, check in CHECKS:
        try:
            print(f"PASS python client: {title}: {check()}")
        except CheckFailed as error:
            failed += 1
            print(f"FAIL python client: {title}: {error}")
        except ImportError as error:
            failed += 1
            print(f"FAIL python client: {title}: the generated client lacks it ({error})")
        except Exception:  # noqa: BLE001 - report every check, whatever the error
            failed += 1
            print(f"FAIL python client: {title}: {traceback.format_exc().strip().splitlines()[-1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
