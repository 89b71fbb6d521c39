// Typed walk through the FarmLokal API with the generated client. Run: FARMLOKAL_URL=http://127.0.0.1:8080 npm run example
// Exits 1 with a message on the first unexpected answer.
import {
  asProblem,
  createFarmLokalClient,
  type DeliveryEstimate,
  type FarmLokalClient,
  type Problem,
  type ProblemCode,
  type Product,
  type SortOrder,
} from "./client.js";

const CATEGORY = "vegetables";
const SORT: SortOrder = "price"; // must be one of the generated SortOrder values
const LIMIT = 50;
const MAX_PAGES = 5;
const PINCODE = "560001";

// Compile-time guard: if the spec ever loosened `sort` to a plain string, this directive would be unused and
// `npm run typecheck` would fail.
export function sortMustBeAnEnum(): SortOrder {
  // @ts-expect-error "cheapest" is not a generated SortOrder value
  const bad: SortOrder = "cheapest";
  return bad;
}

class Unexpected extends Error {}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Unexpected(message);
}

function describe(response: Response, error: unknown): string {
  return `HTTP ${response.status} ${response.headers.get("content-type") ?? "(no content type)"}: ${JSON.stringify(error)}`;
}

let client: FarmLokalClient; // created in main(), so a missing FARMLOKAL_URL is reported like any failure

async function walkProducts(): Promise<{ products: Product[]; pages: number; complete: boolean }> {
  const products: Product[] = [];
  const seen = new Set<number>();
  let cursor: string | undefined;
  let pages = 0;
  while (pages < MAX_PAGES) {
    const { data, error, response } = await client.GET("/products", {
      params: {
        query: { category: CATEGORY, sort: SORT, limit: LIMIT, ...(cursor === undefined ? {} : { cursor }) },
      },
    });
    check(data !== undefined, `GET /products page ${pages + 1}: ${describe(response, error)}`);
    pages += 1;
    check(data.data.length <= LIMIT, `page ${pages} has ${data.data.length} items, more than limit ${LIMIT}`);
    for (const product of data.data) {
      check(product.category === CATEGORY, `product ${product.id} has category ${product.category}, not ${CATEGORY}`);
      check(!seen.has(product.id), `product ${product.id} appears twice (page ${pages})`);
      seen.add(product.id);
      const previous = products.at(-1);
      if (previous !== undefined) {
        check(
          previous.price_paise < product.price_paise ||
            (previous.price_paise === product.price_paise && previous.id < product.id),
          `order broken on page ${pages}: id ${previous.id} (${previous.price_paise} paise) before ` +
            `id ${product.id} (${product.price_paise} paise); expected price ascending, ties by id ascending`,
        );
      }
      products.push(product);
    }
    const next = data.next_cursor ?? undefined;
    check(data.has_more === (next !== undefined), `page ${pages}: has_more=${data.has_more} but next_cursor=${String(data.next_cursor)}`);
    check(data.has_more === response.headers.has("link"), `page ${pages}: has_more=${data.has_more} disagrees with the Link header`);
    if (next === undefined) return { products, pages, complete: true };
    cursor = next;
  }
  return { products, pages, complete: false };
}

async function getOne(id: number): Promise<Product> {
  const { data, error, response } = await client.GET("/products/{id}", { params: { path: { id } } });
  check(data !== undefined, `GET /products/${id}: ${describe(response, error)}`);
  check(data.id === id, `GET /products/${id} returned product ${data.id}`);
  return data;
}

async function estimate(): Promise<DeliveryEstimate> {
  // The built-in partner sandbox fails now and then; with no earlier answer to fall back on the service says
  // 503 partner_unavailable. Retry that a few times; anything else is unexpected.
  for (let attempt = 1; ; attempt++) {
    const { data, error, response } = await client.GET("/delivery/estimate", { params: { query: { pincode: PINCODE } } });
    if (data !== undefined) {
      check(data.pincode === PINCODE, `estimate is for ${data.pincode}, not ${PINCODE}`);
      check(data.source === "live" || data.source === "stale", `unexpected source ${String(data.source)}`);
      return data;
    }
    const problem = asProblem(error, response);
    const retryable = response.status === 503 && problem?.code === "partner_unavailable" && attempt < 4;
    check(retryable, `GET /delivery/estimate?pincode=${PINCODE}: ${describe(response, error)}`);
    const retryAfter = Math.min(Number(response.headers.get("retry-after") ?? "1") || 1, 3);
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
  }
}

/** Expects a problem+json answer with this status and code; returns the typed Problem. */
function expectProblem(
  what: string,
  result: { data?: unknown; error?: unknown; response: Response },
  status: number,
  code: ProblemCode,
): Problem {
  const { data, error, response } = result;
  check(data === undefined, `${what}: expected ${status} ${code}, got success ${JSON.stringify(data)}`);
  const problem = asProblem(error, response);
  check(problem !== undefined, `${what}: expected an application/problem+json body, got ${describe(response, error)}`);
  check(
    problem.status === status && problem.code === code,
    `${what}: expected ${status} ${code}, got ${problem.status} ${problem.code} (${problem.detail})`,
  );
  return problem;
}

async function main(): Promise<void> {
  client = createFarmLokalClient();
  const walk = await walkProducts();
  check(walk.products.length > 0, `GET /products?category=${CATEGORY} returned no products`);
  const first = walk.products[0]!;
  const last = walk.products.at(-1)!;
  console.log(
    `products: ${walk.products.length} ${CATEGORY} in ${walk.pages} page(s) of ${LIMIT}` +
      `${walk.complete ? " (all)" : ` (stopped after ${MAX_PAGES})`}, sort=${SORT}, ` +
      `price ${first.price_paise}..${last.price_paise} paise, ordered, no duplicate ids`,
  );

  const middle = walk.products[Math.floor(walk.products.length / 2)]!;
  const product = await getOne(middle.id);
  console.log(`product: #${product.id} ${product.name}, ${product.price_paise} paise/${product.unit}, stock ${product.stock}`);

  const eta = await estimate();
  console.log(
    `delivery ${eta.pincode}: serviceable=${eta.serviceable} eta=${eta.eta_minutes}min fee=${eta.fee_paise} paise source=${eta.source}`,
  );

  const tooBig = expectProblem(
    "GET /products?limit=101",
    await client.GET("/products", { params: { query: { limit: 101 } } }),
    400,
    "invalid_query",
  );
  console.log(`limit=101: ${tooBig.status} ${tooBig.code} (${tooBig.detail})`);

  const badPin = expectProblem(
    "GET /delivery/estimate?pincode=012345",
    await client.GET("/delivery/estimate", { params: { query: { pincode: "012345" } } }),
    400,
    "invalid_query",
  );
  console.log(`pincode=012345: ${badPin.status} ${badPin.code} (${badPin.detail})`);

  const missing = expectProblem(
    "GET /products/999999999",
    await client.GET("/products/{id}", { params: { path: { id: 999_999_999 } } }),
    404,
    "not_found",
  );
  console.log(`product 999999999: ${missing.status} ${missing.code}`);
  console.log("typescript client example: OK");
}

main().catch((err: unknown) => {
  if (err instanceof Unexpected) {
    console.error(`typescript client example FAILED: ${err.message}`);
  } else if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    console.error(`typescript client example FAILED: ${err.message}${cause}`);
  } else {
    console.error("typescript client example FAILED:", err);
  }
  process.exit(1);
});
