// An OPDS 2 app's walk with Readium's OPDS model (r2-opds-js, what Thorium uses), for
// tests/reader/test_opds_apps.py: shelf -> 401 + authentication document -> password grant ->
// shelf feed -> publication -> manifest -> every link. Prints one JSON line.
// usage: node opds_app_walker.js <base url> <username> <password>
"use strict";
const { initGlobalConverters_OPDS } = require("r2-opds-js/dist/es8-es2017/src/opds/init-globals");
const { initGlobalConverters_GENERIC } = require("r2-shared-js/dist/es8-es2017/src/init-globals");
const { OPDSFeed } = require("r2-opds-js/dist/es8-es2017/src/opds/opds2/opds2");
const { OPDSAuthenticationDoc } = require("r2-opds-js/dist/es8-es2017/src/opds/opds2/opds2-authentication-doc");
const { TaJsonDeserialize } = require("r2-lcp-js/dist/es8-es2017/src/serializable");

initGlobalConverters_OPDS();
initGlobalConverters_GENERIC();

async function main() {
  const [base, username, password] = process.argv.slice(2);
  const first = await fetch(`${base}/opds/shelf`);
  if (first.status !== 401) throw new Error(`expected 401, got ${first.status}`);
  if (!first.headers.get("content-type").startsWith("application/opds-authentication+json")) {
    throw new Error("the 401 does not carry the authentication document");
  }
  const doc = TaJsonDeserialize(await first.json(), OPDSAuthenticationDoc);
  const flow = doc.Authentication.find((a) => a.Type === "http://opds-spec.org/auth/oauth/password");
  const authenticate = flow.Links.find((l) => (l.Rel || []).includes("authenticate")).Href;
  const grant = await fetch(authenticate, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "password", username, password, client_id: "r2-opds-js" }),
  });
  const { access_token: token } = await grant.json();
  const auth = { Authorization: `Bearer ${token}` };
  const feed = TaJsonDeserialize(await (await fetch(`${base}/opds/shelf`, { headers: auth })).json(), OPDSFeed);
  const fetched = {};
  for (const publication of feed.Publications) {
    const acquisition = publication.Links.find((l) => l.TypeLink === "application/audiobook+json");
    const manifest = await (await fetch(acquisition.Href, { headers: auth })).json();
    const links = [...manifest.readingOrder, ...manifest.toc, ...(manifest.resources || []),
      ...manifest.links.filter((l) => l.rel !== "self")];
    for (const link of links) {
      fetched[link.href] = (await fetch(link.href)).status;  // a player: no credentials
    }
  }
  console.log(JSON.stringify({
    auth_types: doc.Authentication.map((a) => a.Type),
    titles: feed.Publications.map((p) => p.Metadata.Title),
    fetched,
  }));
}

main().catch((err) => { console.error(err.stack || String(err)); process.exit(1); });
