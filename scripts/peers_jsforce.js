#!/usr/bin/env node
// jsforce against the sfbackup emulator: REST query (one page, then autoFetch across pages) and
// Bulk API 2.0 bulk2.query on a result that fits one page (User; jsforce's multi-page bulk2 results
// are broken upstream, issues #1546/#1693 -- the emulator must not "fix" that).
//   NODE_PATH=... SF_LOCAL_URL=http://127.0.0.1:PORT SF_ACCESS_TOKEN=... node peers_jsforce.js
const jsforce = require('jsforce');

const instanceUrl = process.env.SF_LOCAL_URL;
const accessToken = process.env.SF_ACCESS_TOKEN;
if (!instanceUrl || !accessToken) { console.error('set SF_LOCAL_URL and SF_ACCESS_TOKEN'); process.exit(2); }
const version = process.env.SF_API_VERSION || '62.0';

(async () => {
  const conn = new jsforce.Connection({ instanceUrl, accessToken, version });
  const count = await conn.query('SELECT COUNT() FROM Contact');
  const first = await conn.query('SELECT Id, Name FROM Contact');
  console.log(`query: totalSize=${first.totalSize} done=${first.done} page1=${first.records.length}`);
  const all = await conn.query('SELECT Id, Name FROM Contact', { autoFetch: true, maxFetch: 1000000 });
  if (all.records.length !== count.totalSize) throw new Error(`autoFetch got ${all.records.length} of ${count.totalSize}`);
  console.log(`query autoFetch: ${all.records.length} records (COUNT() says ${count.totalSize})`);
  const accounts = await conn.query('SELECT COUNT() FROM User');
  const recs = await conn.bulk2.query('SELECT Id, Username FROM User', { pollInterval: 500, pollTimeout: 120000 });
  const rows = [];
  await new Promise((resolve, reject) => {
    recs.on('record', (r) => rows.push(r));
    recs.on('error', reject);
    recs.on('end', resolve);
  });
  if (rows.length !== accounts.totalSize) throw new Error(`bulk2 got ${rows.length} of ${accounts.totalSize}`);
  console.log(`bulk2.query: ${rows.length} records`);
})().catch((e) => { console.error('FAILED', e); process.exit(1); });
