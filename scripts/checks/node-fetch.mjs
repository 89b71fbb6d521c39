// Node's built-in fetch against a listing (run by 46-http-clients.sh): asked for br, zstd or gzip, the answer is in
// that coding, fetch decodes it to the identity page, and its ETag sent back as If-None-Match gives 304 with no
// body. zstd is skipped, and said so, on a Node whose zlib has no zstd (fetch cannot decode it there).
// Environment: FARMLOKAL_URL. Prints one PASS/FAIL/SKIP line per coding; exits 1 when any failed.
import zlib from "node:zlib";

const listing = `${process.env.FARMLOKAL_URL ?? "http://127.0.0.1:8080"}/products?sort=price&limit=50`;
const get = (headers) => fetch(listing, { headers, cache: "no-store" });
let failed = 0;

const identity = await get({ "accept-encoding": "identity" })
  .then((answer) => answer.text())
  .catch((error) => {
    console.log(`FAIL node fetch: ${listing}: ${error.cause?.message ?? error.message}`);
    process.exit(1);
  });
console.log(`node ${process.version}`);
for (const coding of ["br", "zstd", "gzip"]) {
  if (coding === "zstd" && typeof zlib.createZstdDecompress !== "function") {
    console.log(`SKIP node fetch: zstd: node ${process.version} has no zstd in zlib, so fetch cannot decode it`);
    continue;
  }
  const problems = [];
  try {
    const answer = await get({ "accept-encoding": coding });
    const encoding = answer.headers.get("content-encoding");
    const etag = answer.headers.get("etag");
    if (answer.status !== 200) problems.push(`answered ${answer.status}`);
    if (encoding !== coding) problems.push(`Content-Encoding ${encoding ?? "(none)"}`);
    if ((await answer.text()) !== identity) problems.push("the decoded body differs from the identity body");
    if (!etag) problems.push("no ETag");
    else {
      const again = await get({ "accept-encoding": coding, "if-none-match": etag });
      const body = await again.text();
      if (again.status !== 304) problems.push(`If-None-Match ${etag} answered ${again.status}`);
      else if (body !== "") problems.push("the 304 has a body");
    }
  } catch (error) {
    problems.push(error.message);
  }
  if (problems.length) {
    failed += 1;
    console.log(`FAIL node fetch: ${coding}: ${problems.join("; ")}`);
  } else console.log(`PASS node fetch: ${coding}: decoded to the identity page, 304 on revalidation`);
}
process.exit(failed ? 1 : 0);
