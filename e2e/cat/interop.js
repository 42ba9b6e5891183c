// Drives @eyevinn/cat, an independent CTA-5007 implementation, for
// edgecache's interop tests (e2e/cat_interop_test.go):
//
//   node interop.js COMMAND 'JSON'
//
// prints one JSON object. Commands: mint-mac, mint-es256, validate-mac,
// verify-es256, http (HttpValidator: validation and renewal as a CDN
// would run it).
'use strict';
const { CAT, CommonAccessToken, HttpValidator } = require('@eyevinn/cat');

const hex = (s) => Buffer.from(s, 'hex');

async function main() {
  const [cmd, arg] = process.argv.slice(2);
  const a = JSON.parse(arg || '{}');
  switch (cmd) {
    case 'mint-mac': {
      // cwtTag: true writes tag 61 around a tagged COSE_Mac0 with a
      // bstr payload; false is the library's default encoding.
      const g = new CAT({ keys: { [a.kid]: hex(a.key) }, expectCwtTag: !!a.cwtTag });
      const token = await g.generateFromJson(a.claims, { type: 'mac', alg: 'HS256', kid: a.kid });
      return { token };
    }
    case 'mint-es256': {
      const cat = new CommonAccessToken(a.claims);
      await cat.sign({ d: hex(a.d), kid: a.kid }, 'ES256');
      return { token: Buffer.from(cat.raw).toString('base64url') };
    }
    case 'validate-mac': {
      const keys = {};
      for (const [kid, k] of Object.entries(a.keys)) keys[kid] = hex(k);
      const v = new CAT({ keys, expectCwtTag: true });
      try {
        const r = await v.validate(a.token, 'mac', { issuer: a.issuer, url: a.url ? new URL(a.url) : undefined });
        return { ok: !r.error, error: r.error && r.error.message, claims: r.cat && r.cat.claims, kid: r.cat && r.cat.keyId };
      } catch (e) {
        return { ok: false, error: e.message };
      }
    }
    case 'verify-es256': {
      const cat = new CommonAccessToken({});
      try {
        await cat.verify(Buffer.from(a.token, 'base64url'), { x: hex(a.x), y: hex(a.y) });
        return { ok: true, claims: cat.claims };
      } catch (e) {
        return { ok: false, error: e.message };
      }
    }
    case 'http': {
      const keys = Object.entries(a.keys).map(([kid, k]) => ({ kid, key: hex(k) }));
      const v = new HttpValidator({ keys, issuer: a.issuer, autoRenewEnabled: true });
      const headers = { host: a.host };
      headers['cta-common-access-token'] = a.token;
      const set = {};
      const res = { setHeader: (n, val) => { set[n.toLowerCase()] = val; } };
      try {
        const r = await v.validateHttpRequest({ headers, url: a.path, method: 'GET' }, res);
        return { status: r.status, message: r.message, headers: set };
      } catch (e) {
        return { status: 0, message: e.message, headers: set };
      }
    }
  }
  throw new Error('unknown command ' + cmd);
}

main().then(
  (r) => process.stdout.write(JSON.stringify(r) + '\n'),
  (e) => {
    process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
    process.exit(1);
  }
);
