// server.js - the baseline of bench/psc.sh: npm oidc-provider (the reference Node implementation)
// configured as socle's Pro Santé Connect is: one client with client_secret_basic, ES256 ID tokens,
// PKCE S256 required, refresh tokens rotated. It mints the codes, refresh tokens and an access token
// the benchmark spends (the login itself is not measured, as on the socle side), writes them to
// OUT_DIR, then serves on PORT.
//
//   PORT=18090 OUT_DIR=/tmp/x CODES=150000 REFRESH=256 node server.js
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 18090);
const out = process.env.OUT_DIR || '.';
const issuer = `http://127.0.0.1:${port}/oidc`;

// An adapter that keeps everything (the default in-memory one is an LRU of 1000 entries, which
// would drop the minted codes): a Map per model, with expiry.
const stores = new Map();
class MapAdapter {
  constructor(name) {
    this.name = name;
    if (!stores.has(name)) stores.set(name, new Map());
    this.m = stores.get(name);
  }
  async upsert(id, payload, expiresIn) {
    this.m.set(id, { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
  }
  async find(id) {
    const e = this.m.get(id);
    if (!e || (e.exp && e.exp < Date.now())) return undefined;
    return e.payload;
  }
  async findByUserCode() { return undefined; }
  async findByUid() { return undefined; }
  async consume(id) {
    const e = this.m.get(id);
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { this.m.delete(id); }
  async revokeByGrantId(grantId) {
    for (const [k, v] of this.m) if (v.payload.grantId === grantId) this.m.delete(k);
  }
}

const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = privateKey.export({ format: 'jwk' });
jwk.kid = 'bench';
jwk.alg = 'ES256';
jwk.use = 'sig';

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret-0123456789abcdefghijklmnop',
    redirect_uris: ['http://127.0.0.1:9/cb/bench'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, preferred_username: sub, given_name: 'JEAN', family_name: 'BENCH' }),
  }),
  claims: { openid: ['sub', 'preferred_username', 'given_name', 'family_name'] },
  pkce: { methods: ['S256'], required: () => true },
  rotateRefreshToken: true,
  issueRefreshToken: async () => true,
  features: { devInteractions: { enabled: false }, userinfo: { enabled: true }, revocation: { enabled: true } },
  routes: { authorization: '/auth', userinfo: '/userinfo', revocation: '/revoke', jwks: '/certs', end_session: '/logout' },
  ttl: { AccessToken: 600, AuthorizationCode: 3600, IdToken: 600, RefreshToken: 43200, Grant: 43200 },
});

// Mint what the benchmark spends.
const verifier = 'bench-verifier-0123456789abcdefghijklmnopqrstuvwxyz';
const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
const client = await provider.Client.find('bench');
const grant = new provider.Grant({ accountId: '810000000001', clientId: 'bench' });
grant.addOIDCScope('openid');
const grantId = await grant.save();
const codes = [];
for (let i = 0; i < Number(process.env.CODES || 1000); i++) {
  const code = new provider.AuthorizationCode({
    accountId: '810000000001', grantId, client, redirectUri: 'http://127.0.0.1:9/cb/bench', scope: 'openid',
    codeChallenge: challenge, codeChallengeMethod: 'S256', authTime: Math.floor(Date.now() / 1000),
  });
  codes.push(await code.save());
}
fs.writeFileSync(`${out}/codes.txt`, codes.join('\n') + '\n');
const refresh = [];
for (let i = 0; i < Number(process.env.REFRESH || 256); i++) {
  const rt = new provider.RefreshToken({ accountId: '810000000001', grantId, client, scope: 'openid', authTime: Math.floor(Date.now() / 1000), gty: 'authorization_code' });
  refresh.push(await rt.save());
}
fs.writeFileSync(`${out}/refresh.txt`, refresh.join('\n') + '\n');
const at = new provider.AccessToken({ accountId: '810000000001', grantId, client, scope: 'openid' });
fs.writeFileSync(`${out}/access.txt`, (await at.save()) + '\n');
fs.writeFileSync(`${out}/verifier.txt`, verifier + '\n');

// The same paths as socle: mount the provider under /oidc.
import http from 'node:http';
const callback = provider.callback();
http.createServer((req, res) => {
  if (req.url.startsWith('/oidc')) {
    req.url = req.url.slice(5) || '/';
    return callback(req, res);
  }
  res.statusCode = 404;
  res.end();
}).listen(port, '127.0.0.1', () => console.log(`oidc-provider on ${issuer}`));
