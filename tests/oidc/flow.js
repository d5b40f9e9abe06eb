// flow.js - a real relying party (the certified openid-client library) against socle's Pro Santé
// Connect: discovery, authorization code with PKCE (S256), state and nonce, the e-CPS login form
// driven over HTTP, the code exchange with ID token validation, userinfo, refresh, revocation and
// the RP-initiated logout URL. Run by tests/integration/test_psc.py:
//
//   node flow.js CONFIG_JSON
//
// CONFIG_JSON: {"issuer": URL, "client": {"client_id", "client_secret"?, "method", "alg",
//   "redirect_uri", "logout_uri", "private_jwk"?}, "idnps": IDNPS, "totp_secret": BASE32}
// Prints one JSON line of what it saw; exits 1 with the error on any failure.
'use strict';

const crypto = require('crypto');
const { Issuer, generators, custom } = require('openid-client');

custom.setHttpOptionsDefaults({ timeout: 20000 });

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP: SHA-1, 6 digits, 30 s.
function totp(secret, now = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 1000 / 30)));
  const h = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const o = h[h.length - 1] & 15;
  const v = ((h[o] & 127) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(v % 1000000).padStart(6, '0');
}

async function login(authUrl, idnps, code) {
  // The login page carries the signed request; post it back with the e-CPS code.
  const page = await fetch(authUrl, { redirect: 'manual' });
  if (page.status !== 200) throw new Error('authorization page: HTTP ' + page.status);
  const html = await page.text();
  const m = html.match(/name="request" value="([^"]+)"/);
  if (!m) throw new Error('no login form in the authorization page');
  const form = new URLSearchParams({ request: m[1].replace(/&amp;/g, '&'), idnps, otp: code });
  const action = new URL('/oidc/login', authUrl);
  const r = await fetch(action, { method: 'POST', body: form, redirect: 'manual' });
  if (r.status !== 302) throw new Error('login: HTTP ' + r.status + ' ' + (await r.text()).slice(0, 300));
  return r.headers.get('location');
}

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const issuer = await Issuer.discover(cfg.issuer);
  const c = cfg.client;
  const metadata = {
    client_id: c.client_id,
    redirect_uris: [c.redirect_uri],
    post_logout_redirect_uris: [c.logout_uri],
    response_types: ['code'],
    id_token_signed_response_alg: c.alg,
    token_endpoint_auth_method: c.method,
  };
  if (c.client_secret) metadata.client_secret = c.client_secret;
  const keystore = c.private_jwk ? { keys: [c.private_jwk] } : undefined;
  if (c.private_jwk) metadata.token_endpoint_auth_signing_alg = c.private_jwk.kty === 'RSA' ? 'RS256' : 'ES256';
  const client = new issuer.Client(metadata, keystore);

  const verifier = generators.codeVerifier();
  const state = generators.state();
  const nonce = generators.nonce();
  const authUrl = client.authorizationUrl({
    scope: 'openid scope_all',
    code_challenge: generators.codeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    acr_values: 'eidas1',
  });
  const location = await login(authUrl, cfg.idnps, totp(cfg.totp_secret));
  const params = client.callbackParams(location);
  const tokens = await client.callback(c.redirect_uri, params, { code_verifier: verifier, state, nonce });
  const idClaims = tokens.claims();
  const info = await client.userinfo(tokens);
  const fhir = await fetch(new URL('/fhir/Practitioner/' + cfg.idnps, cfg.issuer), {
    headers: { Authorization: 'Bearer ' + tokens.access_token },
  });
  const refreshed = await client.refresh(tokens);
  // The old refresh token was rotated: using it again must fail (and revokes the family).
  let reuse = 'accepted';
  try {
    await client.refresh(tokens.refresh_token);
  } catch (e) {
    reuse = e.error || e.message;
  }
  let afterReuse = 'accepted';
  try {
    await client.refresh(refreshed.refresh_token);
  } catch (e) {
    afterReuse = e.error || e.message;
  }
  const logoutUrl = client.endSessionUrl({
    id_token_hint: refreshed.id_token,
    post_logout_redirect_uri: c.logout_uri,
    state: 'bye',
  });
  const logout = await fetch(logoutUrl, { redirect: 'manual' });
  console.log(JSON.stringify({
    sub: idClaims.sub,
    acr: idClaims.acr,
    amr: idClaims.amr,
    nonce_ok: idClaims.nonce === nonce,
    id_token_alg: JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg,
    userinfo_sub: info.sub,
    userinfo_exercices: (info.SubjectRefPro && info.SubjectRefPro.exercices || []).length,
    fhir_status: fhir.status,
    refreshed_sub: refreshed.claims().sub,
    refresh_reuse: reuse,
    refresh_after_reuse: afterReuse,
    logout_status: logout.status,
    logout_location: logout.headers.get('location'),
  }));
}

main().catch((e) => {
  console.error(e && (e.stack || e.message) || String(e));
  if (e && e.response && e.response.body) console.error(JSON.stringify(e.response.body));
  process.exit(1);
});
